"""Booking an engineer's window in the chat, through the real core and store (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.engineers import JobKind
from services.slots import Window
from storage import visits as store
from storage.models import Ticket, Visit, VisitSlot
from tests.memory_channel import Chat

MONDAY_8AM_SHANGHAI = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: MONDAY_8AM_SHANGHAI


async def test_a_repair_books_the_first_window_within_the_promise(chat: Chat, engine: AsyncEngine) -> None:
    answer = await chat.report_repair("household_ac")
    assert "is registered" in answer and "Choose a time window" in answer
    first = chat.last[0].choices[0]
    assert first.label.startswith("✓ ") and "9:00" in first.label  # within the 2 h promise: 10:00
    await chat.press(first.id)
    assert "Booked: Zhang Wei 张伟 will come on" in chat.text and "remind you" in chat.text
    async with engine.connect() as conn:
        visit = (await conn.execute(select(Visit.__table__))).one()
        ticket = (await conn.execute(select(Ticket.__table__))).one()
        held = (await conn.execute(select(VisitSlot.__table__))).all()
    assert (visit.engineer, visit.status, visit.customer_chose_later) == ("zhang_wei", "booked", False)
    assert ticket.visit_window == "09:00-12:00" and len(held) == 6  # three hours in half hours


async def test_a_later_window_is_the_customers_choice_and_cancel_frees_it(chat: Chat, new_chat: Callable[..., Chat],
                                                                         engine: AsyncEngine) -> None:
    await chat.report_repair("household_ac")
    await chat.press(next(c.id for c in chat.last[0].choices if c.id == "visit:page:1"))  # later days
    later = chat.last[0].choices[0]
    await chat.press(later.id)
    assert "You chose a time after our promise" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.customer_chose_later))).scalar_one() is True
        assert "onsite_chosen_by_customer" in (await conn.execute(select(Ticket.details))).scalar_one()
    await chat.say("/start")
    await chat.tap("Book a visit")
    assert "Your visit for request R-" in chat.text
    await chat.tap("Cancel the visit")
    assert "The visit is cancelled" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.status))).scalar_one() == "cancelled"
        assert (await conn.execute(select(VisitSlot.__table__))).all() == []


@pytest.mark.parametrize(("language", "typed"), [("en", "thursday afternoon"), ("ru", "в четверг после обеда"),
                                                 ("zh_Hans", "周四下午")])
async def test_a_typed_day_and_part_of_it_show_those_windows(new_chat: Callable[..., Chat], language: str, typed: str) -> None:
    chat = new_chat(language=language)
    await chat.report_repair("household_ac")
    await chat.say(typed)  # Thursday 10 December, in Shanghai
    labels = [c.label for c in chat.last[0].choices if c.id.startswith("visit:pick:")]
    assert labels, chat.text
    starts = [datetime.fromtimestamp(int(c.id.split(":")[2].split("-")[0]) * 60, UTC).astimezone(SHANGHAI)
              for c in chat.last[0].choices if c.id.startswith("visit:pick:")]
    assert {(s.date().isoformat(), 12 <= s.hour < 18) for s in starts} == {("2026-12-10", True)}


async def test_typed_text_and_forged_windows_change_nothing(chat: Chat, engine: AsyncEngine) -> None:
    await chat.report_repair("household_ac")
    await chat.say("whenever suits you")
    assert "Please choose a time window with the buttons" in chat.text
    await chat.press("visit:pick:1-180")  # 1970
    assert "no longer free" in chat.text
    await chat.press("visit:pick:garbage")
    assert "no longer free" in chat.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.__table__))).all() == []


async def test_one_engineers_time_is_never_booked_twice(chat: Chat, engine: AsyncEngine) -> None:
    await chat.report_repair("household_ac")
    window = Window(datetime(2026, 12, 8, 1, tzinfo=UTC), datetime(2026, 12, 8, 4, tzinfo=UTC), "zhang_wei")
    overlapping = Window(datetime(2026, 12, 8, 3, tzinfo=UTC), datetime(2026, 12, 8, 5, tzinfo=UTC), "zhang_wei")
    async with engine.begin() as conn:
        ticket_id, customer_id = (await conn.execute(select(Ticket.id, Ticket.customer_id))).one()
        common = {"ticket_id": ticket_id, "customer_id": customer_id, "conversation_id": None, "engineer": "zhang_wei",
                  "centre": "shanghai", "now": MONDAY_8AM_SHANGHAI}
        assert await store.book(conn, kind=JobKind.REPAIR, window=window, **common) is not None
        assert await store.book(conn, kind=JobKind.MAINTENANCE, window=overlapping, **common) is None
        assert await store.book(conn, kind=JobKind.REPAIR, window=window, **common) is None
    async with engine.connect() as conn:
        assert len((await conn.execute(select(Visit.__table__))).all()) == 1
