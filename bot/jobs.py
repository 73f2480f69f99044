"""The job runner: runs durable jobs (storage/jobs.py) when they fall due.

- Feature modules register a handler per job kind at import (`@job_handler(kind)`).
- The runner claims due jobs with a lease (several processes never run one twice),
  runs them concurrently (a claim at a time), renews its leases, and puts back jobs
  whose runner died (`recover`): a restart runs what fell due while it was down, once.
- A job with a conversation enters the core like an agent's action (`Act.JOB` through
  `Dispatcher.act`): serialised with that customer's own turns, in the transaction
  that holds the conversation; its replies go through the outbox (`JobTurn.send`).
  A job without one runs in a transaction of its own.
- The job's `done` commits with its effects. A handler that raises, or runs longer than
  the runner's `timeout`, rolls them back; the job is retried with back-off, and is
  `dead` after its last try (`aftersales jobs --dead`, the console's jobs page).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.actions import Act, Action, ActionResult, Emit
from bot.core.dispatcher import Dispatcher, is_store_failure
from bot.core.events import Reply
from bot.i18n import Translator
from services.handoff import Actor, Refused
from services.timezones import effective_zone
from storage import handoff as conversation_store
from storage import jobs as store
from storage.db import Store, StoreConnection
from storage.jobs import JobRecord as JobRecord  # re-exported: the handlers' view of a job
from storage.jobs import JobStatus
from storage.models import utcnow
from storage.turns import ConversationRow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SYSTEM = Actor()  # a job acts for nobody in particular: the bot


@dataclass(slots=True)
class JobTurn:
    """What a handler sees of its job, and how it acts: everything through `conn` commits
    with the job's completion, or not at all."""

    conn: StoreConnection
    job: JobRecord
    now: datetime
    conversation: ConversationRow | None = None
    t: Translator | None = None  # the customer's language and time zone, for conversation jobs
    emit: Emit | None = None

    async def send(self, reply: Reply, *, here: bool = False) -> int:
        """Say `reply` to the conversation's customer: an outbox row on the chat they last wrote
        from, of all their linked chats (issue 18), or (`here`) on this conversation's own chat,
        for a question whose typed answer this conversation expects; and a transcript line, both
        in the job's transaction. Returns the outbox row's id."""
        if self.conversation is None or self.emit is None:
            raise RuntimeError(f"job {self.job.id} ({self.job.kind}) has no conversation to send to")
        row = self.conversation
        where = (await conversation_store.address(self.conn, row.identity_id) if here
                 else await conversation_store.reply_address(self.conn, row.customer_id, row.identity_id))
        outbox_id = await self.emit(where.channel, where.chat_id, reply)
        await conversation_store.add_message(
            self.conn, conversation_id=row.id, ticket_id=self.job.ticket_id or row.ticket_id, channel=where.channel,
            created_at=self.now, direction="out", author="bot", text=reply.text, attachments=[], outbox_id=outbox_id,
        )
        return outbox_id


JobHandler = Callable[[JobTurn], Awaitable[None]]

HANDLERS: dict[str, JobHandler] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the handler of job `kind` (one per kind)."""

    def register(handler: JobHandler) -> JobHandler:
        known = HANDLERS.get(kind)
        if known is not None and known is not handler:
            raise ValueError(f"job kind {kind!r} already has a handler: {known.__module__}.{known.__qualname__}")
        HANDLERS[kind] = handler
        return handler

    return register


class UnknownJob(Exception):
    """No handler is registered for the job's kind."""


class JobTimedOut(Exception):
    """The handler ran longer than the runner's `timeout`: a failed try (not a store failure)."""


async def _within(timeout: float | None, handler: JobHandler, turn: JobTurn) -> None:
    """Run `handler`; a try that outlasts `timeout` seconds is cancelled and fails with `JobTimedOut`.
    A conversation job runs inside the core's transaction: a hanging one would hold up every turn."""
    try:
        async with asyncio.timeout(timeout) as deadline:
            await handler(turn)
    except TimeoutError:
        if deadline.expired():  # ours, not the store's (a store failure gives the job back)
            raise JobTimedOut(f"the handler ran longer than {timeout:g} s") from None
        raise


def backoff(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed try a job is tried again: 30 s, 1 min,
    2 min, ... doubling, at most an hour."""
    return timedelta(seconds=min(3600.0, 30.0 * 2.0 ** max(attempts - 1, 0)))


class JobRunner:
    def __init__(
        self, engine: Store, core: Dispatcher, *, timezone: str, handlers: Mapping[str, JobHandler] | None = None,
        clock: Clock = utcnow, owner: str | None = None, lease: float = 60.0, poll: float = 1.0, batch: int = 100,
        retry_after: Callable[[int], timedelta] = backoff, timeout: float | None = 30.0,
    ) -> None:
        self._engine = engine
        self._core = core
        self._timezone = timezone
        self._handlers = HANDLERS if handlers is None else handlers
        self._clock = clock
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._lease = timedelta(seconds=lease)
        self._poll = poll
        self._batch = batch
        self._retry_after = retry_after
        self.timeout = timeout  # seconds a handler may run (None: no limit)
        self._wake = asyncio.Event()
        self._closing = False
        self._busy = asyncio.Lock()  # one claim-and-run at a time (the loop, or a test's run_due)
        self.store_error: str | None = None

    def wake(self) -> None:
        """Look for due jobs now (a job was scheduled to run at once)."""
        self._wake.set()

    async def run_due(self) -> int:
        """Claim and run every job due now, a batch at a time; how many ran (failed tries included)."""
        ran = 0
        async with self._busy:
            while not self._closing:
                now = self._clock()
                async with self._engine.begin() as conn:
                    claimed = await store.claim(conn, self.owner, now, now + self._lease, self._batch)
                if not claimed:
                    break
                await asyncio.gather(*(self._run(job) for job in claimed))
                ran += len(claimed)
        return ran

    async def upkeep(self) -> int:
        """Renew our leases; put back jobs whose runner died. How many were put back."""
        now = self._clock()
        async with self._engine.begin() as conn:
            await store.renew(conn, self.owner, now + self._lease)
            recovered = await store.recover(conn, now)
        if recovered:
            log.warning("jobs: %d jobs of a runner that stopped are due again (or dead after their last try)", recovered)
        return recovered

    async def run(self) -> None:
        """Run jobs as they fall due, until closed. Store failures are retried with back-off."""
        loop = asyncio.get_running_loop()
        next_upkeep, failures = 0.0, 0
        while not self._closing:
            self._wake.clear()
            try:
                if loop.time() >= next_upkeep:
                    await self.upkeep()
                    next_upkeep = loop.time() + self._lease.total_seconds() / 3
                await self.run_due()
                async with self._engine.connect() as conn:
                    due = await store.next_due(conn)
            except Exception as error:  # the store is unreachable or failing: wait and try again
                failures += 1
                if self.store_error is None:
                    log.exception("jobs: the store failed; retrying with back-off")
                self.store_error = f"{type(error).__name__}: {error}"
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            self.store_error, failures = None, 0
            wait = self._poll if due is None else min(self._poll, max(0.0, (due - self._clock()).total_seconds()))
            if wait > 0:
                with suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def close(self, grace: float = 10.0) -> None:
        """Claim nothing more; let the jobs in hand finish (at most `grace` seconds)."""
        self._closing = True
        self._wake.set()
        with suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._busy.acquire()
                self._busy.release()

    async def _run(self, job: JobRecord) -> None:
        try:
            handler = self._handlers.get(job.kind)
            if handler is None:
                raise UnknownJob(f"no handler for job kind {job.kind!r}")
            if job.conversation_id is None:
                await self._run_alone(job, handler)
                return
            result = await self._core.act(Action(
                job.conversation_id, Act.JOB, SYSTEM, ticket_id=job.ticket_id, job=_ConversationJob(self, job, handler),
            ))
            if not result.ok:
                if result.reason == LOST:
                    log.info("job %s (%s) was cancelled or taken over before it finished", job.id, job.kind)
                    return
                raise Refused(result.reason or "refused")
        except Exception as error:
            await self._failed(job, error)

    async def _run_alone(self, job: JobRecord, handler: JobHandler) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            if not await store.finish(conn, job.id, self.owner, now):
                log.info("job %s (%s) was cancelled or taken over before it finished", job.id, job.kind)
                return
            await _within(self.timeout, handler, JobTurn(conn, job, now))

    async def _failed(self, job: JobRecord, error: Exception) -> None:
        now = self._clock()
        reason = f"{type(error).__name__}: {error}"
        try:
            async with self._engine.begin() as conn:
                if is_store_failure(error):  # the store, not the job: not counted as a try
                    await store.give_back(conn, [job.id], self.owner)
                    return
                status = await store.fail(conn, job, self.owner, now, reason, now + self._retry_after(job.attempts))
        except Exception:  # the store is failing: the lease runs out and the job is put back
            log.exception("jobs: could not record the failure of job %s", job.id)
            return
        if status is JobStatus.DEAD:
            log.error("job %s (%s) is dead after %d tries: %s", job.id, job.kind, job.attempts, reason, exc_info=error)
        elif status is JobStatus.PENDING:
            log.warning("job %s (%s) failed (try %d of %d), retried later: %s", job.id, job.kind, job.attempts,
                        job.max_attempts, reason)


LOST = "the job is no longer this runner's"


@dataclass(frozen=True, slots=True)
class _ConversationJob:
    """`Action.job`: the handler's run inside the transaction that holds the conversation."""

    runner: JobRunner
    job: JobRecord
    handler: JobHandler

    async def __call__(
        self, conn: StoreConnection, row: ConversationRow, now: datetime, timezone: str, emit: Emit,
    ) -> ActionResult:
        if not await store.finish(conn, self.job.id, self.runner.owner, now):
            raise Refused(LOST)
        t = Translator(row.locale, effective_zone(row.timezone, row.timezone_hint, row.phone, timezone))
        await _within(self.runner.timeout, self.handler, JobTurn(conn, self.job, now, row, t, emit))
        return ActionResult(True, ticket_id=self.job.ticket_id)


def describe(job: JobRecord) -> dict[str, Any]:
    """A job as one line of JSON (the CLI)."""
    return {
        "id": job.id, "kind": job.kind, "status": job.status.value, "run_at": job.run_at.isoformat(),
        "attempts": job.attempts, "max_attempts": job.max_attempts, "conversation_id": job.conversation_id,
        "ticket_id": job.ticket_id, "cause": job.cause, "last_error": job.last_error,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None, "payload": job.payload,
    }
