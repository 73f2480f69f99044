"""Durable jobs: how fast a backlog drains, and how late a job runs while customers talk.

    .venv/bin/python -m bench.jobs                   # SQLite (a fresh file), 10,000 jobs, 200 customers, 30 s
    .venv/bin/python -m bench.jobs --db postgres     # TEST_POSTGRES_URL's database (TRUNCATEs it!)
    .venv/bin/python -m bench.jobs --jobs 2000 --seconds 10

Wired as bot/app.py wires the service: the core `Dispatcher` (route of handlers/router.py),
an `OutboxSender` (a memory transport, no limits) and a `JobRunner` running its own loop.

1. Drain: `--jobs` jobs already due, run by `JobRunner.run_due()`: first jobs alone (each
   writes an audit line in its transaction), then conversation jobs (each says a reply to one
   of the customers through the core: an action in the conversation's transaction, a
   transcript line and an outbox row, delivered by the sender meanwhile).
2. Lateness: `--customers` customers walk the repair form (open loop, about one message a
   second each, exponential think times) for `--seconds`, while jobs (half of them
   conversation jobs to those customers) are scheduled 2 to 5 s ahead at `--rate` a second
   by another transaction; a job's lateness = when its handler started - its due time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bot.company import load_company
from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.core.events import Event, Kind, Reply
from bot.jobs import JobRunner, JobTurn
from bot.outbox import OutboxSender
from handlers.router import route
from storage import handoff, jobs
from storage.db import Store, checkpoints, create_engine, upgrade
from storage.models import Base, Conversation, utcnow

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
CHANNEL = "memory"


class Transport:
    """Delivers in memory; remembers each chat's last choices and wakes who waits for a reply."""

    channel = CHANNEL

    def __init__(self) -> None:
        self.choices: dict[str, list[str]] = {}
        self.delivered = 0

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        await asyncio.sleep(0)
        self.delivered += 1
        if reply.choices:
            self.choices[chat_id] = [c.id for c in reply.choices]
        return f"m{row_id}"


# The repair form (tests/memory_channel.py `report_repair`): (kind, argument); "first" presses
# the first button of the chat's last keyboard.
WALK: tuple[tuple[str, str], ...] = (
    ("command", "start"), ("choice", "menu:repair"), ("first", ""), ("first", ""), ("choice", "repair.serial:skip"),
    ("text", "It stopped working this morning"), ("choice", "repair.files:skip"), ("text", "Shanghai, Huaihai Road 1"),
    ("text", "+86 138 0013 8000"), ("choice", "repair.confirm:submit"),
)
_deliveries = itertools.count(1)


def event(user: str, kind: str, argument: str, transport: Transport) -> Event:
    delivery = f"b{next(_deliveries)}"
    common: dict[str, Any] = {"delivery_id": delivery, "message_id": delivery, "language_hint": "en"}
    if kind == "command":
        return Event(CHANNEL, user, user, Kind.COMMAND, command=argument, text=f"/{argument}", **common)
    if kind == "text":
        return Event(CHANNEL, user, user, Kind.TEXT, text=argument, **common)
    choice = argument or (transport.choices.get(user) or ["menu:menu"])[0]
    return Event(CHANNEL, user, user, Kind.CHOICE, choice=choice, **common)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def fresh_store(db: str, folder: str) -> tuple[str, Store]:
    if db == "sqlite":
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        return url, create_engine(url, background_checkpoints=True)
    await asyncio.to_thread(upgrade, POSTGRES_URL)
    engine = create_engine(POSTGRES_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} RESTART IDENTITY CASCADE"))
    return POSTGRES_URL, engine


async def schedule_many(engine: Store, kind: str, count: int, conversations: list[int] | None, due: Callable[[], Any]) -> None:
    async with engine.begin() as conn:
        for n in range(count):
            conversation = conversations[n % len(conversations)] if conversations else None
            await jobs.schedule(conn, kind, due(), {"n": n}, conversation_id=conversation)


async def run(args: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp(prefix="bench-jobs-")
    url, engine = await fresh_store(args.db, folder)
    company = load_company(Settings())
    core = Dispatcher(engine, company, route)
    transport = Transport()
    sender = OutboxSender(engine, [transport])
    core.outbox = sender
    lateness: list[float] = []
    ran = 0

    async def note(turn: JobTurn) -> None:
        nonlocal ran
        lateness.append((utcnow() - turn.job.run_at).total_seconds())
        ran += 1
        await handoff.record(turn.conn, None, "job", turn.now, job=turn.job.id)

    async def say(turn: JobTurn) -> None:
        nonlocal ran
        lateness.append((utcnow() - turn.job.run_at).total_seconds())
        ran += 1
        await turn.send(Reply(f"Reminder {turn.job.payload['n']}"))

    runner = JobRunner(engine, core, timezone=company.timezone, handlers={"bench.note": note, "bench.say": say})
    background = [asyncio.create_task(sender.run())]
    if args.db == "sqlite":
        background.append(asyncio.create_task(checkpoints(url, engine=engine)))
    users = [f"c{n}" for n in range(args.customers)]
    try:
        await asyncio.gather(*(core.handle(event(user, "command", "start", transport)) for user in users))
        async with engine.connect() as conn:
            conversations = list((await conn.scalars(select(Conversation.id))).all())

        # 1. Drain a backlog.
        for kind, targets in (("bench.note", None), ("bench.say", conversations)):
            await schedule_many(engine, kind, args.jobs, targets, lambda: utcnow() - timedelta(seconds=1))
            ran = 0
            started, cpu = time.perf_counter(), time.process_time()
            count = await runner.run_due()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            what = "alone (an audit line each)" if targets is None else f"to {len(targets)} conversations (a reply each)"
            # Per CPU second of this process too: on a shared machine the wall-clock rate says more about the others.
            print(f"{args.db}: drained {count:,} due jobs {what} in {seconds:.2f} s: {count / seconds:,.0f} jobs/s "
                  f"({count / cpu:,.0f} jobs per CPU second; load average {os.getloadavg()[0]:.1f})")

        # 2. Lateness while customers talk.
        lateness.clear()
        turn_latency: list[float] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + args.seconds

        async def customer(user: str) -> None:
            await asyncio.sleep(random.uniform(0, 1))
            for step in itertools.cycle(WALK):
                if loop.time() >= end:
                    return
                asked = time.perf_counter()
                await core.handle(event(user, *step, transport))
                turn_latency.append(time.perf_counter() - asked)
                await asyncio.sleep(random.expovariate(1.0))

        async def scheduler() -> None:
            tick = 0.1
            while loop.time() < end - 5:
                count = max(1, round(args.rate * tick))
                half = count // 2
                await schedule_many(engine, "bench.say", half, conversations, lambda: utcnow() + timedelta(seconds=random.uniform(2, 5)))
                await schedule_many(engine, "bench.note", count - half, None, lambda: utcnow() + timedelta(seconds=random.uniform(2, 5)))
                await asyncio.sleep(tick)

        loop_task = asyncio.create_task(runner.run())
        await asyncio.gather(scheduler(), *(customer(user) for user in users))
        await asyncio.sleep(1)
        await runner.close()
        loop_task.cancel()
        await asyncio.gather(loop_task, return_exceptions=True)
        async with engine.connect() as conn:
            left = len(await jobs.pending(conn))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{args.db}: {len(lateness):,} jobs due while {args.customers} customers sent {len(turn_latency):,} messages "
              f"in {args.seconds:.0f} s ({left} still pending)")
        print(f"  job lateness: p50 {percentile(lateness, 0.5) * 1000:.0f} ms, p99 {percentile(lateness, 0.99) * 1000:.0f} ms, "
              f"max {max(lateness) * 1000:.0f} ms")
        print(f"  customer turn (commit): p50 {statistics.median(turn_latency) * 1000:.1f} ms, "
              f"p99 {percentile(turn_latency, 0.99) * 1000:.1f} ms")
    finally:
        await runner.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await sender.close()
        await core.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in each backlog drained")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="jobs scheduled a second during the talk")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(parser.parse_args()))

if __name__ == "__main__":
    main()
