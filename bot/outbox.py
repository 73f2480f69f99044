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
  network trouble) holds only itself up. Rate limits are token buckets.
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.dispatcher import Queued
from bot.core.events import Reply
from storage.models import utcnow
from storage.turns import identities, outbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with back-off capped at 5 minutes: about 40 minutes of trying


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


class TokenBucket:
    """`rate` tokens per second, up to `burst` saved; rate <= 0 means unlimited."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.tokens, self.stamp = self.burst, time.monotonic()

    def delay(self) -> float:
        """Take a token; returns how long to wait before using it."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def take(self) -> None:
        wait = self.delay()
        if wait:
            await asyncio.sleep(wait)


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: float = 0.0  # overall, 0 = unlimited
    per_chat: float = 0.0
    chat_burst: int = 1


@dataclass(slots=True)
class _Row:
    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int


def backoff(attempts: int) -> float:
    return min(300.0, 2.0 ** attempts) * random.uniform(0.8, 1.2)


class OutboxSender:
    def __init__(
        self, engine: AsyncEngine, transports: list[Transport], limits: dict[str, Limits] | None = None,
        *, poll: float = 1.0, owner: str | None = None, lease: float = 30.0,
    ) -> None:
        self._engine = engine
        self._transports = {t.channel: t for t in transports}
        self._limits = limits or {}
        self._global = {c: TokenBucket(lim.per_second, lim.per_second) for c, lim in self._limits.items()}
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._poll = poll
        # Rows are held only while being sent, so a short lease suffices; a row whose
        # lease ran out belonged to a sender that died.
        self._lease = timedelta(seconds=lease)
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._queues: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._blocked: dict[tuple[str, str], float] = {}  # chat -> monotonic time it may send again
        self._sent: list[dict[str, Any]] = []
        st_claimable = (
            select(outbox.c.id)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= bindparam("now"),
                outbox.c.channel == bindparam("b_channel"),
            )
            .order_by(outbox.c.id)
            .limit(bindparam("limit"))
        )
        if engine.dialect.name == "postgresql":
            st_claimable = st_claimable.with_for_update(skip_locked=True)
        self._claim = (
            update(outbox)
            .where(outbox.c.id.in_(st_claimable.scalar_subquery()))
            .values(status="sending", lease_owner=self.owner, lease_until=bindparam("lease"), attempts=outbox.c.attempts + 1)
            .returning(outbox.c.id, outbox.c.channel, outbox.c.chat_id, outbox.c.payload, outbox.c.attempts)
        )
        self._mark_sent = (
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"))
            .values(status="sent", sent_at=bindparam("b_at"), channel_message_id=bindparam("b_mid"), lease_until=None)
        )

    def lease_for(self, channel: str, now: datetime) -> tuple[str, datetime] | None:
        """The committer writes a new row already claimed by us when we can send it
        at once: a channel here without a rate limit. A rate-limited channel's rows
        wait as `pending` and are claimed a second's worth at a time (see `_claim_size`)."""
        if channel not in self._transports or self._limited(channel):
            return None
        return self.owner, now + self._lease

    def queued(self, rows: list[Queued]) -> None:
        """Called by the dispatcher after a commit: send the rows claimed for us, claim the rest."""
        for row in rows:
            if row.claimed:
                self._enqueue(_Row(row.id, row.channel, row.chat_id, row.payload, 1))
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
        next_recovery = 0.0
        while True:
            if time.monotonic() >= next_recovery:
                await self.recover()
                next_recovery = time.monotonic() + self._lease.total_seconds() / 2
            self._wake.clear()
            try:
                rows = await self.claim()
            except Exception:
                log.exception("claiming outbox rows failed")
                rows = []
            for row in rows:
                self._enqueue(row)
            if rows:
                continue
            # Confirmations are written by the next claim: within 0.1 s when there are some.
            with suppress(TimeoutError):
                async with asyncio.timeout(min(self._poll, 0.1) if self._sent else self._poll):
                    await self._wake.wait()  # (asyncio.wait_for can swallow a cancel in 3.11)

    async def close(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        await self.flush()

    async def recover(self) -> int:
        """Rows some process claimed and never confirmed: mark them uncertain, never resend."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.status == "sending", outbox.c.lease_until < utcnow())
                .values(status="uncertain", error="claimed by a sender that stopped before confirming")
            )
        if result.rowcount:
            log.warning("%d outbox rows marked uncertain after a sender stopped", result.rowcount)
        return result.rowcount

    def _claim_size(self, channel: str) -> int:
        """How many rows to claim now. A rate-limited channel takes about a second's
        worth, and only when the last batch is out: a crash then leaves few rows
        `uncertain`."""
        if not self._limited(channel):
            return 500
        if any(key[0] == channel for key in self._queues):
            return 0
        return max(1, int(self._limits[channel].per_second))

    async def claim(self) -> list[_Row]:
        """Claim what is due, in one transaction that also confirms what was sent."""
        sizes = {channel: self._claim_size(channel) for channel in sorted(self._transports)}
        sizes = {channel: size for channel, size in sizes.items() if size}
        if not sizes and not self._sent:
            return []
        now = utcnow()
        rows = []
        async with self._confirming() as conn:
            for channel, size in sizes.items():
                params = {"now": now, "lease": now + self._lease, "b_channel": channel, "limit": size}
                result = await conn.execute(self._claim, params)
                rows += [_Row(r.id, r.channel, r.chat_id, r.payload, r.attempts) for r in result]
        rows.sort(key=lambda r: r.id)
        return rows

    def _enqueue(self, row: _Row) -> None:
        key = (row.channel, row.chat_id)
        self._queues[key].append(row)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._chat_worker(key))

    async def _chat_worker(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        try:
            while queue:
                wait = self._blocked.get(key, 0.0) - time.monotonic()
                if wait > 0:
                    await self._release(queue, wait, None)
                    return
                row = queue[0]
                await self._throttle(key)
                try:
                    message_id = await self._transports[row.channel].deliver(row.chat_id, Reply.from_payload(row.payload), row.id)
                except RetryLater as flood:
                    self._blocked[key] = time.monotonic() + flood.seconds
                    await self._release(queue, flood.seconds, str(flood))
                    return
                except (Temporary, NotConnected) as trouble:
                    if row.attempts >= MAX_ATTEMPTS:
                        await self._fail([queue.pop(0)], f"gave up: {trouble}")
                        continue
                    delay = 3600.0 if isinstance(trouble, NotConnected) else backoff(row.attempts)
                    self._blocked[key] = time.monotonic() + delay
                    await self._release(queue, delay, str(trouble) or type(trouble).__name__)
                    return
                except Unreachable as refused:
                    await self._unreachable(key, queue, str(refused))
                    return
                except Uncertain as unknown:
                    log.warning("outbox row %s: delivery unknown (%s); not sent again", row.id, unknown)
                    await self._fail([queue.pop(0)], f"answer lost: {unknown}", status="uncertain")
                    continue
                except Exception as error:  # a reply the channel will never take (bad request)
                    log.exception("outbox row %s rejected by %s", row.id, row.channel)
                    await self._fail([queue.pop(0)], f"rejected: {error}")
                    continue
                queue.pop(0)
                # Confirmed by the run loop's next transaction: a worker never waits for the store.
                self._sent.append({"b_id": row.id, "b_at": utcnow(), "b_mid": message_id})
        finally:
            self._workers.pop(key, None)
            if not queue:
                self._queues.pop(key, None)
            if self._limited(key[0]):
                self._wake.set()  # claim the next second's worth

    async def _throttle(self, key: tuple[str, str]) -> None:
        limits = self._limits.get(key[0])
        if limits is None:
            return
        bucket = self._chat_buckets.get(key)
        if bucket is None:
            bucket = self._chat_buckets[key] = TokenBucket(limits.per_chat, limits.chat_burst)
        await bucket.take()
        await self._global[key[0]].take()

    async def flush(self) -> None:
        """Write the confirmations gathered so far."""
        if self._sent:
            async with self._confirming():
                pass

    @asynccontextmanager
    async def _confirming(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that first marks the delivered rows `sent`; if it fails, they are kept for the next."""
        batch, self._sent = self._sent, []
        try:
            async with self._engine.begin() as conn:
                if batch:
                    await conn.execute(self._mark_sent, batch)
                yield conn
        except BaseException:
            self._sent = batch + self._sent
            raise

    async def _release(self, queue: list[_Row], delay: float, error: str | None) -> None:
        """Give this chat's claimed rows back, due after `delay`, keeping their order."""
        rows, queue[:] = list(queue), []
        due = utcnow() + timedelta(seconds=delay)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
                .values(status="pending", next_attempt_at=due, lease_owner=None, lease_until=None, error=error)
            )

    async def _fail(self, rows: list[_Row], error: str, status: str = "failed") -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
                .values(status=status, error=error, lease_until=None)
            )

    async def _unreachable(self, key: tuple[str, str], queue: list[_Row], reason: str) -> None:
        channel, chat_id = key
        queue.clear()
        await self.flush()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(identities)
                .where(identities.c.channel == channel, identities.c.chat_id == chat_id)
                .values(unreachable_at=utcnow())
            )
            # Everything else waiting for this chat will not get through either.
            await conn.execute(
                update(outbox)
                .where(
                    outbox.c.channel == channel, outbox.c.chat_id == chat_id,
                    outbox.c.status.in_(("pending", "sending")),
                )
                .values(status="failed", error=f"unreachable: {reason}", lease_until=None)
            )
