"""The console's visit desk on a conversation page: book a window for the customer, and the
engineer's word (on my way, late by N minutes, customer absent, the result).

Each action is one transaction (storage/visits.py); what the customer must hear goes
out as a job due now (`VisitJob.NOTICE`), so it is serialised with their own messages.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select

from bot.company import Company
from bot.i18n import N_, Translator
from services.engineers import JobKind
from services.slots import Window, free_engineers, free_windows
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
from storage.db import Store
from storage.models import Ticket, table_of
from storage.surveys import plan_surveys
from storage.visits import Notice, VisitInfo, VisitResult, VisitStatus

tickets = table_of(Ticket)
RESULTS = {
    VisitResult.FIXED: N_("Fixed"), VisitResult.NEEDS_PARTS: N_("Needs parts"),
    VisitResult.ANOTHER_VISIT: N_("Another visit needed"), VisitResult.WORKSHOP: N_("Taken to the workshop"),
}
OFFERED = 12  # windows in the agent's booking list
PROBLEMS = {
    Problem.LATE_RANGE: N_("Not recorded: late by 1 to %(most)d minutes."),
    Problem.TIMES_ORDER: N_("Not recorded: the arrival must be before leaving, and both in the past."),
    Problem.SHORT_WAIT: N_("Not recorded: the engineer waits at least %(minutes)d minutes before reporting the customer absent."),
    Problem.FUTURE_DAY: N_("Not recorded: the day the product went out of use is in the future."),
    Problem.NO_REPORT: N_("Not recorded: write the engineer's report."),
    Problem.NO_REPAIR: N_("Not booked: no open repair at a place we serve."),
    Problem.ALREADY_BOOKED: N_("Not booked: a visit is booked already."),
    Problem.TAKEN: N_("Not booked: that window is no longer free."),
}


def _label(t: Translator, window: Window) -> str:
    start, end = window.start.astimezone(t.tz), window.end.astimezone(t.tz)
    return f"{t.day(start.date())} {t.time(start.time())}–{t.time(end.time())}"


async def desk(engine: Store, company: Company, conversation_id: int, t: Translator, now: datetime) -> dict[str, Any]:
    """What the page shows: the conversation's visits, and windows an agent may book."""
    roster = company.roster
    async with engine.connect() as conn:
        visits = await store.of_conversation(conn, conversation_id)
        open_repair = (await conn.execute(
            select(tickets.c.id, tickets.c.number, tickets.c.product_line, tickets.c.details, tickets.c.onsite_due)
            .where(tickets.c.conversation_id == conversation_id, tickets.c.kind == "repair",
                   tickets.c.status.in_(("open", "queued", "assigned")))
            .order_by(tickets.c.id.desc())
        )).first()
        windows: list[tuple[str, str]] = []
        centre = (open_repair.details or {}).get("visit_centre") if open_repair else None
        booked = any(v.status == VisitStatus.BOOKED for v in visits)
        if roster and open_repair and centre in roster.centres and open_repair.product_line and not booked:
            zone = ZoneInfo(roster.centres[centre].tz)
            first = now.astimezone(zone).date()
            engineers = [e.id for e in roster.engineers if e.centre == centre]
            busy = await store.busy(conn, engineers, now, now + timedelta(days=roster.days_ahead + 1))
            found = free_windows(roster, centre, open_repair.product_line, JobKind.REPAIR, busy, now, first,
                                 roster.days_ahead)
            windows = [(w.key, _label(t, w)) for w in found[:OFFERED]]
    shown = [{"id": v.id, "status": v.status, "engineer": _name(company, v.engineer), "window": _label(t, v.window),
              "result": v.result, "log": v.log} for v in visits]
    return {"visits": shown, "bookable": windows, "booking_ticket": open_repair.number if open_repair and windows else None,
            "results": RESULTS}


def _name(company: Company, engineer: str) -> str:
    person = company.roster.engineer(engineer) if company.roster else None
    return person.name if person else engineer


async def act(engine: Store, company: Company, conversation_id: int, what: str, form: MultiDictProxy[Any],
              t: Translator, now: datetime) -> str | None:
    """Carry out one visit action from the page; None when done, else what was wrong (for the agent)."""
    try:
        if what == "book":
            return await _book(engine, company, conversation_id, str(form.get("window", "")), now)
        visit_id = int(str(form.get("visit", "")) or 0)
        async with engine.begin() as conn:
            visit = await store.get(conn, visit_id)
            if visit is None or visit.conversation_id != conversation_id:
                return t._("No such visit.")
            if visit.status != VisitStatus.BOOKED:
                return t._("This visit is no longer booked.")
            payload = {"engineer": _name(company, visit.engineer)}
            if what == "on_my_way":
                await store.engineer_says(conn, visit, Notice.ON_MY_WAY, now, **payload)
            elif what == "late":
                minutes = check_late(int(str(form.get("minutes", "0")) or 0))
                eta = max(now, visit.starts_at) + timedelta(minutes=minutes)
                await store.engineer_says(conn, visit, Notice.LATE, now, minutes=minutes, eta=eta.isoformat(), **payload)
            elif what == "absent":
                arrived, left = _today_at(t, now, form.get("arrived")), _today_at(t, now, form.get("left"))
                check_absence(arrived, left, now)
                await store.engineer_says(conn, visit, Notice.ABSENT, now, arrived=arrived.isoformat(),
                                          left=left.isoformat(), **payload)
            elif what == "result":
                await _result(conn, company, visit, form, t, now)
            else:
                raise web.HTTPNotFound(text="no such visit action")
    except BadReport as error:
        return t._(PROBLEMS[error.problem], minutes=int(ABSENT_WAIT.total_seconds() // 60), most=MAX_LATE_MINUTES)
    except ValueError:  # a forged or garbled field (a window key, a time, a date, a result)
        return t._("Not recorded: please check what you entered.")
    return None


async def _result(conn: Any, company: Company, visit: VisitInfo, form: MultiDictProxy[Any], t: Translator,
                  now: datetime) -> None:
    result = VisitResult(str(form.get("result", "")))
    report = str(form.get("report", "")).strip()[:4000]
    if not report:
        raise BadReport(Problem.NO_REPORT, "write the engineer's report")
    today = now.astimezone(t.tz).date()
    out_text = str(form.get("out_of_use", "")).strip()
    out_of_use = check_out_of_use(date.fromisoformat(out_text), today) if out_text else None
    working_again = today if result is VisitResult.FIXED else None
    if out_of_use is not None and working_again is not None and working_again <= out_of_use:
        working_again = out_of_use + timedelta(days=1)  # fixed the day it broke: one day out of use
    roster = company.roster
    line = (await conn.execute(select(tickets.c.product_line).where(tickets.c.id == visit.ticket_id))).scalar_one()
    maintained = roster is not None and line in roster.maintenance_lines
    await store.record_result(conn, visit, result, report, out_of_use, working_again, now,
                              months_later(now, MAINTENANCE_EVERY_MONTHS) if maintained else None)
    if result is VisitResult.FIXED and company.surveys is not None:  # resolved: its return visit (§5), now
        await plan_surveys(conn, company.surveys, visit.ticket_id, now)


async def _book(engine: Store, company: Company, conversation_id: int, key: str, now: datetime) -> str | None:
    roster = company.roster
    window = Window.from_key(key)
    async with engine.begin() as conn:
        ticket = (await conn.execute(
            select(tickets.c.id, tickets.c.customer_id, tickets.c.product_line, tickets.c.details,
                         tickets.c.onsite_due)
            .where(tickets.c.conversation_id == conversation_id, tickets.c.kind == "repair",
                   tickets.c.status.in_(("open", "queued", "assigned"))).order_by(tickets.c.id.desc())
        )).first()
        centre = (ticket.details or {}).get("visit_centre") if ticket else None
        if roster is None or ticket is None or centre not in roster.centres or not ticket.product_line:
            raise BadReport(Problem.NO_REPAIR, "no open repair with a place we serve")
        if await store.booked_for_ticket(conn, ticket.id):
            raise BadReport(Problem.ALREADY_BOOKED, "a visit is booked already")
        engineers = [e.id for e in roster.engineers if e.centre == centre]
        busy = await store.busy(conn, engineers, window.start, window.end)
        chose_later = ticket.onsite_due is not None and window.start > ticket.onsite_due
        zone = ZoneInfo(roster.centres[centre].tz)
        label = f"{window.start.astimezone(zone):%H:%M}-{window.end.astimezone(zone):%H:%M}"
        for engineer in free_engineers(roster, centre, ticket.product_line, window, busy):
            visit_id = await store.book(
                conn, ticket_id=ticket.id, customer_id=ticket.customer_id, conversation_id=conversation_id,
                engineer=engineer, centre=centre, kind=JobKind.REPAIR, window=Window(window.start, window.end, engineer),
                now=now, chose_later=chose_later, booked_by="agent", label=label, engineer_name=_name(company, engineer))
            if visit_id is not None:
                visit = await store.get(conn, visit_id)
                assert visit is not None
                await store.engineer_says(conn, visit, Notice.BOOKED, now, engineer=_name(company, engineer))
                return None
    raise BadReport(Problem.TAKEN, "that window is no longer free")


def _today_at(t: Translator, now: datetime, value: Any) -> datetime:
    """"14:05" today in the agent's zone."""
    clock = time.fromisoformat(str(value or "").strip())
    return datetime.combine(now.astimezone(t.tz).date(), clock, tzinfo=t.tz)
