"""Two customers in two processes press the same engineer's windows at once, on SQLite and
PostgreSQL: each half hour of the engineer is held once (visit_slots' primary key), so no
window is booked twice. Without that key both would win every window: the workers book
without looking first, as a press on a window offered a moment earlier does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.engineers import JobKind, load_roster
from services.slots import free_windows
from storage.models import Customer, Ticket, Visit, VisitSlot, utcnow
from tests.test_races import _race
from tests.test_slots import DATA

MONDAY = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


async def _ticket(engine: AsyncEngine, n: int) -> tuple[int, int]:
    async with engine.begin() as conn:
        customer = (await conn.execute(insert(Customer).values(locale="en", locale_chosen=False, created_at=utcnow())
                                       .returning(Customer.id))).scalar_one()
        ticket = (await conn.execute(insert(Ticket).values(
            number=f"R-2026-90000{n}", kind="repair", status="open", customer_id=customer, locale="en", details={},
            created_at=utcnow(), updated_at=utcnow(),
        ).returning(Ticket.id))).scalar_one()
    return ticket, customer


@pytest.mark.slow
async def test_two_customers_never_get_the_same_engineers_window(engine: AsyncEngine, db_url: str) -> None:
    roster = load_roster(DATA)
    windows = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), MONDAY, date(2026, 12, 7), 5)
    keys = [w.key for w in windows if w.engineer == "zhang_wei"]
    assert len(keys) == 15  # Monday to Friday, three windows a day
    (ticket_a, customer_a), (ticket_b, customer_b) = await _ticket(engine, 1), await _ticket(engine, 2)
    a, b = _race(["book", db_url, "a", str(ticket_a), str(customer_a), *keys],
                 ["book", db_url, "b", str(ticket_b), str(customer_b), *keys])
    assert not set(a) & set(b), f"booked twice: {sorted(set(a) & set(b))}"
    assert sorted(a + b) == sorted(keys)  # every window went to one of them
    async with engine.connect() as conn:
        visits = await conn.scalar(select(func.count()).select_from(Visit))
        held = await conn.scalar(select(func.count()).select_from(VisitSlot))
    assert (visits, held) == (len(keys), len(keys) * 6)
    assert timedelta(hours=3) == windows[0].end - windows[0].start
