"""The outbox sender: delivers queued replies through each channel's transport.

- Rows are claimed (`pending` -> `sending`) in one statement per batch, so two
  processes never send the same row; confirmations (`sent`) are written in
  batches too, in the next claim's transaction.
- Rows of a channel without a rate limit skip the claim: the committer writes
  them already claimed by this process and hands them over in memory
  (`lease_for`, `queued`); they are then handled exactly like claimed rows.
- A row claimed by a process that died before confirming it, or whose request went
  out but whose answer was lost (`Uncertain`), is marked
  `uncertain`, never re-sent: a customer must not get a message twice.
- Per chat, replies go out in order; a chat that must wait (flood control,
  network trouble, its own rate limit) holds only itself up: a rate-limited
  channel claims only each chat's first few due rows and skips chats with a row
  being sent. Rate limits are token buckets (overall, per chat, per group).
- Leases of rows held are renewed; a stop gives unsent rows back as pending.
- Store errors (an outage) are retried with back-off; nothing stops for good.
- A channel that refuses a chat for good (Telegram 403: bot blocked) marks the
  identity unreachable and drops that chat's queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import bindparam, case, exists, func, select, update

from bot.core.dispatcher import Bus, Queued
from bot.core.events import Reply
from bot.logs import event as log_event
from services.handoff import Mode
from storage.db import Store, StoreConnection
from storage.leases import LeasedQueue
from storage.models import utcnow
from storage.turns import conversations, identities, outbox

sending = outbox.alias("sending")
# The outbox on the leased-queue mechanism it shares with the jobs (storage/leases.py).
QUEUE = LeasedQueue(outbox, due="next_attempt_at", held="sending")

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with back-off capped at 5 minutes: about 40 minutes of trying
# The overall rate is kept a little under the channel's limit and without bursts:
# requests in flight at once reach the server closer together than they left
# (network and scheduling jitter), and at exactly the limit, or after a burst,
# that trips its flood control now and then. No second ever holds more than the limit.
HEADROOM = 0.99


class RetryLater(Exception):
    """Flood control: try this chat again after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Temporary(Exception):
    """Network trouble or a server error: retry with back-off."""


class Uncertain(Exception):
    """The request went out but its answer was lost: the reply may have arrived.
    Marked `uncertain` and not sent again, as after a crash."""


class Unreachable(Exception):
    """The channel refuses this chat for good (blocked, deleted)."""


class NotConnected(Exception):
    """The chat has no live connection (web chat); it gets the reply when it reconnects."""


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        """Send one reply (outbox row `row_id`); returns the channel's message id."""
        ...


@runtime_checkable
class SplitsReplies(Protocol):
    """A transport whose reply may become several channel messages (Telegram: a long text in
    parts, buttons apart); each counts against the channel's limits."""

    def messages(self, reply: Reply) -> int: ...


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """`rate` tokens per second, up to `burst` saved; rate <= 0 means unlimited."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic, sleep: Sleep | None = None) -> None:
        self.rate, self.burst, self._clock, self._sleep = rate, max(burst, 1.0), clock, sleep
        self.tokens, self.stamp = self.burst, clock()

    def delay(self) -> float:
        """Take a token; returns how long to wait before using it."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def take(self) -> None:
        wait = self.delay()
        if wait:
            await (self._sleep or asyncio.sleep)(wait)  # None: asyncio's, looked up when it waits


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: float = 0.0  # overall, 0 = unlimited
    per_chat: float = 0.0
    chat_burst: int = 1
    group_per_minute: float = 0.0  # a group chat (negative Telegram chat id), 0 = as per_chat

    def bucket(self, chat_id: str, clock: Clock, sleep: Sleep | None = None) -> TokenBucket:
        if self.group_per_minute and is_group(chat_id):
            # Telegram: 20 messages a minute in a group; no burst, so no 60 s window holds more.
            return TokenBucket(self.group_per_minute / 60.0, 1, clock, sleep)
        return TokenBucket(self.per_chat, self.chat_burst, clock, sleep)

    def rows_per_claim(self, group: bool) -> int:
        """How many of one chat's rows a claim takes: what the chat may send at once."""
        if group and self.group_per_minute:
            return 1
        return max(1, self.chat_burst) if self.per_chat > 0 else 1_000


def is_group(chat_id: str) -> bool:
    """Telegram's group and channel chats have negative ids."""
    return chat_id.startswith("-")


class SendResult(StrEnum):
    """What became of one attempt to send a reply (metrics label, log field)."""

    SENT = "sent"
    RETRY = "retry"  # flood control or a passing failure: due again later
    FAILED = "failed"  # gave up after the last try, or the channel rejected it
    UNREACHABLE = "unreachable"  # the customer blocked us or the chat is gone
    UNCERTAIN = "uncertain"  # the answer was lost: never sent again


class SendObserver(Protocol):
    def send(self, channel: str, result: str) -> None: ...


@dataclass(slots=True)
class _Row:
    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int
    conversation_id: int | None = None


def backoff(attempts: int) -> float:
    return min(300.0, 2.0 ** attempts) * random.uniform(0.8, 1.2)


class OutboxSender:
    def __init__(
        self, engine: Store, transports: list[Transport], limits: dict[str, Limits] | None = None,
        *, poll: float = 1.0, owner: str | None = None, lease: float = 30.0, clock: Clock = time.monotonic,
        sleep: Sleep | None = None,  # the rate limits' waits: a test advances its clock instead
    ) -> None:
        self._engine = engine
        self._transports = {t.channel: t for t in transports}
        self._limits = limits or {}
        self._clock, self._sleep = clock, sleep
        self._global = {
            c: TokenBucket(lim.per_second * HEADROOM, 1, clock, sleep) for c, lim in self._limits.items()
        }
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._poll = poll
        # A row whose lease ran out belonged to a sender that died; ours are renewed.
        self._lease = timedelta(seconds=lease)
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._queues: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._in_flight: dict[tuple[str, str], int] = {}  # chat -> row handed to the network right now
        self._blocked: dict[tuple[str, str], float] = {}  # chat -> clock time it may send again
        self._sent: list[dict[str, Any]] = []
        self._closing = False
        self._claiming = asyncio.Lock()  # a claim's transaction: a stop waits for it to end
        self._cut: list[_Row] = []  # rows whose send was cut off by a stop: uncertain
        self.metrics: SendObserver | None = None
        self.bus: Bus | None = None  # told when replies are confirmed sent, or fail (the console's delivery ticks)
        self.store_error: str | None = None  # the last store failure of the run loop, until it recovers
        self._claim = {channel: self._claim_statement(channel, engine.dialect.name) for channel in self._transports}
        self._mark_sent = (
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"))
            .values(status="sent", sent_at=bindparam("b_at"), channel_message_id=bindparam("b_mid"), lease_until=None)
        )

    def _claim_statement(self, channel: str, dialect: str) -> Any:
        """Claim due rows of `channel`, in id order, at most `limit`.

        A rate-limited channel takes only the first few rows of each chat (what it may
        send at once) and skips a chat while any of its rows is being sent, by any
        process: one chat's backlog never holds up the others (no head-of-line stall),
        and a chat's replies still go out in order."""
        limits = self._limits.get(channel)
        if limits is None or limits.per_second <= 0:
            claimable = QUEUE.due_rows(dialect, outbox.c.channel == channel)
        else:
            per_chat = case(
                (outbox.c.chat_id.startswith("-"), limits.rows_per_claim(group=True)),  # as is_group()
                else_=limits.rows_per_claim(group=False),
            )
            ranked = (
                select(
                    outbox.c.id, outbox.c.next_attempt_at,
                    func.row_number().over(partition_by=outbox.c.chat_id, order_by=outbox.c.id).label("n"),
                    func.first_value(outbox.c.next_attempt_at).over(partition_by=outbox.c.chat_id, order_by=outbox.c.id).label("first_due"),
                    per_chat.label("k"),
                )
                .where(outbox.c.status == "pending", outbox.c.channel == channel)
                .where(~exists().where(
                    sending.c.channel == channel, sending.c.status == "sending", sending.c.chat_id == outbox.c.chat_id,
                ))
                .subquery()
            )
            due = bindparam("now", type_=outbox.c.next_attempt_at.type)
            claimable = (
                select(ranked.c.id)
                .where(ranked.c.n <= ranked.c.k, ranked.c.first_due <= due, ranked.c.next_attempt_at <= due)
                .order_by(ranked.c.id)
                .limit(bindparam("limit"))
            )
            # No FOR UPDATE with a window function: the status test below makes a row
            # claimed meanwhile by another process drop out (PostgreSQL re-checks it).
        return QUEUE.claim(claimable, self.owner, outbox.c.id, outbox.c.channel, outbox.c.chat_id, outbox.c.payload,
                           outbox.c.attempts, outbox.c.conversation_id)

    def lease_for(self, channel: str, now: datetime) -> tuple[str, datetime] | None:
        """The committer writes a new row already claimed by us when we can send it
        at once: a channel here without a rate limit. A rate-limited channel's rows
        wait as `pending` and are claimed about a second's worth at a time (see `_claim_size`)."""
        if channel not in self._transports or self._limited(channel) or self._closing:
            return None
        return self.owner, now + self._lease

    def queued(self, rows: list[Queued]) -> None:
        """Called by the dispatcher after a commit: send the rows claimed for us, claim the rest."""
        for row in rows:
            if row.claimed:
                self._enqueue(_Row(row.id, row.channel, row.chat_id, row.payload, 1, row.conversation_id))
            elif row.channel in self._transports:
                self._wake.set()

    async def drained(self, channel: str, chat_id: str) -> None:
        """Returns once this process holds nothing more to send to the chat (WeChat's
        passive reply waits for it; the caller bounds the wait)."""
        worker = self._workers.get((channel, chat_id))
        if worker is not None:
            await asyncio.shield(worker)

    def _limited(self, channel: str) -> bool:
        limits = self._limits.get(channel)
        return limits is not None and limits.per_second > 0

    def unblock(self, channel: str, chat_id: str) -> None:
        """The chat can be reached again (a web visitor reconnected): stop holding it."""
        self._blocked.pop((channel, chat_id), None)
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until cancelled. A store error (an outage) is retried with
        back-off; rows already claimed stay in hand and their confirmations are kept."""
        next_recovery, failures = 0.0, 0
        while not self._closing:
            self._wake.clear()
            try:
                if self._clock() >= next_recovery:
                    await self.renew()
                    await self.recover()
                    next_recovery = self._clock() + self._lease.total_seconds() / 3
                rows = await self.claim()
            except Exception as error:  # the store is unreachable or failing: wait and try again
                failures += 1
                if self.store_error is None:
                    log.exception("outbox: the store failed; retrying with back-off")
                self.store_error = f"{type(error).__name__}: {error}"
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)) * random.uniform(0.8, 1.2))
                continue
            if self.store_error is not None:
                log.warning("outbox: the store is back after %d failed attempts", failures)
            self.store_error, failures = None, 0
            for row in rows:
                self._enqueue(row)
            if rows:
                continue
            # Confirmations are written by the next claim: within 0.1 s when there are some.
            with suppress(TimeoutError):
                async with asyncio.timeout(min(self._poll, 0.1) if self._sent else self._poll):
                    await self._wake.wait()  # (asyncio.wait_for can swallow a cancel in 3.11)

    async def close(self, grace: float = 5.0) -> None:
        """Stop: claim nothing more, let sends already on the network finish (at most
        `grace` seconds), give every claimed row not yet handed to the network back
        as pending (it was not sent, so it is not uncertain), write the confirmations."""
        self._closing = True
        self._wake.set()
        async with self._claiming:  # a claim under way commits first: its rows are ours to give back
            pass
        idle = [task for key, task in self._workers.items() if key not in self._in_flight]
        for task in idle:
            task.cancel()
        busy = [task for key, task in self._workers.items() if key in self._in_flight]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in list(self._workers.values()):
            task.cancel()  # a send still out after the grace: left `sending`, so `uncertain` later
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._queues.clear()
        try:
            async with self._confirming() as conn:
                # Every row still claimed by us and not cut off mid-send was never sent: the queued
                # ones, and those a last claim or the committer handed us as the stop began.
                unsent = await QUEUE.give_back_held(conn, self.owner, keep=[r.id for r in self._cut])
                if unsent:
                    log.info("outbox: %d claimed replies given back unsent", unsent)
                if self._cut:
                    await conn.execute(
                        update(outbox).where(outbox.c.id.in_([r.id for r in self._cut]))
                        .values(status="uncertain", error="the sender stopped while sending", lease_until=None)
                    )
                    log.warning("outbox: %d replies cut off while sending: uncertain", len(self._cut))
        except Exception:
            log.exception("outbox: could not give back the unsent replies at stop")

    async def renew(self) -> int:
        """Extend the lease of every row this sender holds (a backlog longer than the lease)."""
        async with self._engine.begin() as conn:
            return await QUEUE.renew(conn, self.owner, utcnow() + self._lease)

    async def recover(self) -> int:
        """Rows some process claimed and never confirmed: mark them uncertain, never resend."""
        async with self._engine.begin() as conn:
            count = await QUEUE.recover(conn, utcnow(), status="uncertain", error="claimed by a sender that stopped before confirming")
        if count:
            log.warning("%d outbox rows marked uncertain after a sender stopped", count)
        return count

    async def oldest_due(self) -> float | None:
        """Seconds the oldest due, unclaimed row has waited (None: none waits)."""
        now = utcnow()
        async with self._engine.connect() as conn:
            due = await conn.scalar(
                select(func.min(outbox.c.next_attempt_at))
                .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
            )
        return None if due is None else (now - due).total_seconds()

    def _claim_size(self, channel: str) -> int:
        """How many rows to claim now. A rate-limited channel holds about a second's
        worth in memory: a crash then leaves few rows `uncertain`."""
        if not self._limited(channel):
            return 500
        held = sum(len(queue) for key, queue in self._queues.items() if key[0] == channel)
        return max(0, int(self._limits[channel].per_second) - held)

    async def claim(self) -> list[_Row]:
        """Claim what is due, in one transaction that also confirms what was sent."""
        if self._closing:
            return []
        sizes = {channel: self._claim_size(channel) for channel in sorted(self._transports)}
        sizes = {channel: size for channel, size in sizes.items() if size}
        if not sizes and not self._sent:
            return []
        now = utcnow()
        rows = []
        async with self._claiming, self._confirming() as conn:
            if self._closing:  # a stop came while this claim waited its turn
                return []
            for channel, size in sizes.items():
                params = {"now": now, "lease": now + self._lease, "limit": size}
                result = await conn.execute(self._claim[channel], params)
                rows += [_Row(r.id, r.channel, r.chat_id, r.payload, r.attempts, r.conversation_id) for r in result]
        rows.sort(key=lambda r: r.id)
        return rows

    def _enqueue(self, row: _Row) -> None:
        if self._closing:  # stopping: the row is given back, not sent
            return
        key = (row.channel, row.chat_id)
        self._queues[key].append(row)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._chat_worker(key))

    async def _chat_worker(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        try:
            while queue and not self._closing:
                wait = self._blocked.get(key, 0.0) - self._clock()
                if wait > 0:
                    await self._release(queue, wait, None)
                    return
                row = queue[0]
                await self._throttle(key, self._messages(row))
                if self._closing:
                    return
                self._in_flight[key] = row.id
                try:
                    message_id = await self._transports[row.channel].deliver(row.chat_id, Reply.from_payload(row.payload), row.id)
                except asyncio.CancelledError:  # stopped while on the network: it may have arrived
                    self._cut.append(queue.pop(0))
                    raise
                except RetryLater as flood:
                    self._report(row, SendResult.RETRY)
                    self._blocked[key] = self._clock() + flood.seconds
                    await self._release(queue, flood.seconds, str(flood))
                    return
                except (Temporary, NotConnected) as trouble:
                    if row.attempts >= MAX_ATTEMPTS:
                        self._report(row, SendResult.FAILED)
                        await self._fail([queue.pop(0)], f"gave up: {trouble}")
                        continue
                    self._report(row, SendResult.RETRY)
                    delay = 3600.0 if isinstance(trouble, NotConnected) else backoff(row.attempts)
                    self._blocked[key] = self._clock() + delay
                    await self._release(queue, delay, str(trouble) or type(trouble).__name__)
                    return
                except Unreachable as refused:
                    self._report(row, SendResult.UNREACHABLE)
                    await self._unreachable(key, queue, str(refused))
                    return
                except Uncertain as unknown:
                    log.warning("outbox row %s: delivery unknown (%s); not sent again", row.id, unknown)
                    self._report(row, SendResult.UNCERTAIN)
                    await self._fail([queue.pop(0)], f"answer lost: {unknown}", status="uncertain")
                    continue
                except Exception as error:  # a reply the channel will never take (bad request)
                    log.exception("outbox row %s rejected by %s", row.id, row.channel,
                                  extra={"event": "error", "channel": row.channel, "outbox_id": row.id})
                    self._report(row, SendResult.FAILED)
                    await self._fail([queue.pop(0)], f"rejected: {error}")
                    continue
                finally:
                    self._in_flight.pop(key, None)
                queue.pop(0)
                self._report(row, SendResult.SENT)
                # Confirmed by the run loop's next transaction: a worker never waits for the store.
                self._sent.append({"b_id": row.id, "b_at": utcnow(), "b_mid": message_id, "b_conversation": row.conversation_id})
        finally:
            self._workers.pop(key, None)
            if not queue and not self._closing:
                self._queues.pop(key, None)
            if self._limited(key[0]):
                self._wake.set()  # claim more for this channel

    def _report(self, row: _Row, result: SendResult) -> None:
        if self.metrics:
            self.metrics.send(row.channel, result.value)
        log_event(log, "send", channel=row.channel, outbox_id=row.id, attempt=row.attempts, result=result.value)

    def _messages(self, row: _Row) -> int:
        """How many channel messages the row becomes (a long text in parts, buttons apart):
        each counts against the limits. A transport says so with `messages(reply)`."""
        transport = self._transports[row.channel]
        return transport.messages(Reply.from_payload(row.payload)) if isinstance(transport, SplitsReplies) else 1

    async def _throttle(self, key: tuple[str, str], messages: int = 1) -> None:
        limits = self._limits.get(key[0])
        if limits is None:
            return
        bucket = self._chat_buckets.get(key)
        if bucket is None:
            bucket = self._chat_buckets[key] = limits.bucket(key[1], self._clock, self._sleep)
        for _ in range(messages):
            await bucket.take()
            await self._global[key[0]].take()

    async def flush(self) -> None:
        """Write the confirmations gathered so far."""
        if self._sent:
            async with self._confirming():
                pass

    @asynccontextmanager
    async def _confirming(self) -> AsyncIterator[StoreConnection]:
        """A transaction that first marks the delivered rows `sent`; if it fails, they are kept for the next."""
        batch, self._sent = self._sent, []
        watched: set[int] = set()
        try:
            async with self._engine.begin() as conn:
                if batch:
                    await conn.execute(self._mark_sent, batch)
                    watched = await self._with_a_person(conn, {sent["b_conversation"] for sent in batch})
                yield conn
        except BaseException:
            self._sent = batch + self._sent
            raise
        self._tell(watched)

    async def _with_a_person(self, conn: StoreConnection, conversation_ids: set[int | None]) -> set[int]:
        """Of these conversations, those a person handles or awaits: the console shows their replies'
        delivery state (the bot's other chats would only make every console page reload)."""
        known = {c for c in conversation_ids if c is not None}
        if self.bus is None or not known:
            return set()
        rows = await conn.execute(select(conversations.c.id).where(conversations.c.id.in_(known), conversations.c.mode != Mode.BOT))
        return {conversation_id for (conversation_id,) in rows}

    def _tell(self, conversation_ids: set[int]) -> None:
        if self.bus is not None and conversation_ids:
            self.bus.changed(conversation_ids)

    async def _write(self, *statements: Any) -> None:
        """Run `statements` in one transaction; through a store outage, retry with back-off
        (the rows stay claimed by us meanwhile: nothing else sends them)."""
        failures = 0
        while True:
            try:
                async with self._engine.begin() as conn:
                    for statement in statements:
                        await conn.execute(statement)
                return
            except Exception:
                failures += 1
                if failures == 1:
                    log.exception("outbox: a store write failed; retrying")
                if self._closing:
                    raise
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))

    async def _release(self, queue: list[_Row], delay: float, error: str | None) -> None:
        """Give this chat's claimed rows back, due after `delay`, keeping their order."""
        rows = list(queue)
        due = utcnow() + timedelta(seconds=delay)
        await self._write(
            update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
            .values(status="pending", next_attempt_at=due, lease_owner=None, lease_until=None, error=error)
        )
        del queue[: len(rows)]

    async def _fail(self, rows: list[_Row], error: str, status: str = "failed") -> None:
        await self._write(
            update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
            .values(status=status, error=error, lease_until=None)
        )
        self._tell({r.conversation_id for r in rows if r.conversation_id is not None})  # rare: no need to filter

    async def _unreachable(self, key: tuple[str, str], queue: list[_Row], reason: str) -> None:
        channel, chat_id = key
        queue.clear()
        await self.flush()
        await self._write(
            update(identities)
            .where(identities.c.channel == channel, identities.c.chat_id == chat_id)
            .values(unreachable_at=utcnow()),
            # Everything else waiting for this chat will not get through either.
            update(outbox)
            .where(
                outbox.c.channel == channel, outbox.c.chat_id == chat_id,
                outbox.c.status.in_(("pending", "sending")),
            )
            .values(status="failed", error=f"unreachable: {reason}", lease_until=None),
        )
