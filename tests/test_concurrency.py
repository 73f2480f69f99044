"""Two events of one conversation are never processed at once, across processes too."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Conversation, OutboxRow

PER_PROCESS = 60


@pytest.mark.slow
async def test_two_processes_never_interleave_one_conversation(engine: AsyncEngine, db_url: str) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrency_worker", db_url, "same-user", str(PER_PROCESS), tag],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for tag in ("a", "b")
    ]
    for worker in workers:  # both set up, then both released at once
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    async with engine.connect() as conn:
        slots = await conn.scalar(select(Conversation.slots))
        answers = (await conn.execute(select(OutboxRow.payload))).scalars().all()
    seen = Counter(int(p["text"]) for p in answers)
    assert slots["n"] == 2 * PER_PROCESS  # no update lost
    assert sorted(seen) == list(range(1, 2 * PER_PROCESS + 1)) and set(seen.values()) == {1}
