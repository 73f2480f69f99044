"""The hand-over to people: the state machine, and agents' actions through the real core and store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.actions import END_CHOICE, Act, Action
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from handlers.router import route
from services.handoff import (
    CUSTOMER,
    Actor,
    Handoff,
    Mode,
    Refused,
    Role,
    Step,
    TicketStatus,
    asks_for_person,
    decide,
    may_write,
)
from storage.agents import add_agent
from storage.models import AuditEntry, Conversation, Message, Ticket, utcnow
from tests.memory_channel import Chat

Q, A, OPEN, R = TicketStatus.QUEUED, TicketStatus.ASSIGNED, TicketStatus.OPEN, TicketStatus.RESOLVED
ANN, BOB = Actor(1, Role.AGENT), Actor(2, Role.AGENT)
SUP = Actor(9, Role.SUPERVISOR)


@pytest.mark.parametrize(("before", "step", "actor", "target", "after"), [
    (Handoff(OPEN), Step.QUEUE, CUSTOMER, None, Handoff(Q)),
    (Handoff(R, 1), Step.QUEUE, CUSTOMER, None, Handoff(Q)),
    (Handoff(A, 1), Step.QUEUE, CUSTOMER, None, Handoff(A, 1)),  # already with a person
    (Handoff(Q), Step.CLAIM, ANN, None, Handoff(A, 1)),
    (Handoff(Q), Step.ASSIGN, SUP, 2, Handoff(A, 2)),
    (Handoff(A, 1), Step.ASSIGN, SUP, 9, Handoff(A, 9)),  # a supervisor takes over
    (Handoff(A, 1), Step.TRANSFER, ANN, 2, Handoff(A, 2)),
    (Handoff(A, 1), Step.REQUEUE, ANN, None, Handoff(Q)),
    (Handoff(A, 1), Step.RELEASE, ANN, None, Handoff(OPEN)),
    (Handoff(A, 1), Step.RESOLVE, ANN, None, Handoff(R, 1)),
    (Handoff(A, 1), Step.RESOLVE, SUP, None, Handoff(R, 1)),
    (Handoff(R, 1), Step.REOPEN, BOB, None, Handoff(A, 2)),
    (Handoff(Q), Step.END, CUSTOMER, None, Handoff(OPEN)),
    (Handoff(A, 1), Step.END, CUSTOMER, None, Handoff(OPEN)),
])
def test_allowed_steps(before: Handoff, step: Step, actor: Actor, target: int | None, after: Handoff) -> None:
    assert decide(before, step, actor, target) == after


@pytest.mark.parametrize(("before", "step", "actor", "target", "owner"), [
    (Handoff(A, 1), Step.CLAIM, BOB, None, 1),  # the loser learns who won
    (Handoff(OPEN), Step.CLAIM, ANN, None, None),
    (Handoff(Q), Step.CLAIM, CUSTOMER, None, None),
    (Handoff(Q), Step.ASSIGN, ANN, 2, None),  # only supervisors assign
    (Handoff(A, 1), Step.RESOLVE, BOB, None, 1),  # not yours
    (Handoff(A, 1), Step.TRANSFER, BOB, 2, 1),
    (Handoff(A, 1), Step.TRANSFER, ANN, 1, None),
    (Handoff(Q), Step.RELEASE, ANN, None, None),
    (Handoff(OPEN), Step.END, CUSTOMER, None, None),
    (Handoff(A, 1), Step.REOPEN, ANN, None, None),
])
def test_refused_steps(before: Handoff, step: Step, actor: Actor, target: int | None, owner: int | None) -> None:
    with pytest.raises(Refused) as refused:
        decide(before, step, actor, target)
    assert refused.value.owner == owner


def test_modes_follow_status_and_only_the_owner_writes() -> None:
    assert [Handoff(s).mode for s in (OPEN, Q, A, R)] == [Mode.BOT, Mode.QUEUED, Mode.AGENT, Mode.BOT]
    assert may_write(Handoff(A, 1), ANN) and not may_write(Handoff(A, 1), BOB) and not may_write(Handoff(A, 1), SUP)
    assert not may_write(Handoff(Q), ANN)


@pytest.mark.parametrize(("text", "asks"), [
    ("operator", True), ("Operator please!", True), ("I want a human", True), ("转人工", True), ("人工客服", True),
    ("我要真人", True), ("客服在吗", True), ("Позовите оператора", True), ("оператор", True),
    ("ოპერატორი", True), ("ოპერატორთან დამაკავშირეთ", True),
    ("my air conditioner leaks", False), ("кондиционер течёт", False), ("空调漏水", False), ("", False),
])
def test_asks_for_person(text: str, asks: bool) -> None:
    assert asks_for_person(text) is asks


# --- through the core -------------------------------------------------------------


async def _agent(engine: AsyncEngine, login: str, name: str, role: Role = Role.AGENT) -> Actor:
    agent_id = await add_agent(engine, login=login, name=name, password_hash="x", role=role, now=utcnow())
    return Actor(agent_id, role)


async def _conversation(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(Conversation.id, Conversation.ticket_id))).one()
    return row[0], row[1]


async def test_agent_takes_over_and_the_bot_is_silent(chat: Chat, dispatcher: Dispatcher, engine: AsyncEngine) -> None:
    ann, bob = await _agent(engine, "ann", "Ann"), await _agent(engine, "bob", "Bob")
    await chat.say("/start")
    assert "number 1 in the queue" in "\n".join(r.text for r in await chat.say("/agent"))
    conversation, ticket = await _conversation(engine)

    first = await dispatcher.act(Action(conversation, Act.CLAIM, ann))
    second = await dispatcher.act(Action(conversation, Act.CLAIM, bob))
    assert first.ok and not second.ok and second.owner_id == ann.agent_id
    assert "Ann" in chat.text if await chat.collect() else False
    assert END_CHOICE in [c.id for c in chat.last[0].choices]

    # The customer writes: no answer from the bot, the message is on the ticket.
    assert await chat.say("My unit is still broken") == []
    assert await chat.say("/start") == []
    refused = await dispatcher.act(Action(conversation, Act.REPLY, bob, text="Hi from Bob"))
    assert not refused.ok and refused.owner_id == ann.agent_id
    assert (await dispatcher.act(Action(conversation, Act.REPLY, ann, text="Hello, Ann here"))).ok
    assert (await dispatcher.act(Action(conversation, Act.NOTE, bob, text="customer called twice"))).ok
    assert [r.text for r in await chat.collect()] == ["Hello, Ann here"]  # the note never reaches the customer

    assert not (await dispatcher.act(Action(conversation, Act.RESOLVE, ann))).ok  # a resolution code is required
    assert (await dispatcher.act(Action(conversation, Act.RESOLVE, ann, resolution="answered"))).ok
    assert "resolved" in "\n".join(r.text for r in await chat.collect())
    assert await chat.say("hello") != []  # back with the bot

    async with engine.connect() as conn:
        lines = (await conn.execute(
            select(Message.author, Message.agent_id, Message.internal, Message.text, Message.ticket_id)
            .where(Message.ticket_id == ticket).order_by(Message.id)
        )).all()
        status, owner, resolution, first_response = (await conn.execute(
            select(Ticket.status, Ticket.assigned_agent_id, Ticket.resolution, Ticket.first_response_at)
        )).one()
        audit = (await conn.scalars(select(AuditEntry.action).where(AuditEntry.conversation_id == conversation)
                                    .order_by(AuditEntry.id))).all()
        mode = await conn.scalar(select(Conversation.mode))
    assert ("customer", None, False, "My unit is still broken", ticket) in lines
    assert ("agent", ann.agent_id, False, "Hello, Ann here", ticket) in lines
    assert ("agent", bob.agent_id, True, "customer called twice", ticket) in lines
    assert [a for a, *_ in lines].count("system") == 2  # joined, resolved
    assert (status, owner, resolution, mode) == ("resolved", ann.agent_id, "answered", "bot")
    assert first_response is not None
    assert audit == ["claim", "reply", "note", "resolve"]


async def test_customer_ends_the_talk_with_a_button(chat: Chat, dispatcher: Dispatcher, engine: AsyncEngine) -> None:
    ann = await _agent(engine, "ann", "Ann")
    await chat.say("оператор")
    conversation, _ticket = await _conversation(engine)
    assert (await dispatcher.act(Action(conversation, Act.CLAIM, ann))).ok
    await chat.collect()
    await chat.press(END_CHOICE)
    assert "back with the assistant" in chat.text
    async with engine.connect() as conn:
        assert (await conn.scalar(select(Ticket.status)), await conn.scalar(select(Conversation.mode))) == ("open", "bot")
    refused = await dispatcher.act(Action(conversation, Act.REPLY, ann, text="still there?"))
    assert not refused.ok


async def test_three_misunderstandings_go_to_a_person(chat: Chat) -> None:
    await chat.say("blorp")
    await chat.say("zzz")
    assert "Let me find a person" not in chat.text
    await chat.say("qwerty")
    assert "Let me find a person" in chat.text and "queue" in chat.text


async def test_a_request_for_a_person_asks_which_ticket(chat: Chat, engine: AsyncEngine) -> None:
    await chat.report_repair()
    await chat.say("/agent")
    labels = chat.last_choices()
    assert labels[0].startswith("R-") and len(labels) == 2
    await chat.tap("R-")
    assert "take over request R-" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Ticket.kind, Ticket.status))).all() == [("repair", "queued")]


async def test_a_complaint_waits_for_a_person(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("File a complaint")
    await chat.tap("Engineer's attitude")
    await chat.say("The engineer was rude to me")
    await chat.tap("Skip")
    await chat.tap("Submit")
    assert "Your complaint C-" in chat.text
    await chat.say("/agent")
    assert "already waiting for a person with request C-" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Conversation.mode))).scalar() == "queued"


# --- business hours and long waits (an injected clock) ---------------------------------

SATURDAY_NOON = datetime(2026, 12, 5, 8, tzinfo=UTC)  # 12:00 in Tbilisi, the international team is off
WEDNESDAY_NOON = datetime(2026, 12, 2, 8, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_outside_the_teams_hours_the_customer_hears_when_people_are_back(engine: AsyncEngine, company: Company) -> None:
    core = Dispatcher(engine, company, route, clock=Clock(SATURDAY_NOON))
    try:
        chat = Chat(core, engine, user_id="ru1", language="ru")
        text = "\n".join(r.text for r in await chat.say("/agent"))
        t = Translator("ru", "Asia/Shanghai")
        monday = datetime(2026, 12, 7, 5, tzinfo=UTC)  # 09:00 in Tbilisi
        assert t._("Our colleagues who speak your language are not at work now; a person will answer from %(time)s.",
                   time=t.when(monday)) in text
        # The Chinese team works on Saturdays: no such notice.
        zh = Chat(core, engine, user_id="zh1", language="zh-hans")
        assert "09:00" not in "\n".join(r.text for r in await zh.say("/agent"))
    finally:
        await core.close()


async def test_a_long_wait_offers_to_leave_a_message(engine: AsyncEngine, company: Company) -> None:
    clock = Clock(WEDNESDAY_NOON)
    core = Dispatcher(engine, company, route, clock=clock)
    try:
        chat = Chat(core, engine)
        await chat.say("/agent")
        await chat.say("hello?")
        assert "Leave a message" not in chat.last_choices()[0]
        clock.now += timedelta(minutes=company.teams.offer_message_after_minutes + 1)
        await chat.say("anyone there?")
        await chat.tap("Leave a message")
        assert "phone number" in chat.text
        await chat.say("Call me at +86 138 0013 8000 please")
        assert "Leave a message" not in " ".join(chat.last_choices())
    finally:
        await core.close()
