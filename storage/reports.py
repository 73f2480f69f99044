"""What the reports read (services/reports.py does the counting)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from services.reports import Report as Report
from services.reports import Span, SurveyFact, TicketFact, Window, build, maintenance_summary
from storage.db import Store, StoreConnection
from storage.models import Agent, AuditEntry, Survey, table_of
from storage.surveys import SurveyRow, of_customer, opted_out
from storage.turns import tickets

surveys = table_of(Survey)
agents = table_of(Agent)
audit = table_of(AuditEntry)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=366)  # the early warning's longest window, and a little


def _when(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


async def ticket_facts(conn: StoreConnection, since: datetime, customer_id: int | None = None) -> list[TicketFact]:
    # The two values needed from `details` are read by the database (json_extract / ->>):
    # parsing every ticket's JSON in Python was most of the report's time (bench/reports.py).
    sla_class = tickets.c.details["sla"]["class"].as_string()
    onsite_at = tickets.c.details["onsite_at"].as_string()
    chosen_until = tickets.c.details["onsite_chosen_until"].as_string()
    query = select(
        tickets.c.id, tickets.c.number, tickets.c.kind, tickets.c.status, tickets.c.created_at, tickets.c.product_line,
        tickets.c.model, tickets.c.category, sla_class, tickets.c.first_response_due, tickets.c.first_response_at,
        tickets.c.onsite_due, onsite_at, tickets.c.resolution, chosen_until,
    ).where(tickets.c.created_at >= since).order_by(tickets.c.created_at, tickets.c.id)
    if customer_id is not None:
        query = query.where(tickets.c.customer_id == customer_id)
    return [TicketFact(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], _when(r[12]), r[13],
                       _when(r[14])) for r in await conn.execute(query)]


async def survey_facts(conn: StoreConnection, start: datetime, end: datetime,
                       engineers: Mapping[str, str] | None = None) -> list[SurveyFact]:
    """The surveys due in [start, end); `engineers`: id -> name (data/engineers.yaml), else the ids."""
    names = engineers or {}
    query = (select(surveys.c.plan, surveys.c.status, surveys.c.due_at, surveys.c.answers, surveys.c.team, agents.c.name,
                    surveys.c.engineer)
             .select_from(surveys.outerjoin(agents, agents.c.id == surveys.c.agent_id))
             .where(surveys.c.due_at >= start, surveys.c.due_at < end))
    out = []
    for r in await conn.execute(query):
        rating = str((r.answers or {}).get("rating") or "")
        out.append(SurveyFact(r.plan, r.status, r.due_at, int(rating) if rating.isdigit() else None,
                              r.name or r.team, names.get(r.engineer, r.engineer) if r.engineer else None))
    return out


async def report(engine: Store, span: Span, end: datetime, thresholds: dict[Window, int],
                 engineers: Mapping[str, str] | None = None) -> Report:
    async with engine.connect() as conn:
        facts = await ticket_facts(conn, end - HISTORY)
        served = await survey_facts(conn, end - timedelta(days=32), end, engineers)
    return build(span, end, facts, served, thresholds)


async def awaiting_verification(conn: StoreConnection) -> list[tuple[str, int | None, datetime]]:
    """Resolved complaints whose return visit has not confirmed them yet: (number, conversation, since)."""
    query = (select(tickets.c.number, tickets.c.conversation_id, tickets.c.updated_at)
             .where(tickets.c.kind == "complaint", tickets.c.status == "resolved").order_by(tickets.c.updated_at))
    return [(r.number, r.conversation_id, r.updated_at) for r in await conn.execute(query)]


async def not_sent(conn: StoreConnection) -> list[tuple[str, int | None, str, datetime, str | None]]:
    """Surveys the channel would not carry (WeChat's window): (ticket, conversation, plan, due, why)."""
    query = (select(tickets.c.number, surveys.c.conversation_id, surveys.c.plan, surveys.c.due_at, surveys.c.note)
             .select_from(surveys.join(tickets, tickets.c.id == surveys.c.ticket_id))
             .where(surveys.c.status == "undeliverable").order_by(surveys.c.due_at))
    return [(r.number, r.conversation_id, r.plan, r.due_at, r.note) for r in await conn.execute(query)]


class Notice(StrEnum):
    """What supervisors are told on the reports page (an audit line each)."""

    WEEKLY_REPORT = "weekly_report"
    EARLY_WARNING = "early_warning"


async def notices(engine: Store, limit: int = 10) -> list[tuple[str, datetime, dict[str, Any]]]:
    """The latest weekly reports and early warnings: (kind, when, detail), newest first."""
    async with engine.connect() as conn:
        query = (select(audit.c.action, audit.c.created_at, audit.c.detail)
                 .where(audit.c.action.in_([n.value for n in Notice])).order_by(audit.c.id.desc()).limit(limit))
        return [(r.action, r.created_at, r.detail or {}) for r in await conn.execute(query)]


async def warned(conn: StoreConnection, key: str) -> bool:
    """Whether this early warning (window, model, category) was raised already."""
    query = select(audit.c.id, audit.c.detail).where(audit.c.action == Notice.EARLY_WARNING.value)
    return any((r.detail or {}).get("key") == key for r in await conn.execute(query))


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A customer's return visits and maintenance summary, for their file (§1, §6)."""

    surveys: list[SurveyRow]
    kinds: dict[str, int]
    advice: list[str]  # keys of services.reports.ADVICE
    opted_out: bool


async def service_record(engine: Store, customer_id: int, now: datetime) -> ServiceRecord:
    async with engine.connect() as conn:
        facts = await ticket_facts(conn, EPOCH, customer_id)
        kinds, advice = maintenance_summary(facts, now)
        return ServiceRecord(await of_customer(conn, customer_id), kinds, advice, await opted_out(conn, customer_id))
