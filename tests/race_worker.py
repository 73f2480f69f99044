"""A worker process for the two-process race tests (tests/test_races.py).

    python -m tests.race_worker claim DATABASE_URL TAG
    python -m tests.race_worker link DATABASE_URL TAG CUSTOMER_ID SERIAL...

Prints "ready" once connected, waits for a line on stdin (so that both workers start
together), then races and prints one JSON line with what it won:
- claim: an `OutboxSender` claims pending rows until a claim comes back empty; the ids it got;
- link: the customer claims each unit (`link_product`, one transaction each); the serials linked.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.core.events import Reply
from bot.outbox import Limits, OutboxSender
from storage.db import Store, create_engine
from storage.products import LinkOutcome, link_product


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


async def _start(engine: Store) -> None:
    async with engine.connect():
        pass  # connected before the start signal
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


if __name__ == "__main__":
    mode, url, tag, *rest = sys.argv[1:]
    if mode == "claim":
        result: list[int] | list[str] = asyncio.run(claim(url, tag))
    else:
        result = asyncio.run(link(url, int(rest[0]), rest[1:]))
    print(json.dumps(result), flush=True)
