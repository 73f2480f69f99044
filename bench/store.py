"""The SQLite store under growth and floods, through the real service (bot/app.py).

    .venv/bin/python -m bench.store connect                  # web-chat connect with 1,000,000 outbox rows
    .venv/bin/python -m bench.store connect --rows 20000
    .venv/bin/python -m bench.store connect --revision 0002 # as before: without the indexes of 0003
    .venv/bin/python -m bench.store flood                    # one socket, 20,000 frames: the WAL's size

connect: a fresh SQLite store is filled (sqlite3 executemany) with `--chats` web visitors
(customer, identity, conversation, 2 inbound messages each) and `--rows` outbox rows spread
over them (delivered replies); then the service starts and `--connects` sockets of random
visitors connect one after another; a connect's time runs from the WebSocket handshake to
the "hello" frame with the history (customer_locale, history, mark_delivered). p50/p99/max.

flood: the service on a fresh store, one anonymous socket sending `--frames` text frames
without waiting (the server handles them in order, acking each); the WAL file's size is
sampled every 10 ms. Reported: the largest WAL, the WAL once idle, the database, the time.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.app import Service
from bot.config import Settings
from storage.db import upgrade
from storage.transcripts import customer_locale, history, mark_delivered

# Yesterday: recent rows (retention would prune rows older than its age while the bench runs).
STAMP = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(database: Path, chats: int, rows: int) -> list[str]:
    """Visitors and delivered outbox rows, written straight into the file."""
    visitors = [secrets.token_urlsafe(18) for _ in range(chats)]
    payload = json.dumps({"text": "Thank you, your request R-2026-000042 is registered.", "choices": [],
                          "request": None, "request_label": None, "replaces": None})
    with closing(sqlite3.connect(database)) as db, db:
        db.executemany("INSERT INTO customers (id, locale, locale_chosen, created_at) VALUES (?, 'en', 1, ?)",
                       ((i + 1, STAMP) for i in range(chats)))
        db.executemany("INSERT INTO channel_identities (id, customer_id, channel, external_id, chat_id, created_at) "
                       "VALUES (?, ?, 'web', ?, ?, ?)", ((i + 1, i + 1, v, v, STAMP) for i, v in enumerate(visitors)))
        db.executemany("INSERT INTO conversations (id, customer_id, identity_id, state, slots, mode, version, updated_at) "
                       "VALUES (?, ?, ?, '', '{}', 'bot', 0, ?)", ((i + 1, i + 1, i + 1, STAMP) for i in range(chats)))
        db.executemany("INSERT INTO messages (conversation_id, direction, author, channel, text, attachments, created_at) "
                       "VALUES (?, 'in', 'customer', 'web', 'hello', '[]', ?)",
                       ((i % chats + 1, STAMP) for i in range(2 * chats)))
        db.executemany("INSERT INTO outbox (channel, chat_id, conversation_id, payload, status, attempts, next_attempt_at, "
                       "created_at, sent_at) VALUES ('web', ?, ?, ?, 'sent', 1, ?, ?, ?)",
                       ((visitors[i % chats], i % chats + 1, payload, STAMP, STAMP, STAMP) for i in range(rows)))
    return visitors


async def serve(url: str) -> Service:
    service = Service(Settings(database_url=url, port=0, telegram_bot_token=None))
    await service.start()
    return service


async def connect(args: argparse.Namespace, url: str, visitors: list[str]) -> None:
    service = await serve(url)
    times = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(args.connects):
                visitor = random.choice(visitors)
                started = time.perf_counter()
                async with http.ws_connect(f"http://127.0.0.1:{service.port}/ws", headers={"Cookie": f"visitor={visitor}"}) as ws:
                    hello = await ws.receive_json()
                    times.append(time.perf_counter() - started)
                    assert hello["type"] == "hello" and hello["history"], hello
        # The store's part alone (what runs on the event loop): the three lookups of a connect.
        lookups = []
        for _ in range(args.connects):
            visitor = random.choice(visitors)
            started = time.perf_counter()
            await customer_locale(service.engine, "web", visitor)
            await history(service.engine, "web", visitor)
            await mark_delivered(service.engine, "web", visitor)
            lookups.append(time.perf_counter() - started)
    finally:
        await service.stop()
    print(f"{args.rows:,} outbox rows, {args.chats:,} chats, {args.connects} connects each:")
    for name, figures in (("connect (socket to hello)", times), ("store lookups of a connect", lookups)):
        ms = sorted(t * 1000 for t in figures)
        print(f"  {name}: p50 {statistics.median(ms):.2f} ms, p99 {ms[int(len(ms) * 0.99)]:.2f} ms, max {ms[-1]:.2f} ms")


async def flood(args: argparse.Namespace, url: str, database: Path) -> None:
    wal = Path(f"{database}-wal")
    service = await serve(url)
    largest = 0

    async def sample() -> None:
        nonlocal largest
        while True:
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"http://127.0.0.1:{service.port}/ws",
                                       headers={"Cookie": f"visitor={secrets.token_urlsafe(18)}"}) as ws:
                await ws.receive_json()  # hello
                started = time.perf_counter()
                for i in range(args.frames):
                    await ws.send_json({"type": "text", "text": f"flood {i} " + "x" * 100, "id": f"c{i}"})
                acks = 0
                while acks < args.frames:
                    frame = await ws.receive_json()
                    acks += frame["type"] == "ack"
                elapsed = time.perf_counter() - started
        idle_started = time.perf_counter()
        while wal.exists() and wal.stat().st_size and time.perf_counter() - idle_started < 10:
            await asyncio.sleep(0.05)
        idle_wal = wal.stat().st_size if wal.exists() else 0
        idle_after = time.perf_counter() - idle_started
    finally:
        sampler.cancel()
        await service.stop()
    print(f"{args.frames:,} frames in {elapsed:.1f} s ({args.frames / elapsed:.0f}/s): largest WAL {largest / 1e6:.1f} MB, "
          f"WAL {idle_wal / 1e6:.1f} MB {idle_after:.1f} s after the burst, database {database.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["connect", "flood"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--connects", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--revision", default="head", help="migrate only to this revision (0002: without 0003's indexes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        database = Path(directory) / "store.db"
        url = f"sqlite:///{database}"
        upgrade(url, args.revision)
        if args.what == "connect":
            started = time.perf_counter()
            visitors = fill(database, args.chats, args.rows)
            print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
            asyncio.run(connect(args, url, visitors))
        else:
            asyncio.run(flood(args, url, database))


if __name__ == "__main__":
    main()
