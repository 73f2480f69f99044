"""Installation and training visits (domain.md §5, issue 13): "Book a visit" asks what for, an
installation is booked in windows of its own length, the engineer's "done" resolves it and
schedules the two installation surveys (3 days and 3 months later, questions a-d), each
recording the engineer, whose ratings the report groups. Real dispatcher, store and job runner on
both databases, with a hand-moved clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.survey_jobs  # noqa: F401  (registers the survey jobs)
import handlers.visit_jobs  # noqa: F401  (registers the visit jobs)
from bot.company import Company
from bot.console import visits as desk
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from bot.jobs import JobRunner
from services.reports import Span
from services.slots import Window
from services.surveys import SurveyStatus
from storage.models import Conversation, Product, Survey, Ticket, Visit, utcnow
from storage.reports import report
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
AGENT = Translator("en", "Asia/Shanghai")
QUESTION_A = "Is the equipment installed and commissioned"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def form(**values: object) -> MultiDictProxy[object]:
    return MultiDictProxy(MultiDict(values))


async def _surveys(engine: AsyncEngine) -> list[Survey]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Survey).order_by(Survey.id))).all())


async def book_installation(chat: Chat) -> None:
    """Book a visit -> installation and training -> the form -> a window on Tuesday."""
    await chat.say("/start")
    await chat.tap("Book a visit")
    assert "What should the engineer come for?" in chat.text
    assert [c.label for c in chat.last[0].choices] == ["🛠 A repair", "📦 Installation and training", "Not now"]
    await chat.tap("Installation and training")
    assert "Which product should we install?" in chat.text
    await chat.press("install.product_line:household_ac")
    await chat.press(chat.last[0].choices[0].id)  # the first model
    await chat.say("Shanghai, Huaihai Road 1")
    await chat.say("+86 138 0013 8000")
    assert "Installation and training" in chat.text  # the summary to confirm
    await chat.press("install.confirm:submit")
    assert "Your installation request V-" in chat.text and "Choose a time window" in chat.text
    await chat.press(next(c.id for c in chat.last[0].choices if c.label.startswith("Tue, Dec 1")))
    assert "Booked:" in chat.text


async def test_an_installation_done_is_surveyed_after_3_days_and_3_months(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, company: Company,
) -> None:
    chat = Chat(dispatcher, engine, user_id="i1")
    await book_installation(chat)
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.id, Ticket.kind, Ticket.status, Ticket.details))).one()
        visit = (await conn.execute(select(Visit.id, Visit.kind, Visit.engineer, Visit.starts_at, Visit.ends_at))).one()
        conversation = await conn.scalar(select(Conversation.id))
    assert (ticket.kind, ticket.status, ticket.details["visit_type"]) == ("visit", "open", "installation")
    assert visit.kind == "installation"
    assert visit.ends_at - visit.starts_at == timedelta(hours=4)  # 3 hours' installation and the travel
    assert company.roster is not None
    engineer = company.roster.names()[visit.engineer]

    # The engineer reports it done on Tuesday at 13:00 in Shanghai.
    clock.now = done = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert await desk.act(engine, company, conversation, "result",
                          form(visit=visit.id, result="fixed", report="Installed, the customer trained"),
                          AGENT, clock.now) is None
    await runner.run_due()
    assert any("the engineer reports that the installation and training are done" in r.text for r in await chat.collect())
    async with engine.connect() as conn:
        assert await conn.scalar(select(Ticket.status)) == "resolved"
    plans = {s.plan: s for s in await _surveys(engine)}
    assert {"install_3d", "install_3m"} <= set(plans) and "repair_3d" not in plans
    assert plans["install_3d"].due_at == done + timedelta(days=3)
    assert plans["install_3m"].due_at == datetime(2027, 3, 1, 5, 0, tzinfo=UTC)  # 3 calendar months
    assert {plans["install_3d"].engineer, plans["install_3m"].engineer} == {visit.engineer}

    # Not a minute early; then the four questions a-d of §5, the rating and a comment.
    clock.now = done + timedelta(days=3, minutes=-1)
    await runner.run_due()
    assert await chat.collect() == []
    clock.now = done + timedelta(days=3)
    await runner.run_due()
    asked = await chat.collect()
    assert len(asked) == 1 and "Question 1 of 6" in asked[0].text and QUESTION_A in asked[0].text
    for wording in ("Have you mastered its operation", "training engineer's attitude", "after-sales hotline",
                    "How would you rate"):
        await chat.press(next(c.id for c in chat.last[0].choices if c.id.endswith((":yes", ":4"))))
        assert wording in chat.text
    await chat.press(next(c.id for c in chat.last[0].choices if c.id.endswith(":4")))
    await chat.say("All clear, thank you")
    assert "Thank you for your answers" in chat.text
    first = next(s for s in await _surveys(engine) if s.plan == "install_3d")
    assert first.status == SurveyStatus.ANSWERED
    assert first.answers == {"a_installed": "yes", "b_operation": "yes", "c_trainer": "yes", "d_hotline": "yes",
                             "rating": "4", "comment": "All clear, thank you"}

    # The report's ratings per engineer: the visit's engineer, by name.
    weekly = await report(engine, Span.WEEKLY, clock.now + timedelta(hours=1), {}, company.roster.names())
    assert weekly.table("surveys_by_engineer").rows == ((engineer, "1", "1", "100%", "4.0"),)

    # Three months after the installation: asked again.
    clock.now = datetime(2027, 3, 1, 5, 0, tzinfo=UTC) - timedelta(minutes=1)
    await runner.run_due()
    assert not any(QUESTION_A in r.text for r in await chat.collect())
    clock.now = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)
    await runner.run_due()
    again = await chat.collect()
    assert len(again) == 1 and "Question 1 of 6" in again[0].text and QUESTION_A in again[0].text


async def test_a_registered_product_is_offered_for_installation(engine: AsyncEngine, dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher, engine, user_id="i2")
    await chat.say("/start")
    async with engine.begin() as conn:
        customer = await conn.scalar(select(Conversation.customer_id))
        await conn.execute(insert(Product).values(
            serial="HA2403000123", product_line="household_ac", model="KFR-35GW", invoice_date=date(2026, 11, 20),
            manufactured=date(2024, 3, 1), customer_id=customer, created_at=utcnow(), updated_at=utcnow()))
    await chat.tap("Book a visit")
    install = next(c for c in chat.last[0].choices if c.label.startswith("📦 Install "))
    await chat.press(install.id)
    assert "Where should the engineer come?" in chat.text  # product and model known: the place next
    await chat.say("Shanghai, Huaihai Road 1")
    await chat.say("+86 138 0013 8000")
    await chat.press("install.confirm:submit")
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.kind, Ticket.product_line, Ticket.model, Ticket.serial))).one()
    assert tuple(ticket) == ("visit", "household_ac", "KFR-35GW", "HA2403000123")


async def test_a_forged_or_typed_answer_to_what_for_changes_nothing(engine: AsyncEngine, dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher, engine, user_id="i3")
    await chat.say("/start")
    await chat.tap("Book a visit")
    await chat.press("visit:for:install:999999")  # not a product of theirs
    assert "Please answer with the buttons." in chat.text and "What should the engineer come for?" in chat.text
    await chat.say("hmm")
    assert "Please answer with the buttons." in chat.text
    await chat.tap("A repair")
    assert "Tell me what needs repairing" in chat.text and "Which product needs a repair?" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Ticket.id))).all() == []


async def test_an_agent_books_the_installation_from_the_console(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, company: Company,
) -> None:
    chat = Chat(dispatcher, engine, user_id="i4")
    await book_installation(chat)
    await chat.tap("Book a visit")
    await chat.tap("Cancel the visit")  # the request stays open, without a time
    async with engine.connect() as conn:
        conversation = await conn.scalar(select(Conversation.id))
    shown = await desk.desk(engine, company, conversation, AGENT, clock.now)
    assert shown["booking_ticket"].startswith("V-") and shown["bookable"]
    assert "Done: fixed or installed" in shown["results"].values()
    window = Window.from_key(shown["bookable"][0][0])
    assert window.end - window.start == timedelta(hours=4)  # an installation's windows, not a repair's
    assert await desk.act(engine, company, conversation, "book", form(window=window.key), AGENT, clock.now) is None
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Visit.kind, Visit.status).order_by(Visit.id))).all()
    assert [tuple(k) for k in kinds] == [("installation", "cancelled"), ("installation", "booked")]
    await runner.run_due()
    assert "booked" in (await chat.collect())[-1].text.lower()
