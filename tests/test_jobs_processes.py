"""Durable jobs across processes, on SQLite and PostgreSQL: two runners never run a job
twice, and a restart runs what fell due while the runner was down, once.

The runner processes are tests/jobs_worker.py, each with its clock fixed by the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.dispatcher import Dispatcher
from handlers.router import route
from storage import jobs
from storage.jobs import JobStatus
from storage.models import AuditEntry, Conversation, OutboxRow
from tests.memory_channel import Chat

T0 = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
JOBS, CHATS = 400, 20


def _worker(url: str, tag: str, now: datetime, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs_worker", url, tag, now.isoformat(), *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def _result(worker: subprocess.Popen[str]) -> list[int]:
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0
    ran: list[int] = json.loads(out.strip().splitlines()[-1])
    return ran


async def _effects(engine: AsyncEngine) -> Counter[int]:
    """How many times each job took effect (its audit lines)."""
    async with engine.connect() as conn:
        details = (await conn.scalars(select(AuditEntry.detail).where(AuditEntry.action == "job"))).all()
    return Counter(detail["job"] for detail in details)


@pytest.mark.slow
async def test_two_runner_processes_never_run_the_same_job(engine: AsyncEngine, db_url: str, company: Company) -> None:
    core = Dispatcher(engine, company, route)
    for n in range(CHATS):
        await Chat(core, engine, user_id=f"c{n}").say("/start")
    await core.close()
    async with engine.connect() as conn:
        conversations = list((await conn.scalars(select(Conversation.id).order_by(Conversation.id))).all())
    async with engine.begin() as conn:
        ids = [
            await jobs.schedule(conn, "test.say", T0 - timedelta(seconds=n), conversation_id=conversations[n % CHATS])
            if n % 2 else await jobs.schedule(conn, "test.note", T0 - timedelta(seconds=n))
            for n in range(JOBS)
        ]
    # Small claims: many of them, many chances to collide.
    workers = [_worker(db_url, tag, T0, "--wait", "--batch", "7") for tag in ("a", "b")]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        a, b = (_result(worker) for worker in workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert not set(a) & set(b), "a job run by both processes"
    assert sorted(a + b) == sorted(ids)
    assert await _effects(engine) == Counter(ids)
    async with engine.connect() as conn:
        assert {job.status for job in await jobs.listing(conn)} == {JobStatus.DONE}
        replies = Counter(payload["text"] for payload in (await conn.scalars(select(OutboxRow.payload))).all())
    # Each conversation job's reply was written once (next to the customers' own answers).
    assert all(replies[f"job {job_id}"] == 1 for n, job_id in enumerate(ids) if n % 2)


@pytest.mark.slow
async def test_a_restart_runs_what_fell_due_while_down_exactly_once(engine: AsyncEngine, db_url: str) -> None:
    async with engine.begin() as conn:
        cut_off = await jobs.schedule(conn, "test.hang", T0)  # its runner dies in the middle of it
        while_down = await jobs.schedule(conn, "test.note", T0 + timedelta(minutes=10))
        tomorrow = await jobs.schedule(conn, "test.note", T0 + timedelta(days=1))
    first = _worker(db_url, "first", T0, "--hang", "--lease", "60")
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == f"hanging {cut_off}"
    finally:
        first.kill()  # SIGKILL: no clean stop, the job's transaction never commits
        first.wait()
    async with engine.connect() as conn:
        (held,) = await jobs.listing(conn, JobStatus.RUNNING)
    assert held.id == cut_off and held.attempts == 1
    # Restarted before the dead runner's lease ran out: its job is not touched, the other is not due.
    assert _result(_worker(db_url, "early", T0 + timedelta(seconds=30))) == []
    # An hour later: the job cut off and the one that fell due while down run, once.
    assert sorted(_result(_worker(db_url, "second", T0 + timedelta(hours=1)))) == [cut_off, while_down]
    assert _result(_worker(db_url, "third", T0 + timedelta(hours=1, minutes=1))) == []
    assert await _effects(engine) == Counter([cut_off, while_down])
    async with engine.connect() as conn:
        states = {job.id: (job.status, job.attempts) for job in await jobs.listing(conn)}
    assert states == {cut_off: (JobStatus.DONE, 2), while_down: (JobStatus.DONE, 1), tomorrow: (JobStatus.PENDING, 0)}
