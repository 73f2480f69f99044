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

Agents' actions and due jobs (`await dispatcher.act(action)`, bot/core/actions.py)
join the same queue and are applied in arrival order between the customers'
batches: a run of consecutive actions is one transaction that holds their
conversations the same way, each action in a savepoint of its own, so a refused or
failing action leaves no effects and the others commit; a store failure fails them all.
After each commit the bus (if any) hears which conversations changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot.company import Company
from bot.core import actions, numbered, share
from bot.core.actions import Action, ActionResult
from bot.core.events import Event, Kind, Reply
from bot.core.language import detect
from bot.core.turn import CustomerView, Turn
from bot.i18n import Translator, normalize_locale
from bot.logs import event as log_event
from bot.media import MediaStore
from services.handoff import Mode, Refused
from services.timezones import known_zone
from storage.db import Store, StoreConnection, savepoint
from storage.models import utcnow
from storage.surveys import plan_surveys
from storage.turns import (
    ConversationRow,
    ConversationStore,
    NewIdentity,
    Statements,
    accept_receipts,
    find_or_create_identities,
    load_conversations,
    tickets,
)

log = logging.getLogger(__name__)

Route = Callable[[Turn], Awaitable[None]]


class StoreUnavailable(Exception):
    """The store failed (unreachable, locked too long): the turn was not committed.
    The channel must not acknowledge the delivery; trying again later is safe."""


def is_store_failure(error: BaseException) -> bool:
    """A failure of the store itself, not of the turn: no apology, no per-event retry."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (OperationalError, InterfaceError, OSError, TimeoutError))


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row written by a batch; `claimed`: already leased to this process's sender."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    claimed: bool
    conversation_id: int | None = None


class Outbox(Protocol):
    """The sender of this process, as the committer sees it."""

    def lease_for(self, channel: str, now: datetime) -> tuple[str, datetime] | None:
        """(owner, lease end) to write new rows of `channel` already claimed, or None: leave them pending."""
        ...

    def queued(self, rows: list[Queued]) -> None:
        """After a commit: the batch's rows (claimed ones are handed over here, in memory)."""
        ...


class Mirror(Protocol):
    """The agents' group (bot/channels/telegram_group.py): what a turn or an action posts there,
    as (chat id, payload) outbox rows of `channel`, written in the same transaction."""

    channel: str

    def for_turn(self, before: str, row: ConversationRow, event: Event) -> list[tuple[str, dict[str, Any]]]: ...

    def for_action(self, action: Action, result: ActionResult, before: str, row: ConversationRow) -> list[tuple[str, dict[str, Any]]]: ...


class Observer(Protocol):
    """Counts what the core does (bot/metrics.py)."""

    def update(self, channel: str, seconds: float | None) -> None:
        """An update handled; `seconds` from arrival to commit, None when it failed."""

    def turn(self, channel: str) -> None: ...


class Bus(Protocol):
    """Who hears of committed changes (the console's live updates)."""

    def changed(self, conversation_ids: set[int]) -> None: ...


@dataclass(slots=True)
class _Item:
    event: Event | Action
    done: asyncio.Future[Any]


class Dispatcher:
    def __init__(
        self,
        engine: Store,
        company: Company,
        route: Route,
        *,
        outbox: Outbox | None = None,
        max_batch: int = 200,
        window: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._clock = clock  # a turn's `now` (tests give a fixed one)
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
        self.files: MediaStore | None = None  # settable: where flows put files they send
        self._task: asyncio.Task[None] | None = None
        self.bus: Bus | None = None
        self.mirror: Mirror | None = None  # the agents' Telegram group, when configured
        self.metrics: Observer | None = None
        self._people: set[int] = set()  # conversations of the batch that involve a person
        self._idle = asyncio.Event()  # set while nothing is pending or being committed
        self._idle.set()

    async def handle(self, event: Event) -> None:
        """Process `event`; returns when its turn is committed. Raises
        `StoreUnavailable` when the store failed and nothing was committed."""
        if self.metrics is None:
            await self._enqueue(event)
            return
        start = time.monotonic()
        seconds: float | None = None
        try:
            await self._enqueue(event)
            seconds = time.monotonic() - start
        finally:
            self.metrics.update(event.channel, seconds)

    async def handle_delivery(self, event: Event) -> bool:
        """`handle`, saying whether the event was new: False for a delivery already
        processed (a channel's retry, dropped by the receipts)."""
        fresh: bool = await self._enqueue(event)
        return fresh

    async def act(self, action: Action) -> ActionResult:
        """Apply an agent's action; returns once it is committed (or refused, with the reason)."""
        result: ActionResult = await self._enqueue(action)
        return result

    async def _enqueue(self, work: Event | Action) -> Any:
        if self._task is None or self._task.done():
            if self._task is not None:  # it should never end; if it did, say so and start again
                log.error("the committer had stopped (%r); restarting it", self._task)
            self._task = asyncio.create_task(self._run(), name="dispatcher")
        item = _Item(work, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        self._idle.clear()
        self._wake.set()
        return await item.done

    def alive(self) -> bool:
        return self._task is None or not self._task.done()

    async def close(self, grace: float = 10.0) -> None:
        """Finish the turns in hand (at most `grace` seconds), then stop the committer."""
        if self._task:
            with suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()
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
                try:
                    # In arrival order: a run of customer events as one batch, a run of actions as another.
                    run: list[_Item] = []
                    for item in batch:
                        if run and isinstance(item.event, Event) is not isinstance(run[0].event, Event):
                            await self._commit_run(run)
                            run = []
                        run.append(item)
                    if run:
                        await self._commit_run(run)

                except Exception as error:  # never expected; the loop must go on regardless
                    log.exception("committing a batch failed")
                    for item in batch:
                        if not item.done.done():
                            item.done.set_exception(error)
            self._idle.set()

    async def _commit_run(self, run: list[_Item]) -> None:
        if isinstance(run[0].event, Event):
            await self._commit(run)
        else:
            await self._apply(run)

    async def _apply(self, run: list[_Item]) -> None:
        """Consecutive actions in one transaction, each in a savepoint of its own: a refused or
        failing action rolls back only its own effects. A store failure fails them all (nothing
        committed). Results, outbox rows and the bus hear of it only after the commit."""
        done: list[tuple[_Item, ActionResult | Exception, list[Queued]]] = []
        try:
            writes = _Writes(self._clock(), self.outbox)
            async with self._engine.begin() as conn:
                # PostgreSQL: every conversation of the run locked at once, in id order (as a
                # customers' batch does), so two processes' runs never wait for each other in a circle.
                await load_conversations(conn, self._st, [_action(item).conversation_id for item in run])
                for item in run:
                    action = _action(item)
                    queued: list[Queued] = []
                    outcome: ActionResult | Exception
                    try:
                        async with savepoint(conn):
                            outcome = await self._action(conn, action, writes, queued)
                    except Refused as refusal:
                        outcome, queued = ActionResult(False, refusal.reason, refusal.owner), []
                    except Exception as error:
                        if is_store_failure(error):
                            raise
                        log.exception("action failed: %s", action)
                        outcome, queued = error, []
                    done.append((item, outcome, queued))
        except Exception as error:
            if is_store_failure(error):
                log.warning("store failure, %d actions not committed: %s: %s", len(run), type(error).__name__, error)
            else:
                log.exception("committing %d actions failed", len(run))
            for item in run:
                if not item.done.done():
                    item.done.set_exception(error)
            return
        changed: set[int] = set()
        for item, outcome, queued in done:
            if item.done.done():
                continue
            if isinstance(outcome, Exception):
                item.done.set_exception(outcome)
                continue
            item.done.set_result(outcome)
            if queued and self.outbox:
                self.outbox.queued(queued)
            if outcome.ok:
                changed.add(_action(item).conversation_id)
        if changed and self.bus:
            self.bus.changed(changed)

    async def _action(self, conn: StoreConnection, action: Action, writes: _Writes, queued: list[Queued]) -> ActionResult:
        """One action, inside the run's transaction; its outbox rows are added to `queued`."""
        now = self._clock()
        rows = await load_conversations(conn, self._st, [action.conversation_id])
        row = rows.get(action.conversation_id)
        if row is None:
            raise Refused("no such conversation")

        async def emit(channel: str, chat_id: str, reply: Reply | dict[str, Any]) -> int:
            payload = reply if isinstance(reply, dict) else reply.to_payload()
            values = {
                "channel": channel, "chat_id": chat_id, "conversation_id": row.id, "payload": payload,
                "next_attempt_at": now, "created_at": now, **writes.claim(channel),
            }
            row_id: int = await conn.scalar(self._st.outbox_row, values)
            queued.append(Queued(row_id, channel, chat_id, values["payload"], values["status"] == "sending", row.id))
            return row_id

        before = row.mode
        result = await actions.apply(conn, row, action, now, self._company.timezone, emit)
        if action.act is actions.Act.RESOLVE and result.ok and result.ticket_id and self._company.surveys:
            await plan_surveys(conn, self._company.surveys, result.ticket_id, now)  # §5: every service gets its return visit
        if self.mirror is not None:
            for chat_id, payload in self.mirror.for_action(action, result, before, row):
                await emit(self.mirror.channel, chat_id, payload)
        await conn.execute(self._st.save, [{
            "b_id": row.id, "b_state": row.state, "b_slots": row.slots, "b_mode": row.mode,
            "b_ticket_id": row.ticket_id, "b_now": now,
        }])
        return result

    async def _commit(self, batch: list[_Item], safe: bool = False) -> None:
        try:
            queued, identities, fresh = await self._transaction(
                [item.event for item in batch if isinstance(item.event, Event)], safe)
        except Exception as error:
            if is_store_failure(error):
                # The store, not the turn: no apology, no one-by-one retry; the channels
                # leave the deliveries unacknowledged and try again.
                log.warning("store failure, %d events not committed: %s: %s", len(batch), type(error).__name__, error)
                failure = StoreUnavailable(f"{type(error).__name__}: {error}")
                failure.__cause__ = error
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(failure)
                return
            if len(batch) > 1:
                # One bad event must not sink the others: retry each on its own.
                for item in batch:
                    await self._commit([item])
            elif not safe:
                failed = batch[0].event
                assert isinstance(failed, Event)
                known = self._identities.get((failed.channel, failed.user_id))
                log.exception("turn failed; recording the message with an apology", extra={
                    "event": "error", "channel": failed.channel, "conversation_id": known[1] if known else None,
                })
                await self._commit(batch, safe=True)
            elif not batch[0].done.done():
                batch[0].done.set_exception(error)
            return
        self._identities.update(identities)
        for item in batch:
            if not item.done.done():
                item.done.set_result(id(item.event) in fresh)
        if queued and self.outbox:
            self.outbox.queued(queued)
        if self.bus and self._people:
            self.bus.changed(self._people)
            self._people = set()

    async def _transaction(
        self, events: list[Event], safe: bool,
    ) -> tuple[list[Queued], dict[tuple[str, str], tuple[int, int]], set[int]]:
        now = self._clock()
        async with self._engine.begin() as conn:
            self._people = set()
            fresh = await self._deduplicate(conn, events, now)
            wanted: dict[tuple[str, str], NewIdentity] = {}
            for event in fresh:
                key = (event.channel, event.user_id)
                if key not in self._identities and key not in wanted:
                    wanted[key] = _new_identity(event)
            identities = await find_or_create_identities(conn, self._st, list(wanted.values()), now)
            known = {**self._identities, **identities}
            rows = await load_conversations(conn, self._st, [known[(e.channel, e.user_id)][1] for e in fresh])
            # Chats cached here whose customer's data was erased (by any worker): a new file each.
            stale = {(e.channel, e.user_id): _new_identity(e) for e in fresh if rows[known[(e.channel, e.user_id)][1]].external_id != e.user_id}
            if stale:
                renewed = await find_or_create_identities(conn, self._st, list(stale.values()), now)
                identities.update(renewed)
                known.update(renewed)
                rows.update(await load_conversations(conn, self._st, [ids[1] for ids in renewed.values()]))
            writes = _Writes(now, self.outbox)
            for event in fresh:
                row = rows[known[(event.channel, event.user_id)][1]]
                await self._turn(conn, row, event, now, writes, safe)
            queued = await writes.flush(conn, self._st)
            numbers = await self._ticket_numbers(conn, writes.turns)
        for channel, conversation_id, ticket_id, state, mode, kind in writes.turns:
            if self.metrics:
                self.metrics.turn(channel)
            log_event(log, "turn", channel=channel, conversation_id=conversation_id, ticket=numbers.get(ticket_id),
                      kind=kind, state=state or "menu", mode=mode)
        return queued, identities, {id(event) for event in fresh}

    async def _ticket_numbers(self, conn: StoreConnection, turns: list[tuple[Any, ...]]) -> dict[int | None, str]:
        """The readable numbers of the tickets the batch's turns are about, for the log."""
        ids = {t[2] for t in turns if t[2] is not None}
        if not ids or not log.isEnabledFor(logging.INFO):
            return {}
        rows = await conn.execute(select(tickets.c.id, tickets.c.number).where(tickets.c.id.in_(ids)))
        return {id: number for id, number in rows}

    async def _deduplicate(self, conn: StoreConnection, events: list[Event], now: datetime) -> list[Event]:
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

    async def _turn(self, conn: StoreConnection, row: ConversationRow, event: Event, now: datetime, writes: _Writes, safe: bool) -> None:
        company = self._company
        before = row.mode
        store = ConversationStore(conn, self._st, row, event.channel, now, now.astimezone(ZoneInfo(company.timezone)).year)
        hint = known_zone(event.timezone_hint)
        if hint and hint != row.timezone_hint:
            await store.update_customer(timezone_hint=hint)
        customer = CustomerView(
            row.customer_id, row.locale, row.locale_chosen, row.timezone, row.phone, row.display_name, row.timezone_hint,
            language_streak=row.language_streak, language_offered=row.language_offered,
        )
        turn = Turn(
            event=numbered.resolve(event, row.slots), customer=customer, company=company, store=store,
            t=Translator(row.locale, customer.zone(company.timezone)), now=now,
            state=row.state, slots=row.slots, mode=row.mode, ticket_id=row.ticket_id, files=self.files,
            conversation_id=row.id,
        )
        share_open = bool(row.slots.get(share.OPEN))
        if safe:
            turn.say(turn.t._("Sorry, something went wrong on our side. Your message is saved; please try again, or type /menu."))
        else:
            await self._route(turn)
        share.settle(turn, share_open)
        if row.mode != Mode.BOT or turn.mode != Mode.BOT:
            self._people.add(row.id)
        numbered.remember(turn)
        row.state, row.slots, row.mode, row.ticket_id = turn.state, turn.slots, turn.mode, turn.ticket_id
        row.locale = turn.customer.locale
        if row.identity_unreachable:  # they wrote to us, so they can be reached again
            writes.reachable.append({"b_id": row.identity_id})
            row.identity_unreachable = False
        writes.add(row, event, turn)
        if self.mirror is not None:
            for chat_id, payload in self.mirror.for_turn(before, row, event):
                writes.post(self.mirror.channel, chat_id, row.id, payload)


def _action(item: _Item) -> Action:
    assert isinstance(item.event, Action)
    return item.event


def _new_identity(event: Event) -> NewIdentity:
    """The channel identity of an event's sender, as created on first contact."""
    return NewIdentity(event.channel, event.user_id, event.chat_id,
                       normalize_locale(detect(event.language_hint, event.text)), event.display_name)


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
        self.turns: list[tuple[str, int, int | None, str, str, str]] = []  # for the log and metrics

    def add(self, row: ConversationRow, event: Event, turn: Turn) -> None:
        now = self.now
        self.conversations[row.id] = {
            "b_id": row.id, "b_state": row.state, "b_slots": row.slots, "b_mode": row.mode,
            "b_ticket_id": row.ticket_id, "b_now": now,
        }
        ticket_id = turn.message_ticket_id or row.ticket_id
        self.turns.append((event.channel, row.id, ticket_id, row.state, row.mode, event.kind.value))
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
                "payload": reply.to_payload(), "next_attempt_at": now, "created_at": now, **self.claim(event.channel),
            })

    def post(self, channel: str, chat_id: str, conversation_id: int, payload: dict[str, Any]) -> None:
        self.outbox.append({
            "channel": channel, "chat_id": chat_id, "conversation_id": conversation_id, "payload": payload,
            "next_attempt_at": self.now, "created_at": self.now, **self.claim(channel),
        })

    def claim(self, channel: str) -> dict[str, Any]:
        if channel not in self._leases:
            self._leases[channel] = self._outbox.lease_for(channel, self.now) if self._outbox else None
        lease = self._leases[channel]
        if lease is None:
            return {"status": "pending", "attempts": 0, "lease_owner": None, "lease_until": None}
        return {"status": "sending", "attempts": 1, "lease_owner": lease[0], "lease_until": lease[1]}

    async def flush(self, conn: StoreConnection, st: Statements) -> list[Queued]:
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
            Queued(id, row["channel"], row["chat_id"], row["payload"], row["status"] == "sending", row["conversation_id"])
            for (id,), row in zip(result, self.outbox)
        ]
