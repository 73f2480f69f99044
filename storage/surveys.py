"""Return-visit surveys in the store: scheduled with the resolution that causes them,
asked by a job, answered in the customer's turns. Every function runs in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update

from services.handoff import TicketKind, TicketStatus
from services.survey_plans import Level, SurveyConfig, after, due_at, in_sample, trigger_for
from services.surveys import OPEN_SURVEYS, SurveyStatus
from services.wechat_window import window
from storage.db import StoreConnection, insert_ignore
from storage.models import Survey, SurveyOptOut, Visit, table_of
from storage.turns import messages, outbox, tickets
from storage.visits import VisitStatus

surveys = table_of(Survey)
opt_outs = table_of(SurveyOptOut)
visits = table_of(Visit)

PROBLEM_DETAIL = "survey_problem"  # ticket detail: the survey that sent it back to a person
VERIFIED = "verified"  # the resolution of a complaint its return visit confirmed


class SurveyJob(StrEnum):
    ASK = "survey.ask"  # the first question, when the plan falls due
    REMIND = "survey.remind"  # once, if the customer has not finished answering
    EXPIRE = "survey.expire"  # no answer in time: counted as unanswered
    SWEEP = "survey.sweep"  # hourly: resolved tickets no resolution scheduled surveys for
    WEEKLY_REPORT = "report.weekly"  # the weekly report to supervisors


@dataclass(frozen=True, slots=True)
class SurveyRow:
    id: int
    ticket_id: int
    customer_id: int
    conversation_id: int | None
    plan: str
    level: str
    round: int
    status: SurveyStatus
    due_at: datetime
    asked_at: datetime | None
    reminded_at: datetime | None
    answered_at: datetime | None
    question: int
    answers: dict[str, Any]
    agent_id: int | None
    team: str | None
    engineer: str | None
    follow_up_ticket_id: int | None
    note: str | None


def _row(row: Any) -> SurveyRow:
    values = dict(row._mapping)
    values.pop("created_at", None)
    values["status"] = SurveyStatus(values["status"])
    return SurveyRow(**values)


@dataclass(frozen=True, slots=True)
class Scheduled:
    survey_id: int
    conversation_id: int | None
    ticket_id: int
    due_at: datetime


async def schedule_after_resolve(conn: StoreConnection, config: SurveyConfig, ticket_id: int, now: datetime) -> list[Scheduled]:
    """The surveys a resolved ticket causes, in the resolving transaction (rows only; the caller
    schedules their jobs). A ticket a survey sent back to a person: the same plan again (the next
    round). Otherwise every plan of its trigger, the head office's on a sample; an event that was
    already surveyed (resolved again later) gets nothing twice: (ticket, plan, round) is unique."""
    ticket = (await conn.execute(select(
        tickets.c.id, tickets.c.kind, tickets.c.details, tickets.c.customer_id, tickets.c.conversation_id,
        tickets.c.assigned_agent_id, tickets.c.team,
    ).where(tickets.c.id == ticket_id))).first()
    if ticket is None:
        return []
    details = dict(ticket.details or {})
    rows: list[tuple[str, str, int]] = []  # plan, level, round
    again = details.get(PROBLEM_DETAIL)
    if again:
        try:
            plan = config.plan(str(again["plan"]))
        except KeyError:
            plan = None
        if plan is not None:
            rows.append((plan.id, plan.level.value, int(again["round"]) + 1))
        details.pop(PROBLEM_DETAIL)
        details.setdefault("survey_problems", []).append(again)
        await conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(details=details))
    else:
        trigger = trigger_for(ticket.kind, details)
        for plan in config.plans_for(trigger) if trigger else []:
            if plan.level is Level.SECOND and not in_sample(f"ticket:{ticket_id}:{plan.id}", plan.sample):
                continue
            rows.append((plan.id, plan.level.value, 0))
    engineer = await last_engineer(conn, ticket_id)
    out = []
    for plan_id, level, round_ in rows:
        due = due_at(now, config.plan(plan_id))
        inserted = await conn.execute(insert_ignore(conn.dialect.name, surveys).values(
            ticket_id=ticket_id, customer_id=ticket.customer_id, conversation_id=ticket.conversation_id, plan=plan_id,
            level=level, round=round_, status=SurveyStatus.SCHEDULED.value, due_at=due, question=0, answers={},
            agent_id=ticket.assigned_agent_id, team=ticket.team, engineer=engineer, created_at=now,
        ).returning(surveys.c.id))
        survey_id = inserted.scalar()
        if survey_id is not None:  # None: this event was surveyed already
            out.append(Scheduled(survey_id, ticket.conversation_id, ticket_id, due))
    return out


async def last_engineer(conn: StoreConnection, ticket_id: int) -> str | None:
    """The engineer of the ticket's last completed visit (the one the survey asks about), if any."""
    query = (select(visits.c.engineer).where(visits.c.ticket_id == ticket_id, visits.c.status == VisitStatus.DONE.value)
             .order_by(visits.c.updated_at.desc(), visits.c.id.desc()).limit(1))
    engineer: str | None = await conn.scalar(query)
    return engineer


async def get(conn: StoreConnection, survey_id: int) -> SurveyRow | None:
    row = (await conn.execute(select(surveys).where(surveys.c.id == survey_id))).first()
    return _row(row) if row else None


async def change(conn: StoreConnection, survey_id: int, **values: Any) -> None:
    if "status" in values:
        values["status"] = SurveyStatus(values["status"]).value
    await conn.execute(update(surveys).where(surveys.c.id == survey_id).values(**values))


async def asking(conn: StoreConnection, customer_id: int) -> list[SurveyRow]:
    """The customer's surveys waiting for an answer, oldest first."""
    query = (select(surveys).where(surveys.c.customer_id == customer_id, surveys.c.status == SurveyStatus.ASKING.value)
             .order_by(surveys.c.asked_at, surveys.c.id))
    return [_row(r) for r in await conn.execute(query)]


async def of_customer(conn: StoreConnection, customer_id: int) -> list[SurveyRow]:
    query = select(surveys).where(surveys.c.customer_id == customer_id).order_by(surveys.c.due_at.desc(), surveys.c.id.desc())
    return [_row(r) for r in await conn.execute(query)]


async def of_ticket(conn: StoreConnection, ticket_id: int) -> list[SurveyRow]:
    query = select(surveys).where(surveys.c.ticket_id == ticket_id).order_by(surveys.c.id)
    return [_row(r) for r in await conn.execute(query)]


async def opted_out(conn: StoreConnection, customer_id: int) -> bool:
    return await conn.scalar(select(opt_outs.c.customer_id).where(opt_outs.c.customer_id == customer_id)) is not None


async def opt_out(conn: StoreConnection, customer_id: int, now: datetime) -> None:
    """No more surveys for this customer; the ones waiting are skipped."""
    await conn.execute(insert_ignore(conn.dialect.name, opt_outs).values(customer_id=customer_id, since=now))
    await conn.execute(update(surveys).where(
        surveys.c.customer_id == customer_id, surveys.c.status.in_([s.value for s in OPEN_SURVEYS]),
    ).values(status=SurveyStatus.SKIPPED.value, note="opted_out"))


async def opt_in(conn: StoreConnection, customer_id: int) -> bool:
    """Undo `opt_out`; False if they had not opted out."""
    result = await conn.execute(delete(opt_outs).where(opt_outs.c.customer_id == customer_id))
    return bool(result.rowcount)


WINDOW_CHANNELS = frozenset({"wechat"})  # channels where we may write first only for a while after the customer


async def window_open(conn: StoreConnection, conversation_id: int, channel: str, now: datetime) -> bool:
    """Whether the channel lets us write first now: WeChat only within 48 hours of the
    customer's last message (services/wechat_window.py); the other channels always."""
    if channel not in WINDOW_CHANNELS:
        return True
    last = await conn.scalar(select(func.max(messages.c.created_at)).where(
        messages.c.conversation_id == conversation_id, messages.c.direction == "in"))
    if isinstance(last, datetime) and last.tzinfo is None:  # SQLite's aggregate loses the type
        last = last.replace(tzinfo=now.tzinfo)
    elif isinstance(last, str):
        last = datetime.fromisoformat(last).replace(tzinfo=now.tzinfo)
    sent = 0
    if last is not None:
        sent = int(await conn.scalar(select(func.count()).select_from(outbox).where(
            outbox.c.conversation_id == conversation_id, outbox.c.created_at > last)) or 0)
    return window(last, sent, now).closed is None


async def record_problem(conn: StoreConnection, survey: SurveyRow, answers: dict[str, Any], problems: list[str]) -> None:
    """The survey's answers on its ticket, so the person who picks it up sees them."""
    details = dict(await conn.scalar(select(tickets.c.details).where(tickets.c.id == survey.ticket_id)) or {})
    details[PROBLEM_DETAIL] = {"survey": survey.id, "plan": survey.plan, "round": survey.round,
                               "answers": answers, "problems": problems}
    await conn.execute(update(tickets).where(tickets.c.id == survey.ticket_id).values(details=details))


async def verify_complaint(conn: StoreConnection, ticket_id: int, now: datetime) -> bool:
    """A complaint its return visit confirmed: closed (§5: 100% verified)."""
    result = await conn.execute(update(tickets).where(
        tickets.c.id == ticket_id, tickets.c.kind == TicketKind.COMPLAINT.value,
        tickets.c.status == TicketStatus.RESOLVED.value,
    ).values(status=TicketStatus.CLOSED.value, resolution=VERIFIED, updated_at=now))
    return bool(result.rowcount)


async def reopen_undeliverable(conn: StoreConnection, config: SurveyConfig, conversation_id: int,
                               now: datetime) -> list[int]:
    """The customer wrote in this conversation, so its reply window is open again: their surveys
    here that could not be sent and have not expired are asked now (an ASK job due now replaces
    the daily retry). The ids rescheduled."""
    from storage import jobs  # the shared durable-jobs queue

    query = select(surveys.c.id, surveys.c.ticket_id, surveys.c.due_at).where(
        surveys.c.conversation_id == conversation_id, surveys.c.status == SurveyStatus.UNDELIVERABLE.value)
    out = []
    for row in (await conn.execute(query)).all():
        if now >= after(row.due_at, config.expires_after):
            continue  # expired: it stays marked, counted as not sent
        await conn.execute(update(surveys).where(surveys.c.id == row.id).values(
            status=SurveyStatus.SCHEDULED.value, due_at=now, note=None))
        cause = f"survey:{row.id}"
        await jobs.cancel(conn, cause, now)
        await jobs.schedule(conn, SurveyJob.ASK, now, {"survey": row.id}, conversation_id=conversation_id,
                            ticket_id=row.ticket_id, cause=cause, now=now)
        out.append(row.id)
    return out


async def undeliverable(conn: StoreConnection) -> list[SurveyRow]:
    query = select(surveys).where(surveys.c.status == SurveyStatus.UNDELIVERABLE.value).order_by(surveys.c.due_at)
    return [_row(r) for r in await conn.execute(query)]


class TurnSurveys:
    """What a customer's turn may do with their surveys, in the turn's transaction."""

    def __init__(self, conn: StoreConnection, customer_id: int, now: datetime, conversation_id: int | None = None) -> None:
        self._conn, self._customer, self._now, self._conversation = conn, customer_id, now, conversation_id

    async def get(self, survey_id: int) -> SurveyRow | None:
        survey = await get(self._conn, survey_id)
        return survey if survey and survey.customer_id == self._customer else None

    async def asking(self) -> list[SurveyRow]:
        return await asking(self._conn, self._customer)

    async def change(self, survey_id: int, **values: Any) -> None:
        await change(self._conn, survey_id, **values)

    async def ticket_number(self, ticket_id: int) -> str:
        return str(await self._conn.scalar(select(tickets.c.number).where(tickets.c.id == ticket_id)) or "")

    async def opted_out(self) -> bool:
        return await opted_out(self._conn, self._customer)

    async def opt_out(self) -> None:
        await opt_out(self._conn, self._customer, self._now)

    async def opt_in(self) -> bool:
        return await opt_in(self._conn, self._customer)

    async def record_problem(self, survey: SurveyRow, answers: dict[str, Any], problems: list[str]) -> None:
        await record_problem(self._conn, survey, answers, problems)

    async def verify_complaint(self, ticket_id: int) -> bool:
        return await verify_complaint(self._conn, ticket_id, self._now)

    async def window_reopened(self, config: SurveyConfig) -> list[int]:
        """The customer wrote in this conversation: its undeliverable surveys are asked now."""
        if self._conversation is None:
            return []
        return await reopen_undeliverable(self._conn, config, self._conversation, self._now)


async def plan_surveys(conn: StoreConnection, config: SurveyConfig, ticket_id: int, now: datetime) -> list[int]:
    """A ticket was resolved: its surveys and the jobs that ask them, in the same transaction."""
    from storage import jobs  # the shared durable-jobs queue

    ids = []
    for planned in await schedule_after_resolve(conn, config, ticket_id, now):
        await jobs.schedule(conn, SurveyJob.ASK, planned.due_at, {"survey": planned.survey_id},
                            conversation_id=planned.conversation_id, ticket_id=planned.ticket_id,
                            cause=f"survey:{planned.survey_id}")
        ids.append(planned.survey_id)
    return ids


async def sweep(conn: StoreConnection, config: SurveyConfig, now: datetime, since: datetime) -> list[int]:
    """The safety net of "100% of services get a return visit": tickets resolved since `since`
    by a path other than the core's RESOLVE (an engineer's visit report), with no survey yet,
    or sent back to a person by a survey and resolved again. Scheduled as if at their resolution."""
    done = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
    surveyed = select(surveys.c.id).where(surveys.c.ticket_id == tickets.c.id).exists()
    query = select(tickets.c.id, tickets.c.updated_at, tickets.c.details).where(
        tickets.c.status.in_(done), tickets.c.updated_at >= since, tickets.c.kind.in_(["repair", "complaint", "visit"]),
    ).where(~surveyed | tickets.c.details[PROBLEM_DETAIL].as_string().is_not(None))
    ids = []
    for row in (await conn.execute(query)).all():
        ids += await plan_surveys(conn, config, row.id, min(row.updated_at, now))
    return ids
