"""What `/metrics` reads from the store at each scrape: the backlogs every worker shares.

Computed from the tables, not counted in memory, so every worker reports the same
figures (take `max` across workers) and a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from services.handoff import TicketStatus
from storage.db import Store
from storage.models import Job, table_of
from storage.turns import outbox, tickets

jobs = table_of(Job)

# The jobs queue (issue 12) marks a job that used its last try `dead`; `failed` is the
# status the table's comment names today. Both count as dead.
DEAD_JOB_STATUSES = ("dead", "failed")


@dataclass(frozen=True, slots=True)
class Backlogs:
    outbox_pending: dict[str, int]  # channel -> replies waiting to be sent (pending or sending)
    outbox_oldest_seconds: float  # the longest a due pending reply has waited, 0 when none
    queue_length: int  # conversations waiting for a person
    queue_oldest_seconds: float
    sla_breaches: int  # tickets whose promised first response was missed (ever)
    jobs_due: int  # pending jobs whose time has come
    jobs_dead: int


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


async def backlogs(engine: Store, now: datetime) -> Backlogs:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.channel, func.count()).where(outbox.c.status.in_(("pending", "sending"))).group_by(outbox.c.channel)
        )
        pending = {str(channel): int(count) for channel, count in rows}
        oldest_reply = await conn.scalar(
            select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
        )
        waiting, oldest_wait = (await conn.execute(
            select(func.count(), func.min(tickets.c.updated_at)).where(tickets.c.status == TicketStatus.QUEUED.value)
        )).one()
        breaches = await conn.scalar(select(func.count()).where(tickets.c.response_breached_at.is_not(None)))
        due = await conn.scalar(select(func.count()).where(jobs.c.status == "pending", jobs.c.run_at <= now))
        dead = await conn.scalar(select(func.count()).where(jobs.c.status.in_(DEAD_JOB_STATUSES)))
    return Backlogs(
        pending, _age(now, oldest_reply), int(waiting), _age(now, oldest_wait),
        int(breaches or 0), int(due or 0), int(dead or 0),
    )
