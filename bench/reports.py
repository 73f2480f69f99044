"""Service reports: how long the weekly report (and the reports page) takes on a year of tickets.

    .venv/bin/python -m bench.reports                     # SQLite (a fresh file), 50,000 tickets in a year
    .venv/bin/python -m bench.reports --tickets 200000

The report reads a year of tickets (the early warning's longest window) and counts them in
Python (services/reports.py); this measures that, and the CSV export of every table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from services.reports import Span, Window
from storage.db import create_engine, upgrade
from storage.models import Customer, Survey, Ticket, utcnow
from storage.reports import report

MODELS = [f"KFR-{n}GW" for n in range(20, 80)]
THRESHOLDS = {Window.MONTH: 3, Window.QUARTER: 6, Window.YEAR: 12}


async def main(count: int) -> None:
    path = Path(tempfile.mkdtemp()) / "bench.db"
    url = f"sqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    now = utcnow()
    rng = random.Random(13)
    async with engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", created_at=now).returning(Customer.id))
        rows = []
        for n in range(count):
            opened = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
            rows.append({
                "number": f"R-2026-{n:07d}", "kind": rng.choice(["repair", "repair", "complaint", "person"]), "status": "resolved",
                "customer_id": customer, "locale": "en", "product_line": "household_ac", "model": rng.choice(MODELS),
                "category": rng.choice(["leak", "noise", "power", None]), "details": {"sla": {"class": rng.choice(["city", "within_300km"])}},
                "created_at": opened, "updated_at": opened, "first_response_due": opened + timedelta(hours=1),
                "first_response_at": opened + timedelta(minutes=rng.randrange(120)),
            })
        await conn.execute(insert(Ticket), rows)
        await conn.execute(insert(Survey), [{
            "ticket_id": n + 1, "customer_id": customer, "plan": "repair_3d", "level": "first", "round": 0,
            "status": "answered", "due_at": now - timedelta(days=rng.randrange(30)), "question": 3,
            "answers": {"rating": str(rng.randint(1, 5))}, "created_at": now,
        } for n in range(0, count, 10)])
    for _ in range(3):
        started = time.perf_counter()
        result = await report(engine, Span.WEEKLY, now, THRESHOLDS)
        built = time.perf_counter() - started
        started = time.perf_counter()
        size = sum(len(table.to_csv()) for table in result.tables)
        exported = time.perf_counter() - started
        print(f"{count} tickets: weekly report {built * 1000:.0f} ms ({len(result.warnings)} early warnings), "
              f"CSV of {len(result.tables)} tables {exported * 1000:.1f} ms ({size} bytes)")
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=50_000)
    asyncio.run(main(parser.parse_args().tickets))
