"""Durable jobs: rows with a kind, a due time, a payload and what they concern.

A job is written in the caller's transaction (`schedule`: a booking writes its
reminders with it) and run by bot/jobs.py's runner, on the leased-queue mechanism
the outbox uses too (storage/leases.py):

    pending --claim--> running --finish--> done          (in the job's own transaction)
                          |----fail------> pending        (retried later, back-off)
                          |----fail------> dead           (after `max_attempts` tries)
    pending | running --cancel--> cancelled              (by cause: "visit:42")

A job's effects and its `done` commit in one transaction, and `finish` succeeds only
for the lease's owner while the job is still `running`: a job whose runner died is
claimed again (`recover`) and its effects happen once; a job cancelled while it ran
rolls its effects back.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, func, insert, literal, select, update

from storage.db import Store, StoreConnection
from storage.leases import LeasedQueue
from storage.models import Job, table_of, utcnow

jobs = table_of(Job)

KIND_MAX = 32
CAUSE_MAX = 64


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"


QUEUE = LeasedQueue(jobs, due="run_at", held=JobStatus.RUNNING, waiting=JobStatus.PENDING, order=("run_at", "id"))


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    payload: dict[str, Any]
    run_at: datetime
    attempts: int  # tries so far, this one included while it runs
    conversation_id: int | None
    ticket_id: int | None
    cause: str | None
    max_attempts: int = 5
    status: JobStatus = JobStatus.PENDING
    last_error: str | None = None
    finished_at: datetime | None = None

    @property
    def last_try(self) -> bool:
        return self.attempts >= self.max_attempts


_COLUMNS = (
    jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.run_at, jobs.c.attempts, jobs.c.conversation_id,
    jobs.c.ticket_id, jobs.c.cause, jobs.c.max_attempts, jobs.c.status, jobs.c.last_error, jobs.c.finished_at,
)


def _record(row: Any) -> JobRecord:
    return JobRecord(
        row.id, row.kind, dict(row.payload or {}), row.run_at, row.attempts, row.conversation_id, row.ticket_id,
        row.cause, row.max_attempts, JobStatus(row.status), row.last_error, row.finished_at,
    )


async def schedule(
    conn: StoreConnection, kind: str, run_at: datetime, payload: dict[str, Any] | None = None, *,
    conversation_id: int | None = None, ticket_id: int | None = None, cause: str | None = None,
    max_attempts: int = 5, now: datetime | None = None,
) -> int:
    """A job due at `run_at`, written in the caller's transaction; its id.
    `cause` ("visit:42") is what `cancel` takes; `now` (created_at) defaults to the wall clock."""
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"a job kind is 1 to {KIND_MAX} characters: {kind!r}")
    if cause is not None and not 0 < len(cause) <= CAUSE_MAX:
        raise ValueError(f"a job cause is 1 to {CAUSE_MAX} characters: {cause!r}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    job_id: int = await conn.scalar(insert(jobs).values(
        kind=kind, payload=payload or {}, run_at=run_at, status=JobStatus.PENDING, attempts=0,
        conversation_id=conversation_id, ticket_id=ticket_id, cause=cause, max_attempts=max_attempts,
        created_at=now or utcnow(),
    ).returning(jobs.c.id))
    return job_id


async def cancel(conn: StoreConnection, cause: str, now: datetime | None = None) -> int:
    """Cancel the jobs of `cause` not yet done: pending ones never run, a running one's
    effects are rolled back (it cannot finish). How many were cancelled."""
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.cause == cause, jobs.c.status.in_((JobStatus.PENDING, JobStatus.RUNNING)))
        .values(status=JobStatus.CANCELLED, finished_at=now or utcnow(), lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)


async def pending(conn: StoreConnection, *, cause: str | None = None, kind: str | None = None) -> list[JobRecord]:
    """Jobs waiting to run, soonest first."""
    return await listing(conn, JobStatus.PENDING, cause=cause, kind=kind)


async def listing(
    conn: StoreConnection, *statuses: JobStatus, cause: str | None = None, kind: str | None = None, limit: int | None = None,
) -> list[JobRecord]:
    """Jobs in `statuses` (all when none), soonest first: for tests, the CLI and the console."""
    query = select(*_COLUMNS).order_by(jobs.c.run_at, jobs.c.id)
    if statuses:
        query = query.where(jobs.c.status.in_(statuses))
    if cause is not None:
        query = query.where(jobs.c.cause == cause)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    if limit is not None:
        query = query.limit(limit)
    return [_record(row) for row in await conn.execute(query)]


async def dead_jobs(engine: Store, limit: int = 20) -> list[JobRecord]:
    """The latest jobs that failed for good, for the supervisors' page."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(*_COLUMNS).where(jobs.c.status == JobStatus.DEAD).order_by(jobs.c.finished_at.desc(), jobs.c.id.desc())
            .limit(limit)
        )
        return [_record(row) for row in rows]


async def counts(conn: StoreConnection) -> dict[JobStatus, int]:
    rows = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    found = {JobStatus(status): int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in JobStatus}


async def next_due(conn: StoreConnection) -> datetime | None:
    """When the soonest pending job is due."""
    due: datetime | None = await conn.scalar(select(func.min(jobs.c.run_at)).where(jobs.c.status == JobStatus.PENDING))
    return due


@functools.cache
def claim_statement(dialect: str, owner: str) -> Any:
    """Claim due jobs for `owner` (params: now, lease, limit), soonest first. Built once per
    runner: a job's own statements are a few, so building them would cost more than running them."""
    return QUEUE.claim(QUEUE.due_rows(dialect), owner, *_COLUMNS)


async def claim(conn: StoreConnection, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[JobRecord]:
    result = await conn.execute(claim_statement(conn.dialect.name, owner), {"now": now, "lease": lease_until, "limit": limit})
    return sorted((_record(row) for row in result), key=lambda job: (job.run_at, job.id))


# The job `b_id` while `b_owner` holds it.
_HELD = (jobs.c.id == bindparam("b_id"), jobs.c.status == JobStatus.RUNNING, jobs.c.lease_owner == bindparam("b_owner"))
_FINISH = update(jobs).where(*_HELD).values(
    status=JobStatus.DONE, finished_at=bindparam("b_now", type_=jobs.c.finished_at.type),
    lease_owner=None, lease_until=None, last_error=None,
)


async def finish(conn: StoreConnection, job_id: int, owner: str, now: datetime) -> bool:
    """Mark the job done, in the transaction of its effects; False if it is no longer
    ours (cancelled, or recovered after our lease ran out): then roll back."""
    result = await conn.execute(_FINISH, {"b_id": job_id, "b_owner": owner, "b_now": now})
    return bool(result.rowcount == 1)


async def fail(
    conn: StoreConnection, job: JobRecord, owner: str, now: datetime, error: str, retry_at: datetime,
) -> JobStatus | None:
    """A try failed: `pending` again at `retry_at`, or `dead` after its last try. None: not ours."""
    status = JobStatus.DEAD if job.last_try else JobStatus.PENDING
    values: dict[str, Any] = {"status": status, "last_error": error[:2000], "lease_owner": None, "lease_until": None}
    values |= {"finished_at": now} if status is JobStatus.DEAD else {"run_at": retry_at}
    result = await conn.execute(update(jobs).where(*_HELD).values(**values), {"b_id": job.id, "b_owner": owner})
    return status if result.rowcount == 1 else None


async def give_back(conn: StoreConnection, ids: list[int], owner: str) -> int:
    """Claimed jobs this runner never started (a stop): pending, the try not counted."""
    return await QUEUE.give_back(conn, ids, owner)


async def renew(conn: StoreConnection, owner: str, until: datetime) -> int:
    return await QUEUE.renew(conn, owner, until)


async def recover(conn: StoreConnection, now: datetime) -> int:
    """Jobs whose runner died mid-try (its lease ran out): nothing of that try was
    committed, so they are pending again, or dead if it was their last try."""
    last = jobs.c.attempts >= jobs.c.max_attempts
    return await QUEUE.recover(
        conn, now,
        status=case((last, JobStatus.DEAD.value), else_=JobStatus.PENDING.value),
        finished_at=case((last, literal(now, jobs.c.finished_at.type)), else_=None),
        last_error="the runner stopped before finishing (its lease ran out)",
        lease_owner=None, lease_until=None,
    )


async def retry(conn: StoreConnection, job_id: int, now: datetime) -> bool:
    """A supervisor sends a dead job round again: pending now, tries counted afresh."""
    result = await conn.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.status == JobStatus.DEAD)
        .values(status=JobStatus.PENDING, run_at=now, attempts=0, finished_at=None)
    )
    return bool(result.rowcount == 1)
