"""The visit desk's rules, in one place for the console (bot/console/visits.py) and the agents'
Telegram group (bot/channels/telegram_group.py): book, move or cancel a customer's visit, and
record the engineer's word (on my way, late by N minutes, arrived, customer absent, the result).

Each action is one transaction that leaves a line in the visit's log and in the audit trail
(`visit.<action>`); what the customer must hear goes out as a `VisitJob.NOTICE` job due now,
so it is serialised with their own messages and told in their language. A refusal is a
`BadReport` (services/visit_reports.py) whose problem each caller words for its agent
(`problem_text`): nothing is changed then.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.company import Company
from bot.i18n import N_, Translator
from services.engineers import VISIT_TICKETS, JobKind, Roster, job_kind_of
from services.slots import LEAD_TIME, Window, free_engineers, free_windows
from services.visit_reports import (
    ABSENT_WAIT,
    MAINTENANCE_EVERY_MONTHS,
    MAX_LATE_MINUTES,
    BadReport,
    Problem,
    check_absence,
    check_late,
    check_out_of_use,
    months_later,
)
from storage import visits as store
from storage.db import Store, StoreConnection
from storage.handoff import record
from storage.models import Ticket, table_of
from storage.surveys import plan_surveys
from storage.visits import Notice, VisitInfo, VisitResult, VisitStatus

tickets = table_of(Ticket)
OPEN = ("open", "queued", "assigned")
OFFERED = 12  # windows in an agent's list


class VisitAction(StrEnum):
    """What the desk does: the console's route (`/visit/<action>`), the audit line (`visit.<action>`)."""

    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    ON_MY_WAY = "on_my_way"
    LATE = "late"
    ARRIVED = "arrived"
    ABSENT = "absent"
    RESULT = "result"


RESULTS = {
    VisitResult.FIXED: N_("Done: fixed or installed"), VisitResult.NEEDS_PARTS: N_("Needs parts"),
    VisitResult.ANOTHER_VISIT: N_("Another visit needed"), VisitResult.WORKSHOP: N_("Taken to the workshop"),
}
PROBLEMS = {
    Problem.LATE_RANGE: N_("Not recorded: late by 1 to %(most)d minutes."),
    Problem.TIMES_ORDER: N_("Not recorded: the arrival must be before leaving, and both in the past."),
    Problem.SHORT_WAIT: N_("Not recorded: the engineer waits at least %(minutes)d minutes before reporting the customer absent."),
    Problem.FUTURE_DAY: N_("Not recorded: the day the product went out of use is in the future."),
    Problem.NO_REPORT: N_("Not recorded: write the engineer's report."),
    Problem.NO_REPAIR: N_("Not booked: no open repair or visit request at a place we serve."),
    Problem.ALREADY_BOOKED: N_("Not booked: a visit is booked already."),
    Problem.TAKEN: N_("Not booked: that window is no longer free."),
    Problem.NO_VISIT: N_("No such visit."),
    Problem.NOT_BOOKED: N_("This visit is no longer booked."),
    Problem.GARBLED: N_("Not recorded: please check what you entered."),
    Problem.NO_REASON: N_("Not cancelled: give the reason (it goes to the visit's log)."),
    Problem.ARRIVED_ALREADY: N_("Not recorded: the engineer's arrival is recorded already."),
}


def problem_text(t: Translator, problem: Problem) -> str:
    return t._(PROBLEMS[problem], minutes=int(ABSENT_WAIT.total_seconds() // 60), most=MAX_LATE_MINUTES)


_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})")


def local_time(text: str, zone: tzinfo, now: datetime) -> datetime:
    """"14:05" (or "9:05", "9.05") today in `zone`, as the engineer reads their watch."""
    found = _CLOCK.fullmatch(text.strip())
    try:
        clock = time(int(found[1]), int(found[2])) if found else None
    except ValueError:  # 25:00
        clock = None
    if clock is None:
        raise BadReport(Problem.GARBLED, f"not a time: {text!r}")
    return datetime.combine(now.astimezone(zone).date(), clock, tzinfo=zone)


@dataclass(frozen=True, slots=True)
class VisitDesk:
    """One agent's hands on the visits of a conversation; `by` is the agent (audit trail)."""

    engine: Store
    company: Company

    def engineer_name(self, engineer: str) -> str:
        roster = self.company.roster
        person = roster.engineer(engineer) if roster else None
        return person.name if person else engineer

    def zone_of(self, visit: VisitInfo) -> tzinfo:
        """The visit centre's time zone: the engineer's local time."""
        roster = self.company.roster
        if roster is not None and visit.centre in roster.centres:
            return ZoneInfo(roster.centres[visit.centre].tz)
        return ZoneInfo(self.company.timezone)

    # --- what may be booked ------------------------------------------------------------------

    async def bookable(self, conversation_id: int, now: datetime) -> tuple[str | None, list[Window]]:
        """The open request's number and free windows an agent may book for it (none while one is booked)."""
        async with self.engine.connect() as conn:
            ticket = await _open_request(conn, conversation_id)
            roster, centre = self.company.roster, _centre(ticket)
            if roster is None or ticket is None or centre not in roster.centres or not ticket.product_line:
                return None, []
            if await store.booked_for_ticket(conn, ticket.id):
                return ticket.number, []
            found = await _free(conn, roster, centre, ticket.product_line, job_kind_of(ticket.details), now)
        return ticket.number, found

    async def movable(self, visit: VisitInfo, now: datetime) -> list[Window]:
        """Free windows a booked visit may move to: the same centre, skills and kind of job."""
        roster = self.company.roster
        if roster is None or visit.centre not in roster.centres or visit.status != VisitStatus.BOOKED:
            return []
        async with self.engine.connect() as conn:
            line = await conn.scalar(select(tickets.c.product_line).where(tickets.c.id == visit.ticket_id))
            if not line:
                return []
            return await _free(conn, roster, visit.centre, line, JobKind(visit.kind), now)

    async def booked(self, conversation_id: int, ticket_id: int | None = None) -> VisitInfo | None:
        """The booked visit a command in a ticket's topic is about: the ticket's own, else the
        conversation's latest (a hand-over opens its own ticket beside the repair's)."""
        async with self.engine.connect() as conn:
            if ticket_id is not None:
                visit = await store.booked_for_ticket(conn, ticket_id)
                if visit is not None and visit.conversation_id == conversation_id:
                    return visit
            return next((v for v in await store.of_conversation(conn, conversation_id)
                         if v.status == VisitStatus.BOOKED), None)

    # --- booking, moving, cancelling -----------------------------------------------------------

    async def book(self, by: int | None, conversation_id: int, key: str, now: datetime) -> VisitInfo:
        """Book the window (`Window.key`) for the conversation's open repair or visit request (an
        installation, a maintenance visit); the customer is told."""
        window = _window(key)
        async with self.engine.begin() as conn:
            ticket = await _open_request(conn, conversation_id)
            roster, centre = self.company.roster, _centre(ticket)
            if roster is None or ticket is None or centre not in roster.centres or not ticket.product_line:
                raise BadReport(Problem.NO_REPAIR, "no open repair with a place we serve")
            if await store.booked_for_ticket(conn, ticket.id):
                raise BadReport(Problem.ALREADY_BOOKED, "a visit is booked already")
            visit = await self._hold(conn, roster, window, ticket_id=ticket.id, customer_id=ticket.customer_id,
                                     conversation_id=conversation_id, centre=centre, line=ticket.product_line,
                                     kind=job_kind_of(ticket.details), onsite_due=ticket.onsite_due, now=now)
            await store.engineer_says(conn, visit, Notice.BOOKED, now, engineer=self.engineer_name(visit.engineer))
            await _audit(conn, by, VisitAction.BOOK, visit, now, window=visit.starts_at.isoformat())
        return visit

    async def reschedule(self, by: int | None, conversation_id: int, visit_id: int, key: str,
                         now: datetime) -> VisitInfo:
        """Move a booked visit to another free window, in one transaction: the old time is freed and
        its reminders cancelled, the new one booked with its own; the customer is told. The new visit."""
        window = _window(key)
        roster = self.company.roster
        async with self._booked_visit(conversation_id, visit_id) as (conn, old):
            facts = (await conn.execute(select(tickets.c.product_line, tickets.c.onsite_due)
                                        .where(tickets.c.id == old.ticket_id))).one()
            if roster is None or old.centre not in roster.centres or not facts.product_line:
                raise BadReport(Problem.NO_REPAIR, "the visit's centre or product line is unknown")
            if (window.start, window.end) == (old.starts_at, old.ends_at):
                raise BadReport(Problem.TAKEN, "that is the visit's own window")
            await store.release(conn, old.id, VisitStatus.CANCELLED, now)  # undone with the rest if none is free
            new = await self._hold(conn, roster, window, ticket_id=old.ticket_id, customer_id=old.customer_id,
                                   conversation_id=old.conversation_id, centre=old.centre, line=facts.product_line,
                                   kind=JobKind(old.kind), onsite_due=facts.onsite_due, now=now)
            await store.note(conn, old.id, {"notice": Notice.MOVED.value, "to": new.id}, now)
            await store.engineer_says(conn, new, Notice.MOVED, now, engineer=self.engineer_name(new.engineer),
                                      was=old.starts_at.isoformat(), moved_from=old.id)
            await _audit(conn, by, VisitAction.RESCHEDULE, old, now, to=new.id, window=new.starts_at.isoformat())
        return new

    async def cancel(self, by: int | None, conversation_id: int, visit_id: int, reason: str, now: datetime) -> None:
        """Cancel a booked visit for the customer: the reason on the log, the time freed, its
        reminders cancelled, the customer told (without the agent's reason, which is for us)."""
        reason = reason.strip()[:500]
        if not reason:
            raise BadReport(Problem.NO_REASON, "a cancellation needs its reason")
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            await store.note(conn, visit.id, {"notice": Notice.CANCELLED.value, "reason": reason}, now)
            await store.release(conn, visit.id, VisitStatus.CANCELLED, now)
            await store.engineer_says(conn, visit, Notice.CANCELLED, now, engineer=self.engineer_name(visit.engineer))
            await _audit(conn, by, VisitAction.CANCEL, visit, now, reason=reason)

    # --- the engineer's word -------------------------------------------------------------------

    async def on_my_way(self, by: int | None, conversation_id: int, visit_id: int, now: datetime) -> VisitInfo:
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            await store.engineer_says(conn, visit, Notice.ON_MY_WAY, now, engineer=self.engineer_name(visit.engineer))
            await _audit(conn, by, VisitAction.ON_MY_WAY, visit, now)
        return visit

    async def late(self, by: int | None, conversation_id: int, visit_id: int, minutes: int,
                   now: datetime) -> datetime:
        """Late by `minutes`: the customer is told at once, with an apology. When the engineer expects to arrive."""
        minutes = check_late(minutes)
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            eta = max(now, visit.starts_at) + timedelta(minutes=minutes)
            await store.engineer_says(conn, visit, Notice.LATE, now, minutes=minutes, eta=eta.isoformat(),
                                      engineer=self.engineer_name(visit.engineer))
            await _audit(conn, by, VisitAction.LATE, visit, now, minutes=minutes)
        return eta

    async def arrived(self, by: int | None, conversation_id: int, visit_id: int, now: datetime) -> VisitInfo:
        """The engineer is at the door, now: on the visit and its ticket (the on-site promise kept or not)."""
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            if any(entry.get("notice") == Notice.ARRIVED for entry in visit.log):
                raise BadReport(Problem.ARRIVED_ALREADY, "the arrival is recorded already")
            await store.record_arrival(conn, visit, now, now)
            await _audit(conn, by, VisitAction.ARRIVED, visit, now, arrived=now.isoformat())
        return visit

    async def absent(self, by: int | None, conversation_id: int, visit_id: int, arrived: datetime, left: datetime,
                     now: datetime) -> None:
        """Nobody there: the 20-minute wait with its times; the time is freed and the customer offered a new one.
        The engineer was at the door on time or not: the ticket's arrival is recorded too."""
        check_absence(arrived, left, now)
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            await store.mark_onsite(conn, visit.ticket_id, arrived, now)
            await store.engineer_says(conn, visit, Notice.ABSENT, now, arrived=arrived.isoformat(),
                                      left=left.isoformat(), engineer=self.engineer_name(visit.engineer))
            await _audit(conn, by, VisitAction.ABSENT, visit, now, arrived=arrived.isoformat(), left=left.isoformat())

    async def result(self, by: int | None, conversation_id: int, visit_id: int, result: VisitResult, report: str,
                     out_of_use: date | None, today: date, now: datetime) -> None:
        """The visit's result, the report and the downtime on the ticket (fixed resolves it and plans
        its return visit, domain.md §5); the customer is told."""
        report = report.strip()[:4000]
        if not report:
            raise BadReport(Problem.NO_REPORT, "write the engineer's report")
        if out_of_use is not None:
            check_out_of_use(out_of_use, today)
        working_again = today if result is VisitResult.FIXED else None
        if out_of_use is not None and working_again is not None and working_again <= out_of_use:
            working_again = out_of_use + timedelta(days=1)  # fixed the day it broke: one day out of use
        roster = self.company.roster
        async with self._booked_visit(conversation_id, visit_id) as (conn, visit):
            line = await conn.scalar(select(tickets.c.product_line).where(tickets.c.id == visit.ticket_id))
            maintained = roster is not None and line in roster.maintenance_lines
            await store.record_result(conn, visit, result, report, out_of_use, working_again, now,
                                      months_later(now, MAINTENANCE_EVERY_MONTHS) if maintained else None)
            if result is VisitResult.FIXED and self.company.surveys is not None:
                await plan_surveys(conn, self.company.surveys, visit.ticket_id, now)
            await _audit(conn, by, VisitAction.RESULT, visit, now, result=result.value)

    # --- helpers ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def _booked_visit(self, conversation_id: int, visit_id: int) -> AsyncIterator[tuple[StoreConnection, VisitInfo]]:
        """A write transaction and the conversation's booked visit `visit_id` (a forged id is refused)."""
        async with self.engine.begin() as conn:
            visit = await store.get(conn, visit_id)
            if visit is None or visit.conversation_id != conversation_id:
                raise BadReport(Problem.NO_VISIT, "no such visit in this conversation")
            if visit.status != VisitStatus.BOOKED:
                raise BadReport(Problem.NOT_BOOKED, "the visit is no longer booked")
            yield conn, visit

    async def _hold(self, conn: StoreConnection, roster: Roster, window: Window, *, ticket_id: int, customer_id: int,
                    conversation_id: int | None, centre: str, line: str, kind: JobKind, onsite_due: datetime | None,
                    now: datetime) -> VisitInfo:
        """Book the first free skilled engineer of the centre for `window`, with its reminders;
        a window that is past, too far ahead, not one of theirs or no longer free is refused."""
        zone = ZoneInfo(roster.centres[centre].tz)
        last = now.astimezone(zone).date() + timedelta(days=roster.days_ahead)
        if window.start < now + LEAD_TIME or window.start.astimezone(zone).date() > last:
            raise BadReport(Problem.TAKEN, "not a window that may be booked now")
        engineers = [e.id for e in roster.engineers if e.centre == centre]
        busy = await store.busy(conn, engineers, window.start, window.end)
        label = f"{window.start.astimezone(zone):%H:%M}-{window.end.astimezone(zone):%H:%M}"
        for engineer in free_engineers(roster, centre, line, window, busy):
            visit_id = await store.book(
                conn, ticket_id=ticket_id, customer_id=customer_id, conversation_id=conversation_id, engineer=engineer,
                centre=centre, kind=kind, window=Window(window.start, window.end, engineer), now=now,
                chose_later=onsite_due is not None and window.start > onsite_due, booked_by="agent", label=label,
                engineer_name=self.engineer_name(engineer))
            if visit_id is not None:
                visit = await store.get(conn, visit_id)
                assert visit is not None
                return visit
        raise BadReport(Problem.TAKEN, "that window is no longer free")


def _window(key: str) -> Window:
    try:
        return Window.from_key(key)
    except ValueError:
        raise BadReport(Problem.GARBLED, f"not a window: {key!r}") from None


async def _open_request(conn: StoreConnection, conversation_id: int) -> Any:
    """The conversation's latest open ticket an engineer comes for: a repair, or a visit request."""
    return (await conn.execute(
        select(tickets.c.id, tickets.c.number, tickets.c.customer_id, tickets.c.product_line, tickets.c.details,
               tickets.c.onsite_due)
        .where(tickets.c.conversation_id == conversation_id, tickets.c.kind.in_(VISIT_TICKETS), tickets.c.status.in_(OPEN))
        .order_by(tickets.c.id.desc())
    )).first()


def _centre(ticket: Any) -> str | None:
    return (ticket.details or {}).get("visit_centre") if ticket is not None else None


async def _free(conn: StoreConnection, roster: Roster, centre: str, line: str, kind: JobKind,
                now: datetime) -> list[Window]:
    zone = ZoneInfo(roster.centres[centre].tz)
    engineers = [e.id for e in roster.engineers if e.centre == centre]
    busy = await store.busy(conn, engineers, now, now + timedelta(days=roster.days_ahead + 1))
    found = free_windows(roster, centre, line, kind, busy, now, now.astimezone(zone).date(), roster.days_ahead)
    return found[:OFFERED]


async def _audit(conn: StoreConnection, by: int | None, action: VisitAction, visit: VisitInfo, now: datetime,
                 **detail: Any) -> None:
    await record(conn, by, f"visit.{action.value}", now, conversation_id=visit.conversation_id,
                 ticket_id=visit.ticket_id, visit=visit.id, **detail)
