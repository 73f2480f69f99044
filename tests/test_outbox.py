"""The outbox sender: order per chat, flood control, back-off, blocked chats,
never the same row twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.events import Reply
from bot.outbox import Limits, OutboxSender, RetryLater, Temporary, TokenBucket, Unreachable
from storage.models import ChannelIdentity, Customer, OutboxRow, utcnow


class ScriptedTransport:
    """Delivers into a list; `errors[chat]` is a list of exceptions raised first."""

    channel = "memory"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.errors: dict[str, list[Exception]] = {}

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        await asyncio.sleep(0)
        pending = self.errors.get(chat_id)
        if pending:
            raise pending.pop(0)
        self.delivered.append((chat_id, reply.text))
        return f"m{row_id}"


async def queue(engine: AsyncEngine, *messages: tuple[str, str]) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxRow), [
            {"channel": "memory", "chat_id": chat, "payload": Reply(text).to_payload(), "status": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now}
            for chat, text in messages
        ])


async def statuses(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(OutboxRow.payload, OutboxRow.status))).all()
    return {payload["text"]: status for payload, status in rows}


async def drain(sender: OutboxSender) -> None:
    """One claim and let the chat workers finish."""
    for row in await sender.claim():
        sender._enqueue(row)
    while sender._workers:
        await asyncio.gather(*list(sender._workers.values()))
    await sender.flush()


async def test_delivers_in_order_per_chat_and_confirms(engine: AsyncEngine) -> None:
    transport = ScriptedTransport()
    sender = OutboxSender(engine, [transport])
    await queue(engine, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3"))
    await drain(sender)
    assert [text for chat, text in transport.delivered if chat == "a"] == ["a1", "a2", "a3"]
    assert set((await statuses(engine)).values()) == {"sent"}
    await drain(sender)
    assert len(transport.delivered) == 4  # nothing sent twice


async def test_flood_control_holds_only_that_chat(engine: AsyncEngine) -> None:
    transport = ScriptedTransport()
    transport.errors["a"] = [RetryLater(30)]
    sender = OutboxSender(engine, [transport])
    await queue(engine, ("a", "a1"), ("a", "a2"), ("b", "b1"))
    await drain(sender)
    assert transport.delivered == [("b", "b1")]
    async with engine.connect() as conn:
        due = (await conn.execute(select(OutboxRow.next_attempt_at).where(OutboxRow.chat_id == "a"))).scalars().all()
    assert all(timedelta(seconds=25) < d - utcnow() <= timedelta(seconds=31) for d in due)
    # Once due, they go out in their order.
    async with engine.begin() as conn:
        await conn.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
    sender._blocked.clear()
    await drain(sender)
    assert transport.delivered[1:] == [("a", "a1"), ("a", "a2")]


async def test_network_errors_retry_with_backoff_until_delivered(engine: AsyncEngine) -> None:
    transport = ScriptedTransport()
    transport.errors["a"] = [Temporary("connection reset"), Temporary("502")]
    sender = OutboxSender(engine, [transport])
    await queue(engine, ("a", "a1"))
    for _ in range(3):
        await drain(sender)
        async with engine.begin() as conn:  # skip the back-off wait
            await conn.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        sender._blocked.clear()
    assert transport.delivered == [("a", "a1")]
    async with engine.connect() as conn:
        assert await conn.scalar(select(OutboxRow.attempts)) == 3


async def test_blocked_chat_is_marked_unreachable_without_holding_others(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", locale_chosen=False).returning(Customer.id))
        await conn.execute(insert(ChannelIdentity).values(customer_id=customer, channel="memory", external_id="a", chat_id="a"))
    transport = ScriptedTransport()
    transport.errors["a"] = [Unreachable("bot was blocked by the user")]
    sender = OutboxSender(engine, [transport])
    await queue(engine, ("a", "a1"), ("a", "a2"), ("b", "b1"))
    await drain(sender)
    assert transport.delivered == [("b", "b1")]
    assert await statuses(engine) == {"a1": "failed", "a2": "failed", "b1": "sent"}
    async with engine.connect() as conn:
        assert await conn.scalar(select(ChannelIdentity.unreachable_at)) is not None


async def test_a_row_claimed_by_a_dead_sender_is_never_resent(engine: AsyncEngine) -> None:
    await queue(engine, ("a", "a1"))
    dead = OutboxSender(engine, [ScriptedTransport()])
    assert len(await dead.claim()) == 1  # claimed, then the process "dies"
    async with engine.begin() as conn:
        await conn.execute(update(OutboxRow).values(lease_until=utcnow() - timedelta(seconds=1)))
    transport = ScriptedTransport()
    survivor = OutboxSender(engine, [transport])
    assert await survivor.recover() == 1
    await drain(survivor)
    assert transport.delivered == [] and await statuses(engine) == {"a1": "uncertain"}


async def test_two_senders_never_claim_the_same_row(engine: AsyncEngine) -> None:
    await queue(engine, *[(f"c{i % 7}", f"t{i}") for i in range(300)])
    transports = [ScriptedTransport(), ScriptedTransport()]
    senders = [OutboxSender(engine, [t]) for t in transports]
    await asyncio.gather(*(drain(s) for s in senders for _ in range(3)))
    sent = Counter(text for t in transports for _chat, text in t.delivered)
    assert len(sent) == 300 and set(sent.values()) == {1}


def test_token_bucket_spacing() -> None:
    clock = [100.0]
    per_chat = TokenBucket(rate=1.0, burst=1, clock=lambda: clock[0])
    assert [per_chat.delay() for _ in range(3)] == [0.0, 1.0, 2.0]  # 1 message/s
    overall = TokenBucket(rate=30.0, burst=30, clock=lambda: clock[0])
    delays = [overall.delay() for _ in range(60)]
    assert delays[:30] == [0.0] * 30 and delays[59] == pytest.approx(1.0)  # 60 messages need 1 s at 30/s
    clock[0] += 10
    assert overall.delay() == 0.0  # refilled
    assert TokenBucket(rate=0, burst=1).delay() == 0.0  # unlimited


async def test_rate_limits_are_applied(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = ScriptedTransport()
    sender = OutboxSender(engine, [transport], {"memory": Limits(per_second=30, per_chat=1, chat_burst=1)})
    await queue(engine, ("a", "a1"), ("a", "a2"), ("a", "a3"))
    monkeypatch.setattr("bot.outbox.asyncio.sleep", fake_sleep)
    for _ in range(3):  # a claim takes what the chat may send at once: one row here
        await drain(sender)
    assert len(transport.delivered) == 3
    assert sum(slept) == pytest.approx(3.0, abs=0.2)  # 0 + ~1 + ~2: one per second in a chat


async def test_rows_of_an_unlimited_channel_are_handed_over_without_a_claim(engine: AsyncEngine, company: Any) -> None:
    from bot.core.dispatcher import Dispatcher
    from bot.core.events import Event, Kind
    from handlers.router import route

    transport = ScriptedTransport()
    sender = OutboxSender(engine, [transport], {})  # no Limits
    core = Dispatcher(engine, company, route, outbox=sender)
    try:
        await core.handle(Event(channel="memory", user_id="7", chat_id="7", kind=Kind.COMMAND, command="start", text="/start"))
        async with engine.connect() as conn:  # committed already leased to this sender, not pending
            row = (await conn.execute(select(OutboxRow.status, OutboxRow.lease_owner, OutboxRow.attempts))).one()
        assert tuple(row) == ("sending", sender.owner, 1)
        while sender._workers:
            await asyncio.gather(*list(sender._workers.values()))
        assert len(transport.delivered) == 1 and "service assistant" in transport.delivered[0][1]
        assert await sender.claim() == []  # nothing left to claim: it is never sent twice
        assert set((await statuses(engine)).values()) == {"sent"}  # confirmed by that claim's transaction
    finally:
        await core.close()


async def test_confirmations_survive_a_failed_transaction(engine: AsyncEngine) -> None:
    await queue(engine, ("1", "a"))
    transport = ScriptedTransport()
    sender = OutboxSender(engine, [transport], {})
    for row in await sender.claim():
        sender._enqueue(row)
    while sender._workers:
        await asyncio.gather(*list(sender._workers.values()))
    with pytest.raises(RuntimeError):
        async with sender._confirming():
            raise RuntimeError("the store went away")
    assert (await statuses(engine))["a"] == "sending"  # rolled back ...
    await sender.flush()
    assert (await statuses(engine))["a"] == "sent"  # ... and written by the next transaction


class HeardChanges:
    """A bus that remembers what it was told."""

    def __init__(self) -> None:
        self.heard: list[set[int]] = []

    def changed(self, conversation_ids: set[int]) -> None:
        self.heard.append(set(conversation_ids))


async def test_the_console_hears_when_replies_of_a_persons_conversation_are_sent(
    engine: AsyncEngine, new_chat: Any,
) -> None:
    bot_only, waiting = new_chat("bot-only"), new_chat("waiting")
    await bot_only.say("/start")
    await waiting.say("/start")
    await waiting.press("menu:person")
    async with engine.begin() as conn:  # the chats read their replies; here a sender delivers them
        await conn.execute(update(OutboxRow).values(status="pending"))
        conversation = dict((await conn.execute(select(OutboxRow.chat_id, OutboxRow.conversation_id).distinct())).all())
    sender = OutboxSender(engine, [ScriptedTransport()])
    sender.bus = bus = HeardChanges()
    await drain(sender)
    assert set((await statuses(engine)).values()) == {"sent"}
    assert bus.heard == [{conversation["waiting"]}]  # the bot's own chat would only reload every console page
