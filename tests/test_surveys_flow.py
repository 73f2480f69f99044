"""Return-visit surveys through the real dispatcher, store and job runner, with a hand-moved clock
(domain.md §5): scheduled with the resolution, asked when due, a bad answer back to a
person, asked again once resolved; opt-out, no survey while a person handles the
customer, none twice for one event, complaints closed only once verified, the WeChat
window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.survey_jobs  # noqa: F401  (registers the survey jobs)
from bot.core.actions import Act, Action
from bot.core.dispatcher import Dispatcher
from bot.core.events import Kind
from bot.jobs import JobRunner
from handlers.survey_jobs import ensure_scheduled
from services.handoff import Actor, Role, TicketStatus
from services.surveys import STOP_CHOICE, SurveyStatus
from storage import jobs
from storage.agents import add_agent
from storage.models import Conversation, Survey, Ticket, utcnow
from storage.surveys import PROBLEM_DETAIL, SurveyJob
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def ann(engine: AsyncEngine) -> Actor:
    return Actor(await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow()), Role.AGENT)


async def _ids(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        conversation = await conn.scalar(select(Conversation.id))
        ticket = await conn.scalar(select(Ticket.id).order_by(Ticket.id))
    return conversation, ticket


async def _surveys(engine: AsyncEngine) -> list[Survey]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Survey).order_by(Survey.id))).all())


async def _ticket(engine: AsyncEngine, ticket_id: int) -> object:
    async with engine.connect() as conn:
        return (await conn.execute(select(Ticket.status, Ticket.details, Ticket.resolution).where(Ticket.id == ticket_id))).one()


async def _serve(chat: Chat, dispatcher: Dispatcher, engine: AsyncEngine, agent: Actor, ticket: int, *, queued: bool = False) -> None:
    """A person takes the ticket and resolves it (first it is queued by the customer, unless it is already)."""
    conversation, _ = await _ids(engine)
    if not queued:
        await chat.say("/agent")
        await chat.press(f"handoff.about:{ticket}")
    assert (await dispatcher.act(Action(conversation, Act.CLAIM, agent))).ok
    assert (await dispatcher.act(Action(conversation, Act.RESOLVE, agent, resolution="repair_booked"))).ok
    await chat.collect()


async def _answer(chat: Chat, *answers: str) -> str:
    """Press the answer buttons (or type a text answer) in turn; the last answer's text."""
    for answer in answers:
        button = next((c.id for r in chat.last for c in r.choices if c.id.endswith(f":{answer}")), None)
        await (chat.press(button) if button else chat.say(answer))
    return chat.text


async def test_repair_survey_bad_answer_person_then_asked_again(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="s1")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)

    # Scheduled with the resolution: the repair plan 3 days on (and maybe the head office's sample).
    surveys = await _surveys(engine)
    first = next(s for s in surveys if s.plan == "repair_3d")
    assert first.status == SurveyStatus.SCHEDULED and first.due_at == START + timedelta(days=3)
    async with engine.connect() as conn:
        assert [j.kind for j in await jobs.pending(conn, cause=f"survey:{first.id}")] == [SurveyJob.ASK]

    clock.advance(days=3, minutes=-1)
    await runner.run_due()
    assert await chat.collect() == []  # not a minute early
    clock.advance(minutes=1)
    await runner.run_due()
    asked = await chat.collect()
    assert "Question 1 of 3" in asked[0].text and "How would you rate our service" in asked[0].text
    assert [c.label for c in asked[0].choices][:5] == ["⭐", "⭐⭐", "⭐⭐⭐", "⭐⭐⭐⭐", "⭐⭐⭐⭐⭐"]
    assert STOP_CHOICE in [c.id for c in asked[0].choices]

    # The customer answers hours later: two stars, yes, nothing to add.
    clock.advance(hours=5)
    text = await _answer(chat, "2", "yes", "-")
    assert "A colleague will follow up" in text
    status, details, _ = await _ticket(engine, ticket)  # type: ignore[misc]
    assert status == TicketStatus.QUEUED and details[PROBLEM_DETAIL]["answers"]["rating"] == "2"
    assert details[PROBLEM_DETAIL]["problems"] == ["rating"]
    assert (await _surveys(engine))[0].status == SurveyStatus.PROBLEM

    # A person resolves it: the same plan is asked again, 3 days later.
    await _serve(chat, dispatcher, engine, ann, ticket, queued=True)
    again = [s for s in await _surveys(engine) if s.plan == "repair_3d"]
    assert [(s.round, s.status) for s in again] == [(0, SurveyStatus.PROBLEM), (1, SurveyStatus.SCHEDULED)]
    clock.advance(days=3)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[0].text
    text = await _answer(chat, "5", "yes", "All good now, thanks")
    assert "Thank you for your answers" in text
    final = [s for s in await _surveys(engine) if s.plan == "repair_3d"][-1]
    assert final.status == SurveyStatus.ANSWERED and final.answers == {"rating": "5", "fixed": "yes", "comment": "All good now, thanks"}
    assert (await _ticket(engine, ticket))[0] == TicketStatus.RESOLVED  # type: ignore[index]


async def test_one_reminder_then_expired(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor) -> None:
    chat = Chat(dispatcher, engine, user_id="s2")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=3)
    await runner.run_due()
    await chat.collect()
    await _answer(chat, "4")  # then stops answering at question 2
    clock.advance(days=2)
    await runner.run_due()
    reminder = await chat.collect()
    assert len(reminder) == 1 and "A reminder" in reminder[0].text and "Question 2 of 3" in reminder[0].text
    clock.advance(days=20)
    await runner.run_due()
    assert await chat.collect() == []  # one reminder only
    assert next(s for s in await _surveys(engine) if s.plan == "repair_3d").status == SurveyStatus.EXPIRED


async def test_opt_out_is_honoured_and_undone(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor) -> None:
    chat = Chat(dispatcher, engine, user_id="s3")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=3)
    await runner.run_due()
    await chat.collect()
    await chat.press(STOP_CHOICE)
    assert "not send you any more surveys" in chat.text
    assert all(s.status == SurveyStatus.SKIPPED for s in await _surveys(engine))
    # A later repair is not surveyed ...
    await chat.report_repair(fault="The fan is noisy again")
    async with engine.connect() as conn:
        second = await conn.scalar(select(Ticket.id).order_by(Ticket.id.desc()))
    await _serve(chat, dispatcher, engine, ann, second)
    clock.advance(days=3)
    await runner.run_due()
    assert await chat.collect() == []
    # ... until the customer undoes it.
    await chat.press("sv:resume")
    assert "we will ask you again" in chat.text
    await chat.report_repair(fault="Display shows E4")
    async with engine.connect() as conn:
        third = await conn.scalar(select(Ticket.id).order_by(Ticket.id.desc()))
    await _serve(chat, dispatcher, engine, ann, third)
    clock.advance(days=3)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[0].text


async def test_not_while_a_person_handles_them_and_never_twice(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="s4")
    await chat.report_repair()
    conversation, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    # Reopened and resolved again: the same event, no second survey.
    assert (await dispatcher.act(Action(conversation, Act.REOPEN, ann, ticket_id=ticket))).ok
    assert (await dispatcher.act(Action(conversation, Act.RESOLVE, ann, ticket_id=ticket, resolution="answered"))).ok
    assert len([s for s in await _surveys(engine) if s.plan == "repair_3d"]) == 1
    # When it falls due a person is talking with them: postponed, not asked.
    await chat.say("/agent")
    await chat.collect()
    clock.advance(days=3)
    await runner.run_due()
    assert await chat.collect() == []
    survey = next(s for s in await _surveys(engine) if s.plan == "repair_3d")
    assert survey.status == SurveyStatus.SCHEDULED and survey.due_at > clock.now
    await chat.press("handoff:end")
    clock.advance(hours=7)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[0].text


async def test_a_complaint_is_closed_only_once_its_return_visit_confirms(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="s5")
    await chat.say("/start")
    await chat.press("menu:complaint")
    await chat.press(chat.last[0].choices[0].id)
    await chat.say("The engineer was two hours late and rude")
    while chat.last and chat.last[-1].choices and not any(c.id.endswith(":submit") for c in chat.last[-1].choices):
        await chat.press(chat.last[-1].choices[0].id)
    submit = next((c.id for c in chat.last[-1].choices if c.id.endswith(":submit")), None)
    if submit:
        await chat.press(submit)
    conversation, _ = await _ids(engine)
    async with engine.connect() as conn:
        ticket = await conn.scalar(select(Ticket.id).where(Ticket.kind == "complaint"))
        status = await conn.scalar(select(Ticket.status).where(Ticket.id == ticket))
    assert ticket is not None
    if status != TicketStatus.QUEUED:
        await chat.say("/agent")
        await chat.press(f"handoff.about:{ticket}")
    assert (await dispatcher.act(Action(conversation, Act.CLAIM, ann, ticket_id=ticket))).ok
    assert (await dispatcher.act(Action(conversation, Act.RESOLVE, ann, ticket_id=ticket, resolution="answered"))).ok
    assert (await _ticket(engine, ticket))[0] == TicketStatus.RESOLVED  # type: ignore[index]  # awaiting verification
    await chat.collect()
    clock.advance(days=3)
    await runner.run_due()
    assert "resolved to your satisfaction" in (await chat.collect())[0].text
    await _answer(chat, "yes", "4", "-")
    status, _, resolution = await _ticket(engine, ticket)  # type: ignore[misc]
    assert (status, resolution) == (TicketStatus.CLOSED, "verified")


async def test_wechat_window_closed_marks_the_survey_undeliverable(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="w1", channel="wechat")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=3)  # the customer last wrote 3 days ago: WeChat takes no message from us now
    await runner.run_due()
    assert await chat.collect() == []
    survey = next(s for s in await _surveys(engine) if s.plan == "repair_3d")
    assert (survey.status, survey.note) == (SurveyStatus.UNDELIVERABLE, "wechat_window_closed")
    # Not lost: once the customer writes again, the next daily try asks it.
    clock.advance(hours=12)
    await chat.say("hello again")
    clock.advance(hours=12)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[0].text
    assert next(s for s in await _surveys(engine) if s.plan == "repair_3d").status == SurveyStatus.ASKING


async def test_a_survey_whose_window_never_opens_is_tried_until_it_expires_and_stays_marked(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="w3", channel="wechat")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=3)
    for _day in range(16):
        await runner.run_due()
        clock.advance(days=1)
    assert await chat.collect() == []
    survey = next(s for s in await _surveys(engine) if s.plan == "repair_3d")
    assert survey.status == SurveyStatus.UNDELIVERABLE
    async with engine.connect() as conn:
        assert await jobs.pending(conn, cause=f"survey:{survey.id}") == []  # no more tries after the expiry


async def test_on_wechat_a_number_answers_the_question_within_the_window(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="w2", channel="wechat")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=2)
    await chat.say("thanks, it works")  # they wrote: WeChat's 48-hour window is open again
    clock.advance(days=1)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[0].text
    await chat._send(kind=Kind.TEXT, text="5", numbered_choices=True)  # the fifth choice: five stars
    assert "Question 2 of 3" in chat.text
    await chat._send(kind=Kind.TEXT, text="1", numbered_choices=True)  # yes
    assert "Question 3 of 3" in chat.text
    survey = next(s for s in await _surveys(engine) if s.plan == "repair_3d")
    assert survey.answers == {"rating": "5", "fixed": "yes"}


async def test_answering_in_the_middle_of_a_form_keeps_the_form(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, ann: Actor,
) -> None:
    chat = Chat(dispatcher, engine, user_id="f1")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    await _serve(chat, dispatcher, engine, ann, ticket)
    clock.advance(days=3)
    await chat.press("menu:repair")  # a new repair request, first question on screen
    form_question = chat.text
    await runner.run_due()
    await chat.collect()
    await _answer(chat, "4", "yes", "-")
    assert "Thank you for your answers" in chat.text
    async with engine.connect() as conn:
        state = await conn.scalar(select(Conversation.state))
    assert state.startswith("repair"), (state, form_question)
    await chat.press("repair.product_line:household_ac")
    assert "Which model" in chat.text


async def test_a_ticket_resolved_outside_the_core_is_swept_into_its_surveys(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock,
) -> None:
    """An engineer's visit report resolves the ticket with an UPDATE of its own (not Act.RESOLVE):
    the hourly sweep schedules its surveys, due as from that resolution, once."""
    chat = Chat(dispatcher, engine, user_id="v1")
    await chat.report_repair()
    _, ticket = await _ids(engine)
    resolved_at = clock.now
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.id == ticket).values(status="resolved", resolution="fixed", updated_at=resolved_at))
    await ensure_scheduled(engine, clock.now)
    clock.advance(hours=1)
    await runner.run_due()
    first = [s for s in await _surveys(engine) if s.plan == "repair_3d"]
    assert [(s.round, s.due_at) for s in first] == [(0, resolved_at + timedelta(days=3))]
    clock.advance(hours=1)
    await runner.run_due()  # the next sweep finds nothing new
    assert len([s for s in await _surveys(engine) if s.plan == "repair_3d"]) == 1
    clock.advance(days=3)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[-1].text
