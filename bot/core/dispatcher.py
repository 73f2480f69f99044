"""The core: every inbound event becomes one turn, persisted atomically.

Channels call `await dispatcher.handle(event)`; it returns once the event's
turn is committed (and the channel may then acknowledge the delivery). Events
are gathered into batches and each batch is one transaction (group commit):
receipts for de-duplication, the conversation's new state, the transcript
messages and the outbox rows all commit together or not at all.

Two events of one conversation are never processed at once: in one process
the committer runs batches one after another and a batch's turns in order;
across processes the transaction holds the conversation (SQLite: the write
lock taken by BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.company import Company
from bot.core import numbered, share
from bot.core.events import Event, Kind, Reply
from bot.core.language import detect
from bot.core.turn import CustomerView, Turn
from bot.i18n import Translator, normalize_locale
from services.timezones import known_zone
from storage.models import utcnow
from storage.turns import (
    ConversationRow,
    ConversationStore,
    Statements,
    accept_receipts,
    find_or_create_identity,
    load_conversations,
)

log = logging.getLogger(__name__)

Route = Callable[[Turn], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row written by a batch; `claimed`: already leased to this process's sender."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    claimed: bool


class Outbox(Protocol):
    """The sender of this process, as the committer sees it."""

    def lease_for(self, channel: str, now: datetime) -> tuple[str, datetime] | None:
        """(owner, lease end) to write new rows of `channel` already claimed, or None: leave them pending."""
        ...

    def queued(self, rows: list[Queued]) -> None:
        """After a commit: the batch's rows (claimed ones are handed over here, in memory)."""
        ...


@dataclass(slots=True)
class _Item:
    event: Event
    done: asyncio.Future[None]


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        company: Company,
        route: Route,
        *,
        outbox: Outbox | None = None,
        max_batch: int = 200,
        window: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._company = company
        self._route = route
        self.outbox = outbox  # settable: the sender is built after the channels, which need the dispatcher
        self._max_batch = max_batch
        self._window = window
        self._st = Statements(engine.dialect.name)
        self._pending: list[_Item] = []
        self._wake = asyncio.Event()
        # (channel, user id) -> (customer id, conversation id); identities never change.
        self._identities: dict[tuple[str, str], tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None

    async def handle(self, event: Event) -> None:
        """Process `event`; returns when its turn is committed."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dispatcher")
        item = _Item(event, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        self._wake.set()
        await item.done

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._window:
                await asyncio.sleep(self._window)
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                await self._commit(batch)

    async def _commit(self, batch: list[_Item], safe: bool = False) -> None:
        try:
            queued, identities = await self._transaction([item.event for item in batch], safe)
        except Exception as error:
            if len(batch) > 1:
                # One bad event must not sink the others: retry each on its own.
                for item in batch:
                    await self._commit([item])
            elif not safe:
                log.exception("turn failed; recording the message with an apology")
                await self._commit(batch, safe=True)
            elif not batch[0].done.done():
                batch[0].done.set_exception(error)
            return
        self._identities.update(identities)
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)
        if queued and self.outbox:
            self.outbox.queued(queued)

    async def _transaction(self, events: list[Event], safe: bool) -> tuple[list[Queued], dict[tuple[str, str], tuple[int, int]]]:
        now = self._clock()
        async with self._engine.begin() as conn:
            fresh = await self._deduplicate(conn, events, now)
            identities = {}
            for event in fresh:
                key = (event.channel, event.user_id)
                if key not in self._identities and key not in identities:
                    identities[key] = await find_or_create_identity(
                        conn, self._st, channel=event.channel, external_id=event.user_id, chat_id=event.chat_id,
                        locale=normalize_locale(detect(event.language_hint, event.text)),
                        display_name=event.display_name, now=now,
                    )
            known = {**self._identities, **identities}
            rows = await load_conversations(conn, self._st, [known[(e.channel, e.user_id)][1] for e in fresh])
            writes = _Writes(now, self.outbox)
            for event in fresh:
                row = rows[known[(event.channel, event.user_id)][1]]
                await self._turn(conn, row, event, now, writes, safe)
            queued = await writes.flush(conn, self._st)
        return queued, identities

    async def _deduplicate(self, conn: AsyncConnection, events: list[Event], now: datetime) -> list[Event]:
        keyed = {(e.channel, e.delivery_id) for e in events if e.delivery_id is not None}
        accepted = await accept_receipts(conn, self._st, list(keyed), now)
        fresh = []
        for event in events:
            key = (event.channel, event.delivery_id)
            if event.delivery_id is None:
                fresh.append(event)
            elif key in accepted:
                accepted.discard(key)  # a second copy within the same batch is a duplicate too
                fresh.append(event)
        return fresh

    async def _turn(self, conn: AsyncConnection, row: ConversationRow, event: Event, now: datetime, writes: _Writes, safe: bool) -> None:
        company = self._company
        store = ConversationStore(conn, self._st, row, event.channel, now, now.astimezone(ZoneInfo(company.timezone)).year)
        hint = known_zone(event.timezone_hint)
        if hint and hint != row.timezone_hint:
            await store.update_customer(timezone_hint=hint)
        customer = CustomerView(
            row.customer_id, row.locale, row.locale_chosen, row.timezone, row.phone, row.display_name, row.timezone_hint,
        )
        turn = Turn(
            event=numbered.resolve(event, row.slots), customer=customer, company=company, store=store,
            t=Translator(row.locale, customer.zone(company.timezone)), now=now,
            state=row.state, slots=row.slots, mode=row.mode, ticket_id=row.ticket_id,
        )
        share_open = bool(row.slots.get(share.OPEN))
        if safe:
            turn.say(turn.t._("Sorry, something went wrong on our side. Your message is saved; please try again, or type /menu."))
        else:
            await self._route(turn)
        share.settle(turn, share_open)
        numbered.remember(turn)
        row.state, row.slots, row.mode, row.ticket_id = turn.state, turn.slots, turn.mode, turn.ticket_id
        row.locale = turn.customer.locale
        if row.identity_unreachable:  # they wrote to us, so they can be reached again
            writes.reachable.append({"b_id": row.identity_id})
            row.identity_unreachable = False
        writes.add(row, event, turn)


class _Writes:
    """Everything a batch writes, flushed in a few multi-row statements."""

    def __init__(self, now: datetime, outbox: Outbox | None) -> None:
        self.now = now
        self._outbox = outbox
        self._leases: dict[str, tuple[str, datetime] | None] = {}
        self.conversations: dict[int, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.reachable: list[dict[str, Any]] = []

    def add(self, row: ConversationRow, event: Event, turn: Turn) -> None:
        now = self.now
        self.conversations[row.id] = {
            "b_id": row.id, "b_state": row.state, "b_slots": row.slots, "b_mode": row.mode,
            "b_ticket_id": row.ticket_id, "b_now": now,
        }
        ticket_id = turn.message_ticket_id or row.ticket_id
        base = {"conversation_id": row.id, "ticket_id": ticket_id, "channel": event.channel, "created_at": now}
        self.messages.append({
            **base, "direction": "in", "author": "customer", "channel_message_id": event.message_id,
            "text": event.stored_text(),
            "attachments": [{"kind": a.kind, "ref": a.ref, "name": a.name, "mime": a.mime} for a in event.attachments],
        })
        replies = list(turn.replies)
        if event.kind is Kind.CHOICE and event.origin_message_id:
            # Close the pressed keyboard, showing what was chosen.
            text = event.origin_text or ""
            if turn.chosen_label:
                text = f"{text}\n\n✓ {turn.chosen_label}"
            replies.insert(0, Reply(text=text.strip() or "✓", replaces=event.origin_message_id))
        for reply in replies:
            if reply.replaces is None:
                self.messages.append({
                    **base, "direction": "out", "author": "bot", "channel_message_id": None,
                    "text": reply.text, "attachments": [],
                })
            self.outbox.append({
                "channel": event.channel, "chat_id": event.chat_id, "conversation_id": row.id,
                "payload": reply.to_payload(), "next_attempt_at": now, "created_at": now, **self._claim(event.channel),
            })

    def _claim(self, channel: str) -> dict[str, Any]:
        if channel not in self._leases:
            self._leases[channel] = self._outbox.lease_for(channel, self.now) if self._outbox else None
        lease = self._leases[channel]
        if lease is None:
            return {"status": "pending", "attempts": 0, "lease_owner": None, "lease_until": None}
        return {"status": "sending", "attempts": 1, "lease_owner": lease[0], "lease_until": lease[1]}

    async def flush(self, conn: AsyncConnection, st: Statements) -> list[Queued]:
        if self.conversations:
            await conn.execute(st.save, list(self.conversations.values()))
        if self.reachable:
            await conn.execute(st.reachable, self.reachable)
        if self.messages:
            await conn.execute(st.messages, self.messages)
        if not self.outbox:
            return []
        result = await conn.execute(st.outbox, self.outbox)
        return [
            Queued(id, row["channel"], row["chat_id"], row["payload"], row["status"] == "sending")
            for (id,), row in zip(result, self.outbox)
        ]
