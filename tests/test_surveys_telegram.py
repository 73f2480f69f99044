"""Issue 13, done when: over the real aiogram transport against the Telegram test server,
with a clock moved by hand: a repair is resolved -> 3 days later the survey is asked ->
a 2-star answer -> the ticket is back in the human queue -> resolved -> asked again -> 5 stars.

The hand-moved clock starts in the past: the outbox sender sends what is due by the wall
clock, so every reply the service writes "3 days later" is still due at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Service
from bot.core.actions import Act, Action
from services.handoff import Actor, Role, TicketStatus
from services.surveys import SurveyStatus
from storage.agents import add_agent
from storage.models import Conversation, Survey, Ticket, utcnow
from tests.clock import ManualClock
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer

USER = 7301


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(utcnow() - timedelta(days=10))


async def _ticket(engine: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(Ticket.id, Ticket.status, Ticket.details, Conversation.id.label("conversation"))
                                   .join(Conversation, Conversation.id == Ticket.conversation_id))).one()


async def _resolve(service: Service, agent: Actor, conversation: int, ticket: int) -> None:
    assert (await service.core.act(Action(conversation, Act.CLAIM, agent, ticket_id=ticket))).ok
    assert (await service.core.act(Action(conversation, Act.RESOLVE, agent, ticket_id=ticket, resolution="repair_booked"))).ok


async def test_repair_survey_over_telegram(service: Service, api: FakeBotAPI, engine: Any, clock: ManualClock) -> None:
    agent = Actor(await add_agent(engine, login="li", name="Li", password_hash="x", role=Role.AGENT, now=utcnow()), Role.AGENT)
    customer = Customer(api, engine, user_id=USER, language="en")
    await customer.say("/start")
    await customer.tap("🛠")
    await customer.tap_first()  # product line
    await customer.tap_first()  # model
    await customer.tap("Skip")  # serial
    await customer.say("It does not cool any more")
    await customer.tap("Skip")  # files
    await customer.say("Shanghai, Huaihai Road 1")
    await customer.say("+86 138 0013 8000")
    assert "is registered" in await customer.tap("Submit")
    ticket = await _ticket(engine)
    assert "number 1 in the queue" in await customer.say("/agent") or "Which request" in customer._sends()[-1]["text"]
    if "Which request" in customer._sends()[-1]["text"]:
        await customer.tap_first()
    await _resolve(service, agent, ticket.conversation, ticket.id)
    await customer._answer(confirmed=False)  # "your request ... is resolved"

    # 3 days later the job runner asks, in the customer's chat, with star buttons.
    clock.advance(days=3)
    await service.jobs.run_due()
    asked = await customer._answer(confirmed=False)
    assert "Return visit for your request" in asked[-1]["text"] and "Question 1 of 3" in asked[-1]["text"]
    stars = [b["text"] for row in asked[-1]["reply_markup"]["inline_keyboard"] for b in row]
    assert stars[:5] == ["⭐", "⭐⭐", "⭐⭐⭐", "⭐⭐⭐⭐", "⭐⭐⭐⭐⭐"]

    clock.advance(hours=2)
    assert "Question 2 of 3" in await customer.tap("⭐⭐")
    assert "Question 3 of 3" in await customer.tap("Yes")
    assert "A colleague will follow up" in await customer.tap("Nothing to add")
    back = await _ticket(engine)
    assert back.status == TicketStatus.QUEUED and back.details["survey_problem"]["answers"]["rating"] == "2"

    # A person resolves it; the customer is asked again 3 days later and gives 5 stars.
    await _resolve(service, agent, ticket.conversation, ticket.id)
    await customer._answer(confirmed=False)
    clock.advance(days=3)
    await service.jobs.run_due()
    again = await customer._answer(confirmed=False)
    assert "Question 1 of 3" in again[-1]["text"]
    await customer.tap("⭐⭐⭐⭐⭐")
    await customer.tap("Yes")
    assert "Thank you for your answers" in await customer.say("Works perfectly now")
    async with engine.connect() as conn:
        rounds = (await conn.execute(select(Survey.round, Survey.status, Survey.answers).where(Survey.plan == "repair_3d")
                                     .order_by(Survey.round))).all()
    assert [(r.round, r.status) for r in rounds] == [(0, SurveyStatus.PROBLEM), (1, SurveyStatus.ANSWERED)]
    assert rounds[1].answers == {"rating": "5", "fixed": "yes", "comment": "Works perfectly now"}
