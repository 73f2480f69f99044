"""The repair form through the real core and store, in the in-memory channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.dispatcher import Dispatcher
from bot.core.turn import Company
from handlers.router import route
from storage.models import Message, Ticket
from tests.memory_channel import Chat


@pytest.fixture
async def chat(engine: AsyncEngine, company: Company) -> AsyncIterator[Chat]:
    dispatcher = Dispatcher(engine, company, route)
    yield Chat(dispatcher, engine)
    await dispatcher.close()


async def test_report_a_repair_by_buttons(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    assert "service assistant" in chat.text
    await chat.tap("Report a repair")
    assert "Which product" in chat.text
    await chat.tap("Household air conditioner")
    await chat.press(f"repair.model:{chat.last[0].choices[0].id.split(':', 1)[1]}")
    await chat.say("HA2403000123")
    await chat.say("It blows warm air and drips water")
    await chat.photo()
    assert "Received 1 file" in chat.text
    await chat.tap("Done")
    assert "location" in chat.text
    await chat.location(41.7151, 44.8271)
    await chat.contact("+995555123456")
    assert "Which day" in chat.text
    await chat.press(chat.last[0].choices[2].id)
    await chat.tap("9:00")
    assert "Is everything correct?" in chat.text
    await chat.tap("Submit")
    assert "R-20" in chat.text and "is registered" in chat.text
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.__table__))).one()
        messages = await conn.scalar(select(func.count()).select_from(Message).where(Message.ticket_id == ticket.id))
    assert ticket.number in chat.text
    assert (ticket.kind, ticket.status, ticket.serial) == ("repair", "open", "HA2403000123")
    assert ticket.phone == "+995555123456" and ticket.latitude == pytest.approx(41.7151)
    assert ticket.details["attachments"][0]["ref"] == "file-1"
    assert messages >= 2  # the submitting press and the confirmation
