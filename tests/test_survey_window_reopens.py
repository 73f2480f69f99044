"""A WeChat survey that could not be sent in the 48-hour window goes out as soon as the customer
writes again (issue 13): their message reopens the window, and the survey is asked by the next
run of the jobs, not a day later. One that has expired stays marked. The in-memory channel on
the "wechat" channel name: the window rule is the store's (storage/surveys.py window_open), the
same for the real WeChat transport, and the test moves the clock by hand through the real dispatcher,
store and job runner on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.survey_jobs  # noqa: F401  (registers the survey jobs)
from bot.core.actions import Act, Action
from bot.core.dispatcher import Dispatcher
from bot.jobs import JobRunner
from services.handoff import Actor, Role
from services.surveys import SurveyStatus
from storage import jobs
from storage.agents import add_agent
from storage.models import Conversation, Survey, Ticket, utcnow
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def repair_resolved(chat: Chat, dispatcher: Dispatcher, engine: AsyncEngine) -> None:
    """A repair reported, handed to Ann and resolved by her (its return visit is planned)."""
    agent = Actor(await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow()),
                  Role.AGENT)
    await chat.report_repair()
    async with engine.connect() as conn:
        conversation = await conn.scalar(select(Conversation.id))
        ticket = await conn.scalar(select(Ticket.id))
    await chat.say("/agent")
    await chat.press(f"handoff.about:{ticket}")
    assert (await dispatcher.act(Action(conversation, Act.CLAIM, agent))).ok
    assert (await dispatcher.act(Action(conversation, Act.RESOLVE, agent, resolution="repair_booked"))).ok
    await chat.collect()


async def _repair_survey(engine: AsyncEngine) -> Survey:
    async with engine.connect() as conn:
        return (await conn.execute(select(Survey).where(Survey.plan == "repair_3d"))).one()  # type: ignore[return-value]


async def test_the_customers_next_message_sends_the_undeliverable_survey_at_once(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock,
) -> None:
    chat = Chat(dispatcher, engine, user_id="w10", channel="wechat")
    await repair_resolved(chat, dispatcher, engine)
    clock.advance(days=3)  # they last wrote 3 days ago: the window is closed
    await runner.run_due()
    assert await chat.collect() == []
    survey = await _repair_survey(engine)
    assert (survey.status, survey.note) == (SurveyStatus.UNDELIVERABLE, "wechat_window_closed")

    clock.advance(hours=5)
    await chat.say("hello, one more question")
    survey = await _repair_survey(engine)
    assert (survey.status, survey.due_at, survey.note) == (SurveyStatus.SCHEDULED, clock.now, None)
    async with engine.connect() as conn:
        pending = await jobs.pending(conn, cause=f"survey:{survey.id}")
    assert [(j.kind, j.run_at) for j in pending] == [("survey.ask", clock.now)]  # the daily retry is gone
    await runner.run_due()  # the same minute: asked now, not at the next daily try
    asked = await chat.collect()
    assert len(asked) == 1 and "Question 1 of 3" in asked[0].text
    assert (await _repair_survey(engine)).status == SurveyStatus.ASKING


async def test_an_expired_undeliverable_survey_stays_marked(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock,
) -> None:
    chat = Chat(dispatcher, engine, user_id="w11", channel="wechat")
    await repair_resolved(chat, dispatcher, engine)
    clock.advance(days=3)
    await runner.run_due()
    clock.advance(days=15)  # past the 14 days a survey may be answered in
    await runner.run_due()
    await chat.say("hello after a long time")
    survey = await _repair_survey(engine)
    assert survey.status == SurveyStatus.UNDELIVERABLE
    async with engine.connect() as conn:
        assert await jobs.pending(conn, cause=f"survey:{survey.id}") == []
    await runner.run_due()
    assert not any("Question" in r.text for r in await chat.collect())


async def test_other_channels_are_left_alone(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner,
                                             clock: ManualClock) -> None:
    """A survey scheduled for later is not pulled forward by a message on a channel without a window."""
    chat = Chat(dispatcher, engine, user_id="t10")
    await repair_resolved(chat, dispatcher, engine)
    due = (await _repair_survey(engine)).due_at
    clock.advance(days=1)
    await chat.say("hello")
    assert (await _repair_survey(engine)).due_at == due
