"""Issue 8 item 12: receipts and delivered outbox rows are pruned after a configured age;
the transcript stays. Time comes from an injectable clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import retention
from storage.models import ChannelIdentity, Conversation, Customer, InboundReceipt, Job, Message, OutboxRow

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = retention.Policy(receipts=timedelta(days=7), delivered_outbox=timedelta(days=30), batch=3)


async def _seed(engine: AsyncEngine) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=2)
    async with engine.begin() as conn:
        await conn.execute(insert(Customer).values(id=1, locale="en", locale_chosen=False, created_at=old))
        await conn.execute(insert(ChannelIdentity).values(id=1, customer_id=1, channel="web", external_id="v", chat_id="v", created_at=old))
        await conn.execute(insert(Conversation).values(id=1, customer_id=1, identity_id=1, state="", slots={}, mode="bot", version=0, updated_at=old))
        await conn.execute(insert(InboundReceipt), [
            {"channel": "web", "external_id": f"{age}-{i}", "received_at": NOW - timedelta(days=age)}
            for age in (8, 6) for i in range(5)
        ])
        rows = []
        for status, sent_at, text in [
            ("sent", old, "old sent"), ("sent", old, "old sent 2"), ("sent", recent, "recent sent"),
            ("pending", None, "old pending"), ("uncertain", None, "old uncertain"), ("failed", None, "old failed"),
        ] + [("sent", old, f"old sent {i}") for i in range(3, 8)]:
            rows.append({"channel": "web", "chat_id": "v", "conversation_id": 1, "payload": {"text": text},
                         "status": status, "attempts": 1, "next_attempt_at": old, "created_at": old, "sent_at": sent_at})
        await conn.execute(insert(OutboxRow), rows)
        await conn.execute(insert(Job), [
            {"kind": "test", "payload": {}, "run_at": old, "status": status, "attempts": 1, "max_attempts": 5,
             "finished_at": finished, "last_error": status, "created_at": old}
            for status, finished in (("done", old), ("cancelled", old), ("done", recent), ("dead", old), ("pending", None))
        ])
        await conn.execute(insert(Message), [
            {"conversation_id": 1, "direction": d, "author": "bot", "channel": "web", "text": "t", "attachments": [], "created_at": old}
            for d in ("in", "out")
        ])


async def _left(engine: AsyncEngine) -> tuple[set[str], set[str], int]:
    async with engine.connect() as conn:
        receipts = set(await conn.scalars(select(InboundReceipt.external_id)))
        texts = {payload["text"] for payload in await conn.scalars(select(OutboxRow.payload))}
        messages = await conn.scalar(select(func.count()).select_from(Message))
    return receipts, texts, messages


async def test_old_receipts_and_delivered_replies_are_pruned_and_the_transcript_stays(engine: AsyncEngine) -> None:
    await _seed(engine)
    pruned = await retention.prune(engine, NOW, POLICY)
    assert pruned == retention.Pruned(receipts=5, outbox=7, jobs=2)  # in batches of 3
    async with engine.connect() as conn:
        assert set(await conn.scalars(select(Job.last_error))) == {"done", "dead", "pending"}  # recent, dead, to do
    receipts, texts, messages = await _left(engine)
    assert receipts == {f"6-{i}" for i in range(5)}
    assert texts == {"recent sent", "old pending", "old uncertain", "old failed"}
    assert messages == 2
    assert await retention.prune(engine, NOW, POLICY) == retention.Pruned(0, 0)


async def test_the_periodic_task_prunes_by_its_clock(engine: AsyncEngine) -> None:
    await _seed(engine)
    now = [NOW - timedelta(days=365)]  # a year ago, nothing was old yet
    asked: list[datetime] = []

    def clock() -> datetime:
        asked.append(now[0])
        return now[0]

    async def until(condition: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(10):
            while not await condition():
                await asyncio.sleep(0.01)

    task = asyncio.create_task(retention.run(engine, POLICY, every=0.01, clock=clock))
    try:
        await until(lambda: _true(len(asked) >= 3))  # pruned twice (at least) a year ago
        assert len((await _left(engine))[0]) == 10
        now[0] = NOW
        await until(lambda: _receipts_left(engine, 5))
    finally:
        task.cancel()


async def _true(value: bool) -> bool:
    return value


async def _receipts_left(engine: AsyncEngine, count: int) -> bool:
    return len((await _left(engine))[0]) == count
