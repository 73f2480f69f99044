"""The repair form through the real core and store, in the in-memory channel."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Message, Ticket
from tests.memory_channel import Chat


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


async def start_repair(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.say("KFR-35GW")


async def test_free_text_fills_serial_and_phone_without_asking(chat: Chat, engine: AsyncEngine) -> None:
    await start_repair(chat)
    assert "serial number" in chat.text
    await chat.tap("Skip")
    await chat.say("Unit HA2403000123 is leaking water, call me on +995 555 12 34 56 please")
    assert "I noted from your message" in chat.text and "HA2403000123" in chat.text and "+995555123456" in chat.text
    await chat.tap("Skip")  # files
    await chat.say("12 Rustaveli Avenue, Tbilisi")
    assert "Which day" in chat.text  # the phone was not asked again


async def test_serial_in_the_wrong_format_or_of_another_product(chat: Chat) -> None:
    await start_repair(chat)
    await chat.say("12345")
    assert "two letters and ten digits" in chat.text and "serial number?" in chat.text
    await chat.say("HA2413000123")
    assert "month" in chat.text
    await chat.say("PC2403000123")
    assert "is of the product line “Desktop computer”" in chat.text
    await chat.say("ZZ2403000123")
    assert "No product of ours" in chat.text
    await chat.say("ha-2403-000123")
    assert "What is wrong?" in chat.text


async def test_invalid_phone_then_shared_contact(chat: Chat) -> None:
    await start_repair(chat)
    await chat.tap("Skip")
    await chat.say("The compressor is very loud")
    await chat.tap("Skip")
    await chat.location(41.7, 44.8)
    await chat.say("12345")
    assert "valid phone number" in chat.text
    await chat.contact("995555123456")  # Telegram sends contacts without "+"
    assert "Which day" in chat.text


async def test_text_where_a_choice_is_expected_and_a_photo_where_text_is(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.say("banana")
    assert "choose the product" in chat.text
    await chat.say("household")  # a typed name is understood
    assert "Which model" in chat.text
    await chat.photo()
    assert "text" in chat.text and "Which model" in chat.text


async def test_back_cancel_and_start_over(chat: Chat, engine: AsyncEngine) -> None:
    await start_repair(chat)
    await chat.tap("Back")
    assert "Which model" in chat.text
    await chat.say("/back")
    assert "Which product" in chat.text
    await chat.say("/back")
    assert "first question" in chat.text
    await chat.tap("Household")
    await chat.tap("Start over")
    assert "Which product" in chat.text
    await chat.tap("Cancel")
    assert "Nothing was saved" in chat.text and "How can I help" in chat.text
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_button_from_an_old_keyboard(chat: Chat) -> None:
    await start_repair(chat)
    await chat.press("repair.product_line:monitor")  # the product question was answered already
    assert "earlier question" in chat.text and "serial number" in chat.text
    await chat.press("complaint.category:charges")
    assert "earlier question" in chat.text


async def test_nonsense_dates(chat: Chat) -> None:
    await start_repair(chat)
    await chat.say("HA2403000123")
    await chat.say("It does not cool at all")
    await chat.tap("Skip")
    await chat.say("12 Rustaveli Avenue, Tbilisi")
    await chat.say("+995 555 12 34 56")
    await chat.say("2026-02-30")
    assert "does not exist" in chat.text
    await chat.say("1999-01-01")
    assert "between" in chat.text
    await chat.say("sometime soon-ish")
    assert "type a date like" in chat.text
    await chat.say("next tuesday")  # a weekday is understood (issue 16)
    assert "Which time window suits you?" in chat.text


async def test_a_10000_character_message(chat: Chat, engine: AsyncEngine) -> None:
    await start_repair(chat)
    await chat.tap("Skip")
    await chat.say("x" * 10_000)
    assert "too long" in chat.text and "2000" in chat.text
    await chat.say("y" * 20_000)
    assert "too long for me" in chat.text
    async with engine.connect() as conn:
        longest = await conn.scalar(select(func.max(func.length(Message.text))))
    assert longest == 10_000  # stored, cut at the limit
