"""Retention: what grows with traffic and is not the transcript is pruned after a while.

- inbound receipts (duplicate detection: channels redeliver within hours, not weeks);
- outbox rows delivered (`sent`) long ago: the transcript (`messages`) keeps what was said;
- jobs that finished (`done`, `cancelled`) long ago: dead ones stay for supervisors to see.

Deleted in small batches, each its own short transaction, so writers never wait long.
A periodic task for now (`run`); a job once durable jobs exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_

from storage.db import Store
from storage.models import InboundReceipt, Job, OutboxRow, table_of, utcnow

log = logging.getLogger(__name__)

receipts = table_of(InboundReceipt)
outbox = table_of(OutboxRow)
jobs = table_of(Job)
FINISHED = ("done", "cancelled")  # storage.jobs.JobStatus (dead ones are kept)


@dataclass(frozen=True, slots=True)
class Policy:
    receipts: timedelta = timedelta(days=30)
    delivered_outbox: timedelta = timedelta(days=30)
    finished_jobs: timedelta = timedelta(days=30)
    batch: int = 1000  # rows per transaction


@dataclass(frozen=True, slots=True)
class Pruned:
    receipts: int
    outbox: int
    jobs: int = 0


async def prune(engine: Store, now: datetime, policy: Policy) -> Pruned:
    """Delete what `policy` no longer keeps at `now`; returns how many rows went."""
    old_receipts = (
        select(receipts.c.channel, receipts.c.external_id)
        .where(receipts.c.received_at < now - policy.receipts)
        .limit(policy.batch)
    )
    old_outbox = (
        select(outbox.c.id)
        .where(outbox.c.status == "sent", outbox.c.sent_at < now - policy.delivered_outbox)
        .limit(policy.batch)
    )
    old_jobs = (
        select(jobs.c.id)
        .where(jobs.c.status.in_(FINISHED), jobs.c.finished_at < now - policy.finished_jobs)
        .limit(policy.batch)
    )
    statements = (
        delete(receipts).where(tuple_(receipts.c.channel, receipts.c.external_id).in_(old_receipts)),
        delete(outbox).where(outbox.c.id.in_(old_outbox.scalar_subquery())),
        delete(jobs).where(jobs.c.id.in_(old_jobs.scalar_subquery())),
    )
    counts = []
    for statement in statements:
        total = 0
        while True:
            async with engine.begin() as conn:
                deleted = (await conn.execute(statement)).rowcount
            total += deleted
            if deleted < policy.batch:
                break
        counts.append(total)
    return Pruned(*counts)


async def run(
    engine: Store, policy: Policy, every: float = 3600.0, clock: Callable[[], datetime] = utcnow,
) -> None:
    """Prune every `every` seconds until cancelled; a failure (the store away) is logged
    and tried again next time."""
    while True:
        try:
            pruned = await prune(engine, clock(), policy)
        except Exception:
            log.exception("retention: pruning failed; trying again in %.0f s", every)
        else:
            if pruned.receipts or pruned.outbox or pruned.jobs:
                log.info("retention: pruned %d receipts, %d delivered outbox rows, %d finished jobs",
                         pruned.receipts, pruned.outbox, pruned.jobs)
        await asyncio.sleep(every)
