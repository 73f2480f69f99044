"""The human side's three figures (issue 11), on the real service:

    .venv/bin/python -m bench.console            # SQLite in a temp dir
    .venv/bin/python -m bench.console --replies 300 --customers 200 --tickets 10000 --consoles 50

1. reply: an agent's reply (`Dispatcher.act`) until the Bot API test server
   (tests/telegram_server.py, real HTTP on 127.0.0.1) records its sendMessage,
   while `--customers` Telegram customers chat at about one message a second
   each (long polling, the real aiogram transport); no rate limits.
2. queue: GET /console/ and /console/queue (the live refresh) with `--tickets`
   conversations waiting or with a person, measured at the client over loopback
   (an upper bound of the server's time).
3. live: `--consoles` open live streams (SSE) of one agent; a customer asks for a
   person; time until every stream has the news.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from typing import Any

import aiohttp
from sqlalchemy import insert

from bot.app import Service
from bot.config import Settings
from bot.console.auth import hash_password
from bot.core.actions import Act, Action
from services.handoff import Actor, Role
from storage.agents import add_agent
from storage.db import upgrade
from storage.models import ChannelIdentity, Conversation, Customer, Ticket, table_of, utcnow
from tests.memory_channel import Chat
from tests.telegram_server import FakeBotAPI

PASSWORD = "bench password 1"


def figures(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return f"{name:<28} n={len(ms):<5} p50 {p(0.5):7.2f} ms  p95 {p(0.95):7.2f} ms  p99 {p(0.99):7.2f} ms  max {ms[-1]:7.2f} ms"


async def bench_reply(service: Service, api: FakeBotAPI, agent_id: int, replies: int, customers: int) -> list[float]:
    # The agent's customer, waiting and claimed.
    owner = 900_000_001
    api.user_message(owner, "/agent")
    await api.wait_until(lambda: api.sent_to(owner), timeout=10)
    async with service.engine.connect() as conn:
        from sqlalchemy import select

        cid = await conn.scalar(select(Conversation.id).where(Conversation.mode == "queued"))
    actor = Actor(agent_id, Role.AGENT)
    assert (await service.core.act(Action(cid, Act.CLAIM, actor))).ok
    arrived: dict[str, float] = {}
    record = api._record

    def timed(method: str, params: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
        text = msg.get("text") or ""
        if text.startswith("bench-reply-"):
            arrived[text] = time.perf_counter()
        return record(method, params, msg)

    api._record = timed  # type: ignore[method-assign]
    stop = asyncio.Event()

    async def customer(user: int) -> None:  # about one message a second
        await asyncio.sleep(random.random())
        while not stop.is_set():
            api.user_message(user, random.choice(("hello", "/start", "what about my repair?", "/mydata")))
            await asyncio.sleep(random.expovariate(1.0))

    load = [asyncio.create_task(customer(800_000_000 + n)) for n in range(customers)]
    await asyncio.sleep(3)  # let the load settle
    samples = []
    for n in range(replies):
        text = f"bench-reply-{n}"
        started = time.perf_counter()
        assert (await service.core.act(Action(cid, Act.REPLY, actor, text=text))).ok
        while text not in arrived:
            await asyncio.sleep(0.0005)
        samples.append(arrived[text] - started)
        await asyncio.sleep(random.uniform(0.01, 0.05))
    stop.set()
    await asyncio.gather(*load)
    return samples


async def fill_queue(service: Service, tickets: int) -> None:
    now = utcnow()
    rows = range(1, tickets + 1)
    async with service.engine.begin() as conn:
        base = 1_000_000
        await conn.execute(insert(table_of(Customer)), [
            {"id": base + i, "display_name": f"Customer {i}", "locale": random.choice(("en", "ru", "zh_Hans")),
             "locale_chosen": False, "created_at": now} for i in rows])
        await conn.execute(insert(table_of(ChannelIdentity)), [
            {"id": base + i, "customer_id": base + i, "channel": "web", "external_id": f"bench-{i}", "chat_id": f"bench-{i}",
             "created_at": now} for i in rows])
        await conn.execute(insert(table_of(Conversation)), [
            {"id": base + i, "customer_id": base + i, "identity_id": base + i, "state": "", "slots": {}, "mode": "queued",
             "ticket_id": base + i, "version": 0, "updated_at": now} for i in rows])
        await conn.execute(insert(table_of(Ticket)), [
            {"id": base + i, "number": f"H-2026-{500000 + i:06d}", "kind": "person", "status": "queued",
             "customer_id": base + i, "conversation_id": base + i, "channel": "web", "locale": "ru", "details": {},
             "created_at": now, "updated_at": now, "priority": "normal"} for i in rows])


async def bench_queue(http: aiohttp.ClientSession, base: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"GET /console/": [], "GET /console/queue": [], "GET /console/queue?scope=unassigned&language=ru": []}
    for _ in range(rounds):
        for path in out:
            started = time.perf_counter()
            async with http.get(base + path.split(" ", 1)[1]) as response:
                await response.read()
                assert response.status == 200
            out[path].append(time.perf_counter() - started)
    return out


async def bench_live(service: Service, http: aiohttp.ClientSession, base: str, consoles: int, rounds: int) -> list[float]:
    streams = [await http.get(base + "/console/events") for _ in range(consoles)]
    for stream in streams:
        assert (await stream.content.readline()).startswith(b"event: ready")
        await stream.content.readline()
    samples = []
    for n in range(rounds):
        chat = Chat(service.core, service.engine, user_id=f"live-{n}", channel="memory")
        started = time.perf_counter()
        waiting = asyncio.create_task(chat.say("/agent"))

        async def heard(stream: Any) -> float:
            while True:
                line = await stream.content.readline()
                if line.startswith(b"data: ["):
                    return time.perf_counter()

        times = await asyncio.gather(*(heard(s) for s in streams))
        await waiting
        samples += [t - started for t in times]
    for stream in streams:
        stream.close()
    return samples


async def main(args: argparse.Namespace, folder: str, url: str) -> None:
    try:
        async with FakeBotAPI() as api:
            service = Service(Settings(database_url=url, port=0, telegram_bot_token=api.token, telegram_api_base=api.base_url,
                                       telegram_rate_per_chat=0, telegram_rate_global=0))
            await service.start()
            try:
                agent_id = await add_agent(service.engine, login="bench", name="Bench", password_hash=hash_password(PASSWORD),
                                           role=Role.AGENT, now=utcnow())
                print(figures("reply -> Telegram server", await bench_reply(service, api, agent_id, args.replies, args.customers)))
                await fill_queue(service, args.tickets)
                base = f"http://127.0.0.1:{service.port}"
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                    page = await (await http.get(base + "/console/login")).text()
                    token = page.split('name="csrf" value="')[1].split('"')[0]
                    await http.post(base + "/console/login", data={"csrf": token, "login": "bench", "password": PASSWORD})
                    for path, samples in (await bench_queue(http, base, args.rounds)).items():
                        print(figures(f"{path} ({args.tickets:,} open)"[:60], samples))
                    print(figures(f"hand-over -> {args.consoles} consoles", await bench_live(service, http, base, args.consoles, args.rounds)))
            finally:
                await service.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    arguments = parser.parse_args()
    print(f"bench.console: {arguments}")
    folder = tempfile.mkdtemp(prefix="bench-console-")
    url = f"sqlite:///{folder}/bench.db"
    upgrade(url)  # synchronous: Alembic runs its own event loop
    asyncio.run(main(arguments, folder, url))
