"""A worker process for the two-process race tests (tests/test_races.py).

    python -m tests.race_worker claim DATABASE_URL TAG
    python -m tests.race_worker link DATABASE_URL TAG CUSTOMER_ID SERIAL...
    python -m tests.race_worker write DATABASE_URL TAG SECONDS
    python -m tests.race_worker book DATABASE_URL TAG TICKET_ID CUSTOMER_ID WINDOW...

Prints "ready" once connected, waits for a line on stdin (so that both workers start
together), then races and prints one JSON line with what it won:
- claim: an `OutboxSender` claims pending rows until a claim comes back empty; the ids it got;
- link: the customer claims each unit (`link_product`, one transaction each); the serials linked;
- write: small write transactions back to back for SECONDS; how many, and how long each
  waited to begin (the fairness test and bench/fairness.py);
- book: the customer books one engineer's windows (services.slots keys), each in its own
  transaction, without looking first (as a press on a window offered earlier); the keys won.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from sqlalchemy import insert

from bot.core.events import Reply
from bot.outbox import Limits, OutboxSender
from storage.db import Store, create_engine
from storage.models import utcnow
from storage.products import LinkOutcome, link_product
from storage.turns import customers


class Idle:
    """A transport the sender needs to claim for; nothing is ever delivered."""

    channel = "memory"

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        raise AssertionError("the race test only claims")


async def claim(url: str, tag: str) -> list[int]:
    engine = create_engine(url)
    # A rate limit keeps each claim small (about a second's worth): many claims, many chances to collide.
    sender = OutboxSender(engine, [Idle()], {"memory": Limits(per_second=5)}, owner=tag)
    won: list[int] = []
    try:
        await _start(engine)
        while rows := await sender.claim():
            won += [row.id for row in rows]
    finally:
        await engine.dispose()
    return won


async def link(url: str, customer_id: int, serials: list[str]) -> list[str]:
    engine = create_engine(url)
    won = []
    try:
        await _start(engine)
        for serial in serials:
            async with engine.begin() as conn:
                result = await link_product(conn, customer_id, serial)
            if result.outcome is LinkOutcome.LINKED:
                won.append(serial)
            elif result.outcome is not LinkOutcome.OWNED_BY_OTHER:
                raise AssertionError(f"{serial}: {result.outcome}")
    finally:
        await engine.dispose()
    return won


async def write(url: str, tag: str, seconds: float) -> dict[str, float]:
    engine = create_engine(url)
    waits = []
    try:
        await _start(engine)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (asked := loop.time()) < end:
            async with engine.begin() as conn:
                waits.append(loop.time() - asked)
                # Most of the time inside the transaction, as a busy worker's batches are.
                await conn.execute(insert(customers), [
                    {"display_name": tag, "locale": "en", "locale_chosen": False, "created_at": utcnow()}
                ] * 40)
    finally:
        await engine.dispose()
    waits.sort()
    return {"commits": len(waits), "max_wait": waits[-1], "p99_wait": waits[int(len(waits) * 0.99)]}


async def book(url: str, ticket_id: int, customer_id: int, keys: list[str]) -> list[str]:
    from services.engineers import JobKind
    from services.slots import Window
    from storage.visits import book as book_visit

    engine = create_engine(url)
    won = []
    try:
        await _start(engine)
        for key in keys:
            window = Window.from_key(key)
            async with engine.begin() as conn:
                booked = await book_visit(conn, ticket_id=ticket_id, customer_id=customer_id, conversation_id=None,
                                          engineer="zhang_wei", centre="shanghai", kind=JobKind.REPAIR,
                                          window=Window(window.start, window.end, "zhang_wei"), now=utcnow())
            if booked is not None:
                won.append(key)
    finally:
        await engine.dispose()
    return won


async def _start(engine: Store) -> None:
    async with engine.connect():
        pass  # connected before the start signal
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


if __name__ == "__main__":
    mode, url, tag, *rest = sys.argv[1:]
    result: Any
    if mode == "claim":
        result = asyncio.run(claim(url, tag))
    elif mode == "write":
        result = asyncio.run(write(url, tag, float(rest[0])))
    elif mode == "book":
        result = asyncio.run(book(url, int(rest[0]), int(rest[1]), rest[2:]))
    else:
        result = asyncio.run(link(url, int(rest[0]), rest[1:]))
    print(json.dumps(result), flush=True)
