"""Visit windows and bookings: what an offer page and a booking cost.

    .venv/bin/python -m bench.visits                  # SQLite (a fresh file)
    .venv/bin/python -m bench.visits --bookings 2000

1. Offer: `services.slots.free_windows` for one page (3 days) of the shipped roster's busiest
   centre, with the engineers' time already half booked; microseconds per page.
2. Booking: `--bookings` windows booked one transaction each (visit row, its half-hour rows
   under the unique key, two reminder jobs), then the busy query an offer runs; per second.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from services.engineers import JobKind, load_roster
from services.slots import free_windows
from storage import visits as store
from storage.db import create_engine, upgrade
from storage.models import Customer, Ticket, utcnow

DATA = Path(__file__).resolve().parent.parent / "data" / "engineers.yaml"
MONDAY = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def offer_page(repeat: int) -> float:
    roster = load_roster(DATA)
    everything = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), MONDAY, MONDAY.date(), 14)
    busy = {(w.engineer, unit) for w in everything[::2] for unit in w.units()}
    start = time.perf_counter()
    for _ in range(repeat):
        free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, busy, MONDAY, MONDAY.date(), 3)
    return (time.perf_counter() - start) / repeat * 1e6


async def bookings(count: int) -> tuple[float, float]:
    roster = load_roster(DATA)
    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/bench.db"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            customer = (await conn.execute(insert(Customer).values(locale="en", locale_chosen=False,
                                                                   created_at=utcnow()).returning(Customer.id))).scalar_one()
            ticket = (await conn.execute(insert(Ticket).values(
                number="R-2026-000001", kind="repair", status="open", customer_id=customer, locale="en", details={},
                created_at=utcnow(), updated_at=utcnow()).returning(Ticket.id))).scalar_one()
        # Every engineer of every centre who repairs air conditioners, day after day, until `count`.
        windows = []
        day = MONDAY.date()
        while len(windows) < count:
            for centre in roster.centres:
                for engineer in roster.engineers:
                    if engineer.centre == centre and "household_ac" in engineer.skills:
                        from zoneinfo import ZoneInfo

                        from services.slots import engineer_windows
                        windows += engineer_windows(engineer, ZoneInfo(roster.centres[centre].tz), day,
                                                    roster.slot_length(JobKind.REPAIR))
            day += timedelta(days=1)
        windows = windows[:count]
        start = time.perf_counter()
        for window in windows:
            async with engine.begin() as conn:
                booked = await store.book(conn, ticket_id=ticket, customer_id=customer, conversation_id=None,
                                          engineer=window.engineer, centre="shanghai", kind=JobKind.REPAIR,
                                          window=window, now=MONDAY - timedelta(days=2))
                assert booked is not None
        per_second = count / (time.perf_counter() - start)
        engineers = [e.id for e in roster.engineers]
        start = time.perf_counter()
        for _ in range(100):
            async with engine.connect() as conn:
                await store.busy(conn, engineers, MONDAY, MONDAY + timedelta(days=4))
        busy_ms = (time.perf_counter() - start) / 100 * 1000
    finally:
        await engine.dispose()
    return per_second, busy_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=1000)
    args = parser.parse_args()
    print(f"offer page (3 days, shanghai, half booked): {offer_page(500):.0f} µs")
    per_second, busy_ms = asyncio.run(bookings(args.bookings))
    print(f"bookings on SQLite: {per_second:.0f}/s ({args.bookings} one transaction each, with two reminder jobs)")
    print(f"busy query for an offer (4 days, all engineers, {args.bookings} bookings held): {busy_ms:.2f} ms")


if __name__ == "__main__":
    main()
