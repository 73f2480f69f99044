"""The outbox under production limits (30/s overall, 1/s per chat, 20/min per group):
no head-of-line stall, leases renewed while rows are held, the group limit."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.dispatcher import Queued
from bot.core.events import Reply
from bot.outbox import Limits, OutboxSender
from storage.models import OutboxRow, utcnow

PRODUCTION = Limits(per_second=30, per_chat=1, chat_burst=3, group_per_minute=20)


class TimedTransport:
    """Records (chat, text, loop time) of every delivery; `hold` keeps a send on the network."""

    channel = "memory"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, float]] = []
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        self.delivered.append((chat_id, reply.text, asyncio.get_running_loop().time()))
        return f"m{row_id}"


async def queue(engine: AsyncEngine, *messages: tuple[str, str]) -> list[int]:
    now = utcnow()
    async with engine.begin() as conn:
        result = await conn.execute(insert(OutboxRow).returning(OutboxRow.id), [
            {"channel": "memory", "chat_id": chat, "payload": Reply(text).to_payload(), "status": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now}
            for chat, text in messages
        ])
        return list(result.scalars())


async def until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.01)


async def test_one_chats_backlog_does_not_hold_up_the_others(engine: AsyncEngine) -> None:
    """Regression (issue 8, item 6): a rate-limited channel claimed nothing while any
    chat had queued rows, so a chat held at 1 msg/s delayed every other chat."""
    transport = TimedTransport()
    sender = OutboxSender(engine, [transport], {"memory": PRODUCTION})
    loop = asyncio.get_running_loop()
    await queue(engine, *[("big", f"big{n}") for n in range(50)])
    running = asyncio.create_task(sender.run())
    try:
        queued_at: dict[str, float] = {}
        for n in range(99):  # 99 other chats write, 20 a second (below the 30/s limit)
            chat = f"c{n}"
            [row_id] = await queue(engine, (chat, f"{chat} first"))
            queued_at[chat] = loop.time()
            sender.queued([Queued(row_id, "memory", chat, {}, claimed=False)])
            await asyncio.sleep(0.05)  # the arrival rate, not a wait for a result

        async def others_sent() -> bool:
            return len({chat for chat, _t, _at in transport.delivered if chat != "big"}) == 99

        await until(others_sent)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await sender.close()
    first = {}
    for chat, _text, at in transport.delivered:
        first.setdefault(chat, at)
    waits = {chat: first[chat] - queued_at[chat] for chat in queued_at}
    assert max(waits.values()) <= 1.1, sorted(waits.items(), key=lambda kv: -kv[1])[:5]
    big = [(text, at) for chat, text, at in transport.delivered if chat == "big"]
    assert [text for text, _at in big] == [f"big{n}" for n in range(len(big))]  # in order
    assert 3 <= len(big) <= 3 + (big[-1][1] - big[0][1]) + 1  # burst of 3, then 1/s


async def test_leases_are_renewed_while_a_reply_is_held(engine: AsyncEngine) -> None:
    """Regression (issue 8, item 6): leases were never renewed, so a backlog longer
    than the lease turned its own rows `uncertain`."""
    transport = TimedTransport()
    transport.hold = asyncio.Event()
    sender = OutboxSender(engine, [transport], {"memory": PRODUCTION}, lease=0.6)
    [row_id] = await queue(engine, ("a", "a1"))
    running = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(transport.holding.wait(), 10)

        async def lease() -> datetime:
            async with engine.connect() as conn:
                value: datetime = await conn.scalar(select(OutboxRow.lease_until).where(OutboxRow.id == row_id))
            return value

        first = await lease()

        async def renewed_past_first_lease() -> bool:
            return utcnow() > first and await lease() > first

        await until(renewed_past_first_lease)
        other = OutboxSender(engine, [TimedTransport()], {"memory": PRODUCTION}, lease=0.6)
        assert await other.recover() == 0  # another process sees a live lease, not a dead sender
        transport.hold.set()

        async def sent() -> bool:
            async with engine.connect() as conn:
                return bool(await conn.scalar(select(OutboxRow.status).where(OutboxRow.id == row_id)) == "sent")

        await until(sent)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await sender.close()
    assert [text for _chat, text, _at in transport.delivered] == ["a1"]


def test_group_chats_are_held_to_twenty_a_minute() -> None:
    clock = [0.0]
    group = PRODUCTION.bucket("-1001234", lambda: clock[0])
    assert [round(group.delay(), 6) for _ in range(21)] == [round(3.0 * n, 6) for n in range(21)]  # 20 in 60 s
    private = PRODUCTION.bucket("1234", lambda: clock[0])
    assert [private.delay() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]  # a burst of 3, then 1/s
    assert PRODUCTION.rows_per_claim(group=True) == 1 and PRODUCTION.rows_per_claim(group=False) == 3
