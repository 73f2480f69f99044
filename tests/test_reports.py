"""Service reports (domain.md §6) on generated data: the early warning, promises kept, survey
figures, CSV round trips, the report jobs, and the customer's maintenance summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n import Translator
from bot.jobs import JobRunner
from handlers import report_jobs  # registers the report jobs
from handlers.report_jobs import ReportJob, ensure_scheduled
from services.handoff import Role
from services.reports import (
    Span,
    SurveyFact,
    Table,
    TicketFact,
    Window,
    build,
    early_warnings,
    maintenance_summary,
    period,
)
from storage import jobs
from storage.agents import add_agent
from storage.models import AuditEntry, Customer, OutboxRow, Survey, Ticket, utcnow
from storage.reports import report
from tests.clock import ManualClock

END = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
LIMITS = {Window.MONTH: 3, Window.QUARTER: 6, Window.YEAR: 12}


def fact(n: int, days_ago: float, model: str = "KFR-35GW", kind: str = "repair", category: str | None = None, **more: Any) -> TicketFact:
    return TicketFact(n, f"R-2026-{n:06d}", kind, more.pop("status", "resolved"), END - timedelta(days=days_ago),
                      more.pop("product_line", "household_ac"), model, category, **more)


def test_a_fault_recurring_beyond_the_month_threshold_is_flagged_with_its_tickets() -> None:
    three = [fact(n, days) for n, days in enumerate((1, 5, 29), 1)]
    assert early_warnings(three, END, LIMITS) == []  # 3 is the threshold itself: not beyond it
    four = [*three, fact(4, 12)]
    [warning] = early_warnings(four, END, LIMITS)
    assert (warning.window, warning.model, warning.count, warning.threshold) == (Window.MONTH, "KFR-35GW", 4, 3)
    assert warning.tickets == ("R-2026-000003", "R-2026-000004", "R-2026-000002", "R-2026-000001")  # oldest first
    # Outside the month window, or on another model, or a plain question: not counted.
    noise = [fact(10, 31), fact(11, 2, model="KFR-50LW"), fact(12, 3, kind="person")]
    assert [w.window for w in early_warnings([*three, *noise], END, LIMITS)] == []


def test_quarter_and_year_windows() -> None:
    quarter = [fact(n, 10 + 11 * n) for n in range(7)]  # 7 within 91 days, at most 3 in any month ending now
    assert [(w.window, w.count) for w in early_warnings(quarter, END, LIMITS)] == [(Window.QUARTER, 7)]
    year = [fact(n, 100 + 19 * n, category="compressor") for n in range(13)]
    [warning] = early_warnings(year, END, LIMITS)
    assert (warning.window, warning.category, warning.count) == (Window.YEAR, "compressor", 13)
    assert early_warnings(year, END, {**LIMITS, Window.YEAR: 13}) == []  # the threshold is the setting's


def test_promises_kept_per_sla_class_and_survey_figures() -> None:
    due = END - timedelta(days=2)
    tickets = [
        fact(1, 3, sla_class="city", first_response_due=due, first_response_at=due - timedelta(minutes=5)),
        fact(2, 3, sla_class="city", first_response_due=due, first_response_at=due + timedelta(minutes=5)),
        fact(3, 3, sla_class="city", first_response_due=due, onsite_due=due, onsite_at=due),
        fact(4, 1, sla_class="overseas", first_response_due=END + timedelta(hours=1)),  # not due yet: left out
    ]
    surveys = [
        SurveyFact("repair_3d", "answered", END - timedelta(days=1), 5, "Ann"),
        SurveyFact("repair_3d", "problem", END - timedelta(days=1), 2, "Ann"),
        SurveyFact("repair_3d", "expired", END - timedelta(days=2), None, "Bob"),
        SurveyFact("repair_3d", "scheduled", END - timedelta(days=2)),  # not asked yet
    ]
    result = build(Span.WEEKLY, END, tickets, surveys, LIMITS)
    assert result.table("promises").rows == (("city", "3", "1", "33%", "1", "1", "100%"),)
    assert result.table("surveys_by_plan").rows == (("repair_3d", "3", "2", "67%", "3.5"),)
    assert result.table("surveys_by_person").rows == (("Ann", "2", "2", "100%", "3.5"), ("Bob", "1", "0", "0%", "-"))
    assert result.table("by_kind").rows == (("repair", "4"),)


def test_every_table_round_trips_through_csv() -> None:
    tickets = [fact(n, n, model=f"空调,型号 \"{n % 2}\"", category="leak\nwater") for n in range(1, 9)]
    result = build(Span.MONTHLY, END, tickets, [SurveyFact("install_3d", "answered", END - timedelta(days=3), 4, "Ли")], LIMITS)
    assert result.warnings  # the early-warning table has rows too
    for table in result.tables:
        again = Table.from_csv(table.key, table.title, table.to_csv())
        assert again == table


def test_periods() -> None:
    assert period(Span.WEEKLY, END) == (END - timedelta(days=7), END)
    assert period(Span.MONTHLY, datetime(2026, 3, 31, tzinfo=UTC)) == (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))


def test_maintenance_summary_advises() -> None:
    kinds, advice = maintenance_summary([fact(1, 30), fact(2, 200)], END)
    assert kinds == {"repair": 2} and advice == ["repeated_repairs"]
    assert maintenance_summary([], END)[1] == ["periodic_check"]


# --- on the store ---------------------------------------------------------------------


async def seed(engine: AsyncEngine, count: int, model: str = "KFR-35GW") -> list[str]:
    """`count` repair tickets on one model in the last days before END; their numbers."""
    async with engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", created_at=END).returning(Customer.id))
        numbers = []
        for n in range(count):
            number = f"R-2026-{900000 + n}"
            await conn.execute(insert(Ticket).values(
                number=number, kind="repair", status="resolved", customer_id=customer, locale="en", product_line="household_ac",
                model=model, details={"sla": {"class": "city"}}, created_at=END - timedelta(days=n + 1), updated_at=END,
                first_response_due=END - timedelta(days=n + 1) + timedelta(hours=1),
                first_response_at=END - timedelta(days=n + 1) + timedelta(minutes=30 if n % 2 else 90),
            ))
            numbers.append(number)
        await conn.execute(insert(Survey).values(
            ticket_id=await conn.scalar(select(Ticket.id).limit(1)), customer_id=customer, plan="repair_3d", level="first",
            round=0, status="answered", due_at=END - timedelta(days=1), question=3, answers={"rating": "4"}, created_at=END))
    return numbers


async def test_report_from_the_store(engine: AsyncEngine) -> None:
    numbers = await seed(engine, 5)
    result = await report(engine, Span.WEEKLY, END, LIMITS)
    assert result.table("by_model").rows == (("KFR-35GW", "5"),)
    assert result.table("promises").rows == (("city", "5", "2", "40%", "0", "0", "-"),)
    assert result.table("surveys_by_plan").rows == (("repair_3d", "1", "1", "100%", "4.0"),)
    [warning] = result.warnings
    assert warning.tickets == tuple(reversed(numbers))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(END)


async def test_weekly_report_and_early_warning_jobs_tell_supervisors(engine: AsyncEngine, runner: JobRunner, clock: ManualClock) -> None:
    await seed(engine, 4)
    await ensure_scheduled(engine, clock.now)
    await ensure_scheduled(engine, clock.now)  # a second start-up schedules nothing more
    async with engine.connect() as conn:
        assert sorted(j.kind for j in await jobs.pending(conn)) == [ReportJob.WARNINGS, ReportJob.WEEKLY]

    async def notices() -> list[tuple[str, dict[str, Any]]]:
        async with engine.connect() as conn:
            return [(r.action, r.detail) for r in await conn.execute(select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id))]

    clock.advance(days=1)
    assert await runner.run_due() == 1  # the daily check: the model's 4 repairs this month
    [(action, detail)] = await notices()
    assert action == "early_warning" and detail["model"] == "KFR-35GW" and detail["window"] == "month" and len(detail["tickets"]) == 4
    for _ in range(6):
        clock.advance(days=1)
        await runner.run_due()
    kinds = [action for action, _ in await notices()]
    assert kinds.count("early_warning") == 1  # raised once, not every day
    assert kinds.count("weekly_report") == 1
    weekly = next(detail for action, detail in await notices() if action == "weekly_report")
    assert weekly["tickets"] == 0 and weekly["warnings"] == 1  # none opened that week (all before it); the warning stands
    async with engine.connect() as conn:
        assert sorted(j.kind for j in await jobs.pending(conn)) == [ReportJob.WARNINGS, ReportJob.WEEKLY]  # the next ones
    async with engine.connect() as conn:
        assert not (await conn.execute(select(OutboxRow.id))).all()  # no agents' group: nothing posted


async def test_with_the_agents_group_supervisors_read_the_report_and_the_warning_there_in_their_language(
    engine: AsyncEngine, runner: JobRunner, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_jobs, "_config", report_jobs._Config(LIMITS, "-1001234567890", "Asia/Shanghai", loaded=True))
    now = utcnow()
    await add_agent(engine, login="olga", name="Olga", password_hash="x", role=Role.SUPERVISOR, now=now, locale="ru")
    await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=now, locale="en")
    await seed(engine, 4)
    await ensure_scheduled(engine, clock.now)
    for _ in range(7):
        clock.advance(days=1)
        await runner.run_due()
    async with engine.connect() as conn:
        posts = (await conn.execute(select(OutboxRow.channel, OutboxRow.chat_id, OutboxRow.payload).order_by(OutboxRow.id))).all()
    assert {(channel, chat) for channel, chat, _ in posts} == {("telegram_group", "-1001234567890")}
    assert [payload["group"] for *_, payload in posts] == [{"post": "general"}] * 2  # in General, once each
    warning, weekly = (payload["text"] for *_, payload in posts)
    t = Translator("ru", "Asia/Shanghai")  # Olga's language: most supervisors'
    within = t._("Tickets within a month: %(count)d (threshold %(threshold)d)", count=4, threshold=3)
    assert within != "Tickets within a month: 4 (threshold 3)" and warning.splitlines()[1] == within
    assert "KFR-35GW" in warning and all(f"R-2026-90000{n}" in warning for n in range(4))
    assert t._("Early warnings: %(count)d", count=1) in weekly and t._("Tickets: %(count)d", count=0) in weekly
