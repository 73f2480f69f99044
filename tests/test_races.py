"""Races between two processes, on SQLite and on PostgreSQL (a race inside one process
proves nothing on SQLite: the engine runs one transaction at a time there).

Each worker (tests/race_worker.py) is released together with the other and reports what
it won; the store must agree that nothing was won twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.events import Reply
from storage.models import Customer, OutboxRow, Product, utcnow

ROWS, CHATS = 400, 50
UNITS = 150


def _race(*commands: list[str]) -> list[list]:
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.race_worker", *command],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    try:
        for worker in workers:  # both connected, then both released at once
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


@pytest.mark.slow
async def test_two_sender_processes_never_claim_the_same_row(engine: AsyncEngine, db_url: str) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxRow), [
            {"channel": "memory", "chat_id": f"c{i % CHATS}", "payload": Reply(str(i)).to_payload(),
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for i in range(ROWS)
        ])
    a, b = _race(["claim", db_url, "a"], ["claim", db_url, "b"])
    assert not set(a) & set(b), "a row claimed by both senders"
    # A claim skips a chat while one of its rows is being sent (no sender here ever sends):
    # what can be claimed is each chat's first row, each once. (Which sender wins how many
    # depends on timing; under the head-of-line rule one sometimes takes them all.)
    assert len(a) + len(b) == CHATS
    async with engine.connect() as conn:
        owners = dict((await conn.execute(select(OutboxRow.id, OutboxRow.lease_owner).where(OutboxRow.lease_owner.is_not(None)))).all())
    assert owners == {**dict.fromkeys(a, "a"), **dict.fromkeys(b, "b")}


SHARED_PHONE = "+8613800138000"


@pytest.mark.slow
async def test_two_customers_claiming_the_same_units_in_two_processes_never_both_win(
    engine: AsyncEngine, db_url: str,
) -> None:
    serials = [f"HA2403{n:06d}" for n in range(UNITS)]
    async with engine.begin() as conn:
        for customer_id in (1, 2):
            # Both proved the phone the dealer recorded (a household's shared number), so each may link the units.
            await conn.execute(insert(Customer).values(
                id=customer_id, locale="en", locale_chosen=False, created_at=utcnow(), verified_phone=SHARED_PHONE,
            ))
        await conn.execute(insert(Product), [
            {"serial": s, "product_line": "HA", "model": "M", "manufactured": date(2024, 3, 1),
             "customer_phone": SHARED_PHONE, "created_at": utcnow(), "updated_at": utcnow()}
            for s in serials
        ])
    first, second = _race(["link", db_url, "a", "1", *serials], ["link", db_url, "b", "2", *serials])
    assert not set(first) & set(second), "a unit linked to both customers"
    assert sorted(first + second) == serials
    async with engine.connect() as conn:
        owners = dict((await conn.execute(select(Product.serial, Product.customer_id))).all())
    assert owners == {**dict.fromkeys(first, 1), **dict.fromkeys(second, 2)}


# Issue 8 item 9: SQLite has no queue for its write lock; a writer that commits and begins
# again at once could keep it from another process for good.
FAIR_SECONDS = 20.0


@pytest.mark.slow
def test_two_processes_writing_flat_out_share_the_sqlite_file_fairly(sqlite_url: str) -> None:
    a, b = _race(["write", sqlite_url, "a", str(FAIR_SECONDS)], ["write", sqlite_url, "b", str(FAIR_SECONDS)])
    total = a["commits"] + b["commits"]
    assert total > 100
    for worker in (a, b):
        assert worker["commits"] >= 0.3 * total, (a, b)
        assert worker["max_wait"] <= 1.0, (a, b)
