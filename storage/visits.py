"""Visits in the store: who is busy, booking (never twice), cancelling, the engineer's reports.

A booking writes the visit and one `visit_slots` row per half hour of the
engineer's time it holds, with ON CONFLICT DO NOTHING: if any half hour is
already held (another customer won it a moment ago, in this process or
another) the booking is undone and `book` returns None. Everything runs in the
caller's transaction, so the ticket, the visit and its reminders commit together.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, update

from services.engineers import JobKind, job_kind_of
from services.slots import Window
from storage import jobs
from storage.db import StoreConnection, insert_ignore
from storage.models import Ticket, Visit, VisitSlot, table_of

visits = table_of(Visit)
visit_slots = table_of(VisitSlot)
tickets = table_of(Ticket)


class VisitStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    DONE = "done"  # the engineer reported a result
    ABSENT = "absent"  # the customer was not there


class VisitJob(StrEnum):
    """The jobs of a visit (handlers/visit_jobs.py)."""

    REMINDER_DAY = "visit.reminder_day"
    REMINDER_HOUR = "visit.reminder_hour"
    NOTICE = "visit.notice"  # the engineer's word (on my way, late, absent, result), told at once
    REPAIR_UPDATE = "visit.repair_update"  # a repair past its promised day: every two days
    MAINTENANCE = "visit.maintenance"  # the periodic visit in warranty, offered


REMINDERS = ((VisitJob.REMINDER_DAY, timedelta(days=1)), (VisitJob.REMINDER_HOUR, timedelta(hours=1)))


class VisitResult(StrEnum):
    """What the engineer reports after the visit."""

    FIXED = "fixed"
    NEEDS_PARTS = "needs_parts"
    ANOTHER_VISIT = "another_visit"
    WORKSHOP = "workshop"


@dataclass(frozen=True, slots=True)
class VisitInfo:
    id: int
    ticket_id: int
    customer_id: int
    conversation_id: int | None
    engineer: str
    centre: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    status: str
    customer_chose_later: bool
    result: str | None
    log: list[dict[str, Any]]

    @property
    def window(self) -> Window:
        return Window(self.starts_at, self.ends_at, self.engineer)


_COLUMNS = (
    visits.c.id, visits.c.ticket_id, visits.c.customer_id, visits.c.conversation_id, visits.c.engineer,
    visits.c.centre, visits.c.kind, visits.c.starts_at, visits.c.ends_at, visits.c.status,
    visits.c.customer_chose_later, visits.c.result, visits.c.log,
)


def cause(visit_id: int) -> str:
    """The jobs of a visit (reminders) are cancelled by this key with it."""
    return f"visit:{visit_id}"


async def busy(conn: StoreConnection, engineers: Collection[str], start: datetime, end: datetime) -> set[tuple[str, datetime]]:
    """(engineer, half-hour start) pairs held between `start` and `end`."""
    if not engineers:
        return set()
    query = select(visit_slots.c.engineer, visit_slots.c.starts_at).where(
        visit_slots.c.engineer.in_(list(engineers)), visit_slots.c.starts_at >= start, visit_slots.c.starts_at < end,
    )
    return {(row.engineer, row.starts_at) for row in await conn.execute(query)}


async def book(
    conn: StoreConnection, *, ticket_id: int, customer_id: int, conversation_id: int | None, engineer: str,
    centre: str, kind: JobKind, window: Window, now: datetime, chose_later: bool = False, booked_by: str = "customer",
    label: str | None = None, engineer_name: str | None = None,
) -> int | None:
    """`label`: the window as the ticket shows it (the centre's local times, "09:00-12:00")."""
    # Book `engineer` for `window`; the visit's id, or None when any of its time is taken.
    visit_id: int = (await conn.execute(insert(visits).values(
        ticket_id=ticket_id, customer_id=customer_id, conversation_id=conversation_id, engineer=engineer,
        centre=centre, kind=kind.value, starts_at=window.start, ends_at=window.end, status=VisitStatus.BOOKED,
        customer_chose_later=chose_later, booked_by=booked_by, log=[], created_at=now, updated_at=now,
    ).returning(visits.c.id))).scalar_one()
    units = window.units()
    rows = [{"engineer": engineer, "starts_at": unit, "visit_id": visit_id} for unit in units]
    held = (await conn.execute(
        insert_ignore(conn.dialect.name, visit_slots).values(rows).returning(visit_slots.c.starts_at),
    )).all()
    if len(held) < len(units):  # someone else holds part of it: undo ours
        await conn.execute(delete(visit_slots).where(visit_slots.c.visit_id == visit_id))
        await conn.execute(delete(visits).where(visits.c.id == visit_id))
        return None
    for reminder, before in REMINDERS:  # in the booking's transaction; cancelled with it (`release`)
        if window.start - before > now:
            payload = {"visit": visit_id, "engineer": engineer_name or engineer}
            await jobs.schedule(conn, reminder, window.start - before, payload, conversation_id=conversation_id,
                                ticket_id=ticket_id, cause=cause(visit_id), now=now)
    values: dict[str, Any] = {"visit_date": window.start.date(), "visit_window": label, "updated_at": now}
    # The SLA report must not count the customer's own choice as our breach: on site within
    # their window keeps the promise (services/reports.py). A move back within it forgets the choice.
    details = (await conn.execute(select(tickets.c.details).where(tickets.c.id == ticket_id))).scalar_one() or {}
    kept = {k: v for k, v in details.items() if k not in ("onsite_chosen_by_customer", "onsite_chosen_until")}
    if chose_later:
        values["details"] = {**kept, "onsite_chosen_by_customer": window.start.isoformat(),
                             "onsite_chosen_until": window.end.isoformat()}
    elif kept != details:
        values["details"] = kept
    await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
    return visit_id


async def release(conn: StoreConnection, visit_id: int, status: VisitStatus, now: datetime) -> bool:
    """End a booked visit (cancelled, absent): its engineer's time is free again. False if not booked."""
    done = await conn.execute(update(visits).where(visits.c.id == visit_id, visits.c.status == VisitStatus.BOOKED)
                              .values(status=status.value, updated_at=now))
    if not done.rowcount:
        return False
    await conn.execute(delete(visit_slots).where(visit_slots.c.visit_id == visit_id))
    await jobs.cancel(conn, cause(visit_id), now)
    return True


async def get(conn: StoreConnection, visit_id: int) -> VisitInfo | None:
    row = (await conn.execute(select(*_COLUMNS).where(visits.c.id == visit_id))).first()
    return VisitInfo(**row._mapping) if row else None


async def booked_for_ticket(conn: StoreConnection, ticket_id: int) -> VisitInfo | None:
    query = select(*_COLUMNS).where(visits.c.ticket_id == ticket_id, visits.c.status == VisitStatus.BOOKED)
    row = (await conn.execute(query.order_by(visits.c.id.desc()))).first()
    return VisitInfo(**row._mapping) if row else None


async def of_conversation(conn: StoreConnection, conversation_id: int) -> list[VisitInfo]:
    """Every visit of a conversation, newest first (the console)."""
    query = select(*_COLUMNS).where(visits.c.conversation_id == conversation_id).order_by(visits.c.id.desc())
    return [VisitInfo(**row._mapping) for row in await conn.execute(query)]


async def note(conn: StoreConnection, visit_id: int, entry: dict[str, Any], now: datetime, **values: Any) -> None:
    """Add an entry to the visit's log (on my way, late, absent, result) and set `values`."""
    log = list((await conn.execute(select(visits.c.log).where(visits.c.id == visit_id))).scalar_one() or [])
    log.append({**entry, "at": now.isoformat()})
    await conn.execute(update(visits).where(visits.c.id == visit_id).values(log=log, updated_at=now, **values))


@dataclass(frozen=True, slots=True)
class VisitBook:
    """The visit operations of one conversation's turn, in its transaction (`TurnStore.visits`)."""

    conn: StoreConnection
    customer_id: int
    conversation_id: int | None
    now: datetime

    async def busy(self, engineers: Collection[str], start: datetime, end: datetime) -> set[tuple[str, datetime]]:
        return await busy(self.conn, engineers, start, end)

    async def book(self, ticket_id: int, engineer: str, centre: str, kind: JobKind, window: Window,
                   chose_later: bool = False, label: str | None = None, engineer_name: str | None = None) -> int | None:
        return await book(self.conn, ticket_id=ticket_id, customer_id=self.customer_id,
                          conversation_id=self.conversation_id, engineer=engineer, centre=centre, kind=kind,
                          window=window, now=self.now, chose_later=chose_later, label=label,
                          engineer_name=engineer_name)

    async def booked_for_ticket(self, ticket_id: int) -> VisitInfo | None:
        visit = await booked_for_ticket(self.conn, ticket_id)
        return visit if visit and visit.customer_id == self.customer_id else None

    async def release(self, visit_id: int, status: VisitStatus) -> bool:
        return await release(self.conn, visit_id, status, self.now)

    async def maintenance_basis(self, ticket_id: int) -> dict[str, Any] | None:
        """What a maintenance visit's ticket copies from the customer's earlier ticket; None if not theirs."""
        query = select(tickets.c.product_line, tickets.c.model, tickets.c.serial, tickets.c.product_id,
                       tickets.c.address, tickets.c.latitude, tickets.c.longitude, tickets.c.phone, tickets.c.warranty,
                       tickets.c.details).where(tickets.c.id == ticket_id, tickets.c.customer_id == self.customer_id)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        fields = dict(row._mapping)
        details = fields.pop("details") or {}
        fields["details"] = {"visit_centre": details.get("visit_centre"), "maintenance_of": ticket_id}
        return fields

    async def ticket_facts(self, ticket_id: int) -> tuple[str | None, str | None, datetime | None] | None:
        """(product line, visit centre, on-site promise) of the customer's own ticket; None if not theirs."""
        query = select(tickets.c.product_line, tickets.c.details, tickets.c.onsite_due).where(
            tickets.c.id == ticket_id, tickets.c.customer_id == self.customer_id)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return row.product_line, (row.details or {}).get("visit_centre"), row.onsite_due

    async def job_kind(self, ticket_id: int) -> JobKind:
        """What the engineer comes for on the customer's ticket (installation, maintenance, repair)."""
        details = await self.conn.scalar(select(tickets.c.details).where(
            tickets.c.id == ticket_id, tickets.c.customer_id == self.customer_id))
        return job_kind_of(details)


class Notice(StrEnum):
    """What the engineer tells the customer through the bot (handlers/visit_jobs.py)."""

    BOOKED = "booked"  # an agent booked it for the customer
    ON_MY_WAY = "on_my_way"
    LATE = "late"
    ABSENT = "absent"
    RESULT = "result"
    MOVED = "moved"  # an agent moved it to another window (the notice is the new visit's)
    CANCELLED = "cancelled"  # an agent cancelled it for the customer
    ARRIVED = "arrived"  # on the visit's log and the ticket only: the customer is there to see it


async def engineer_says(conn: StoreConnection, visit: VisitInfo, notice: Notice, now: datetime,
                        **details: Any) -> int:
    """Record the engineer's word on the visit and tell the customer at once (a job now, serialised
    with the customer's own turns). `details`: minutes (late), arrived/left (absent, ISO), result
    and report (result). The job's id."""
    await note(conn, visit.id, {"notice": notice.value, **details}, now)
    if notice is Notice.ABSENT:
        await release(conn, visit.id, VisitStatus.ABSENT, now)
    return await jobs.schedule(conn, VisitJob.NOTICE, now, {"visit": visit.id, "notice": notice.value, **details},
                               conversation_id=visit.conversation_id, ticket_id=visit.ticket_id, now=now)


async def record_arrival(conn: StoreConnection, visit: VisitInfo, at: datetime, now: datetime, **details: Any) -> None:
    """The engineer is at the customer's door: on the visit's log, and on its ticket (`mark_onsite`)."""
    await note(conn, visit.id, {"notice": Notice.ARRIVED.value, "arrived": at.isoformat(), **details}, now)
    await mark_onsite(conn, visit.ticket_id, at, now)


async def mark_onsite(conn: StoreConnection, ticket_id: int, at: datetime, now: datetime) -> None:
    """When an engineer first stood at the customer's door (`details["onsite_at"]`, UTC): what the
    reports hold against the on-site promise (services/reports.py `promises`). A later visit of the
    same ticket does not move it."""
    details = (await conn.execute(select(tickets.c.details).where(tickets.c.id == ticket_id))).scalar_one() or {}
    if "onsite_at" not in details:
        await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(
            details={**details, "onsite_at": at.astimezone(UTC).isoformat()}, updated_at=now))


async def record_result(conn: StoreConnection, visit: VisitInfo, result: VisitResult, report: str,
                        out_of_use: date | None, working_again: date | None, now: datetime,
                        maintenance_at: datetime | None = None) -> int:
    """The visit's result, the engineer's report and the downtime on the ticket; fixed resolves it.
    A repair that goes on is updated to the customer every two days (`VisitJob.REPAIR_UPDATE`).
    `maintenance_at`: for a product line promised periodic maintenance, when to offer the next
    visit; offered only while the ticket says the unit is in warranty."""
    await conn.execute(update(visits).where(visits.c.id == visit.id).values(
        status=VisitStatus.DONE, result=result.value, report=report, updated_at=now))
    await conn.execute(delete(visit_slots).where(visit_slots.c.visit_id == visit.id))
    await jobs.cancel(conn, cause(visit.id), now)
    details = (await conn.execute(select(tickets.c.details).where(tickets.c.id == visit.ticket_id))).scalar_one() or {}
    reports = [*details.get("visit_reports", []), {"visit": visit.id, "result": result.value, "report": report,
                                                   "at": now.isoformat()}]
    values: dict[str, Any] = {"details": {**details, "visit_reports": reports}, "updated_at": now}
    if out_of_use is not None:
        values["out_of_use_from"] = out_of_use
    if result is VisitResult.FIXED:
        values.update(status="resolved", resolution="fixed", working_again_on=working_again)
        await jobs.cancel(conn, f"repair:{visit.ticket_id}", now)
    await conn.execute(update(tickets).where(tickets.c.id == visit.ticket_id).values(**values))
    job = await engineer_says(conn, visit, Notice.RESULT, now, result=result.value)
    in_warranty = await _in_warranty(conn, visit.ticket_id)
    if maintenance_at is not None and result is VisitResult.FIXED and in_warranty:
        await jobs.schedule(conn, VisitJob.MAINTENANCE, maintenance_at, {"ticket": visit.ticket_id},
                            conversation_id=visit.conversation_id, ticket_id=visit.ticket_id,
                            cause=f"maintenance:{visit.ticket_id}", now=now)
    if result in (VisitResult.NEEDS_PARTS, VisitResult.WORKSHOP):
        await jobs.schedule(conn, VisitJob.REPAIR_UPDATE, now, {"visit": visit.id}, conversation_id=visit.conversation_id,
                            ticket_id=visit.ticket_id, cause=f"repair:{visit.ticket_id}", now=now)
    return job


async def ticket_brief(conn: StoreConnection, ticket_id: int) -> tuple[str, str, datetime | None]:
    """(number, status, promised fix time) of a ticket, for the customer's messages."""
    row = (await conn.execute(select(tickets.c.number, tickets.c.status, tickets.c.fix_due)
                              .where(tickets.c.id == ticket_id))).one()
    return row.number, row.status, row.fix_due


async def _in_warranty(conn: StoreConnection, ticket_id: int) -> bool:
    warranty = (await conn.execute(select(tickets.c.warranty).where(tickets.c.id == ticket_id))).scalar_one()
    return bool(warranty and warranty.get("in_warranty"))
