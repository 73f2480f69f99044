"""Complaints, my tickets, talking to a person, language: through the real core."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Customer, Ticket
from tests.memory_channel import Chat

NUMBER = re.compile(r"[RCHWV]-\d{4}-\d{6}")


async def report_repair(chat: Chat) -> str:
    answer = await chat.report_repair("laser", fault="The laser does not fire", address="5 Lenin street, Novosibirsk", phone="+7 913 123-45-67")
    return NUMBER.search(answer).group(0)


async def tickets_of(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(select(Ticket.__table__).order_by(Ticket.id))).all()


async def test_complaint_goes_to_the_queue_with_its_own_number(chat: Chat, engine: AsyncEngine) -> None:
    repair = await report_repair(chat)
    await chat.tap("File a complaint")
    await chat.tap("Late or missed visit")
    await chat.say("Nobody came on the agreed day")
    await chat.say(f"it is about {repair.lower()}")
    await chat.tap("Submit")
    assert "Your complaint C-" in chat.text
    complaint = (await tickets_of(engine))[-1]
    assert (complaint.kind, complaint.status, complaint.category) == ("complaint", "queued", "late_visit")
    assert complaint.related_ticket_id == (await tickets_of(engine))[0].id
    assert complaint.number.startswith("C-") and complaint.number in chat.text


async def test_complaint_cannot_point_at_another_customers_ticket(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    alice, bob = new_chat("alice"), new_chat("bob")
    theirs = await report_repair(alice)
    await bob.say("/start")
    await bob.tap("File a complaint")
    await bob.tap("Charges")
    await bob.say("I was charged twice for one visit")
    await bob.say(theirs)
    assert f"cannot find a ticket {theirs} of yours" in bob.text
    await bob.say("R-2026-999999")
    assert "cannot find a ticket R-2026-999999 of yours" in bob.text  # same answer: nothing leaks


async def test_my_tickets_lists_only_my_own(new_chat: Callable[..., Chat]) -> None:
    alice, bob = new_chat("alice"), new_chat("bob")
    mine = await report_repair(alice)
    await alice.tap("My tickets")
    assert mine in alice.text and "registered" in alice.text
    await bob.say("/start")
    await bob.tap("My tickets")
    assert "no tickets yet" in bob.text
    await bob.say(mine)  # typing someone else's number
    assert f"cannot find a ticket {mine} of yours" in bob.text and "Laser" not in bob.text
    await alice.say(mine)
    assert mine in alice.text and "Repair" in alice.text


async def test_dates_in_my_tickets_use_locale_and_time_zone(new_chat: Callable[..., Chat]) -> None:
    ivan = new_chat("ivan", language="ru")
    await ivan.say("/start")
    await ivan.tap("🙋")
    await ivan.say("/tickets")
    assert re.search(r"\d{2}\.\d{2}\.\d{4}", ivan.text), ivan.text  # Russian short date: 23.11.2026


async def test_my_tickets_keeps_an_old_open_ticket_and_shows_times_in_the_customers_zone(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    async with engine.begin() as conn:
        customer = await conn.scalar(select(Customer.id))
        await conn.execute(update(Customer).values(timezone="Asia/Tbilisi"))
        rows = [("R-2025-000001", "queued", datetime(2025, 3, 1, 6, 0))]  # old, still open
        rows += [(f"R-2026-0000{n:02d}", "resolved", datetime(2026, 1, n, 6, 0)) for n in range(1, 13)]
        await conn.execute(insert(Ticket), [
            {"number": number, "kind": "repair", "status": status, "customer_id": customer, "locale": "en",
             "created_at": at.replace(tzinfo=UTC), "updated_at": at.replace(tzinfo=UTC)}
            for number, status, at in rows
        ])
    await chat.say("/tickets")
    shown = NUMBER.findall(chat.text)
    assert shown[-1] == "R-2025-000001"  # open: listed however old
    assert shown[:-1] == [f"R-2026-0000{n:02d}" for n in range(12, 2, -1)]  # and the latest 10 closed
    assert "opened 3/1/25, 10:00\u202fAM" in chat.text  # 06:00 UTC is 10:00 in Tbilisi


async def test_talk_to_a_person_opens_once_and_collects_messages(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("Talk to a person")
    assert "H-" in chat.text
    await chat.say("My boiler is making noise")
    assert "Added to your request H-" in chat.text
    await chat.say("/person")
    assert "already waiting" in chat.text
    tickets = await tickets_of(engine)
    assert [(t.kind, t.status) for t in tickets] == [("person", "queued")]


async def test_booking_a_visit_without_a_repair_asks_what_needs_repairing(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("Book a visit")
    assert "What should the engineer come for?" in chat.text
    await chat.tap("A repair")
    assert "Tell me what needs repairing" in chat.text and "Which product" in chat.text
    assert await tickets_of(engine) == []


async def test_language_from_channel_hint_then_script_then_english(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await new_chat("a", language="ka").say("hello")
    await new_chat("b", language=None).say("Здравствуйте, сломался кондиционер")
    await new_chat("c", language=None).say("您好,我的空调坏了")
    await new_chat("d", language=None).say("您好,我的電話號碼是這個")
    await new_chat("e", language=None).say("hello")
    async with engine.connect() as conn:
        locales = (await conn.execute(select(Customer.locale).order_by(Customer.id))).scalars().all()
    assert locales == ["ka", "ru", "zh_Hans", "zh_Hant", "en"]


async def test_language_choice_is_kept_on_the_customer(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/language")
    await chat.tap("ქართული")
    async with engine.connect() as conn:
        customer = (await conn.execute(select(Customer.__table__))).one()
    assert (customer.locale, customer.locale_chosen) == ("ka", True)
    await chat.say("hello")  # the chat's English hint no longer decides
    async with engine.connect() as conn:
        assert await conn.scalar(select(Customer.locale)) == "ka"


async def test_unknown_command(chat: Chat) -> None:
    await chat.say("/frobnicate")
    assert "do not know the command /frobnicate" in chat.text and "Report a repair" in chat.last_choices()[0]


async def test_injection_attempts_are_just_text(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("File a complaint")
    await chat.tap("Something else")
    await chat.say("'); DROP TABLE tickets; -- <script>alert(1)</script>")
    await chat.say("R-2026-000001' OR '1'='1")
    assert "cannot find a ticket R-2026-000001 of yours" in chat.text
    await chat.tap("Skip")
    await chat.tap("Submit")
    tickets = await tickets_of(engine)
    assert tickets[0].description == "'); DROP TABLE tickets; -- <script>alert(1)</script>"
