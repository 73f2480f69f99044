"""Surveys per engineer (issue 13): the survey records the engineer of its ticket's last done
visit (both databases), the report groups by it, and what a visit ticket's engineer comes for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from services.engineers import JobKind, job_kind_of
from services.reports import By, Span, SurveyFact, build, survey_stats
from storage.models import Customer, Survey, Ticket, Visit
from storage.surveys import plan_surveys

NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def test_stats_per_engineer_leave_out_surveys_without_one() -> None:
    facts = [SurveyFact("repair_3d", "answered", NOW, 5, "Ann", "Zhang Wei"),
             SurveyFact("install_3d", "problem", NOW, 1, "Ann", "Zhang Wei"),
             SurveyFact("repair_3d", "expired", NOW, None, "Bob", "Li Na"),
             SurveyFact("repair_3d", "answered", NOW, 4, "Bob")]  # answered by phone: no visit
    assert survey_stats(facts, By.ENGINEER) == [("Li Na", 1, 0, None), ("Zhang Wei", 2, 2, 3.0)]
    assert survey_stats(facts, By.PERSON) == [("Ann", 2, 2, 3.0), ("Bob", 2, 1, 4.0)]
    report = build(Span.WEEKLY, NOW + timedelta(hours=1), [], facts, {})
    assert report.table("surveys_by_engineer").rows == (("Li Na", "1", "0", "0%", "-"),
                                                        ("Zhang Wei", "2", "2", "100%", "3.0"))


def test_what_the_engineer_comes_for() -> None:
    assert job_kind_of({"visit_type": "installation"}) is JobKind.INSTALLATION
    assert job_kind_of({"visit_type": "training"}) is JobKind.INSTALLATION
    assert job_kind_of({"maintenance_of": 7}) is JobKind.MAINTENANCE
    assert job_kind_of({"visit_centre": "shanghai"}) is JobKind.REPAIR
    assert job_kind_of(None) is JobKind.REPAIR


def test_an_installation_window_is_its_own_length(company: Company) -> None:
    assert company.roster is not None
    assert company.roster.slot_length(JobKind.INSTALLATION) == timedelta(hours=4)  # 3 h and the travel


async def test_the_survey_records_the_engineer_of_the_last_done_visit(engine: AsyncEngine, company: Company) -> None:
    assert company.surveys is not None
    async with engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", created_at=NOW).returning(Customer.id))
        tickets = []
        for n in range(2):
            tickets.append(await conn.scalar(insert(Ticket).values(
                number=f"R-2026-60000{n}", kind="repair", status="resolved", customer_id=customer, locale="en",
                details={}, created_at=NOW, updated_at=NOW,
            ).returning(Ticket.id)))
        visits = [  # ticket, engineer, status, updated: the first visit needed parts, the second fixed it
            (tickets[0], "chen_jie", "done", NOW - timedelta(days=3)),
            (tickets[0], "zhang_wei", "done", NOW - timedelta(hours=2)),
            (tickets[0], "li_na", "cancelled", NOW - timedelta(hours=1)),  # booked, then cancelled: not there
        ]
        for ticket, engineer, status, at in visits:
            await conn.execute(insert(Visit).values(
                ticket_id=ticket, customer_id=customer, engineer=engineer, centre="shanghai", kind="repair",
                starts_at=at - timedelta(hours=3), ends_at=at, status=status, log=[], created_at=at, updated_at=at))
        await plan_surveys(conn, company.surveys, tickets[0], NOW)
        await plan_surveys(conn, company.surveys, tickets[1], NOW)  # no visit: resolved on the phone
        found = (await conn.execute(select(Survey.ticket_id, Survey.plan, Survey.engineer)
                                    .where(Survey.plan == "repair_3d").order_by(Survey.ticket_id))).all()
    assert [tuple(row) for row in found] == [(tickets[0], "repair_3d", "zhang_wei"), (tickets[1], "repair_3d", None)]
