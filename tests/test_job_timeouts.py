"""A job handler that hangs fails its try after the runner's `timeout` (bot/jobs.py), rolled back
and retried with back-off like any failure; the jobs beside it are not held up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.dispatcher import Dispatcher
from bot.core.events import Reply
from bot.jobs import JobRunner, JobTurn
from storage import handoff, jobs
from storage.jobs import JobStatus
from storage.models import AuditEntry, Conversation, Message
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
TIMEOUT = 0.05  # seconds: a real wait, kept short


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.mark.parametrize("with_conversation", [True, False], ids=["conversation", "alone"])
async def test_a_hanging_handler_fails_its_try_and_is_retried_with_back_off(
    engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock, with_conversation: bool,
) -> None:
    await Chat(dispatcher, engine, user_id="u1").say("/start")
    async with engine.connect() as conn:
        conversation = await conn.scalar(select(Conversation.id)) if with_conversation else None
    hangs = [True]

    async def remind(turn: JobTurn) -> None:
        await handoff.record(turn.conn, None, f"job:{turn.job.payload['n']}", turn.now)
        if turn.conversation is not None:
            await turn.send(Reply(f"reminder {turn.job.payload['n']}"))
        if turn.job.payload["n"] == 2 and hangs[0]:
            await asyncio.Event().wait()  # an engineer's calendar that never answers

    async with engine.begin() as conn:
        ids = [await jobs.schedule(conn, "test.remind", START, {"n": n}, conversation_id=conversation, now=START)
               for n in (1, 2, 3)]
    runner = JobRunner(engine, dispatcher, timezone="Asia/Shanghai", handlers={"test.remind": remind}, clock=clock,
                       owner="test", timeout=TIMEOUT)
    assert await runner.run_due() == 3
    async with engine.connect() as conn:
        found = {job.id: job for job in await jobs.listing(conn)}
        audit = (await conn.scalars(select(AuditEntry.action).where(AuditEntry.action.like("job:%")).order_by(AuditEntry.id))).all()
        lines = (await conn.scalars(select(Message.text).where(Message.text.like("reminder %")).order_by(Message.id))).all()
    assert [found[i].status for i in ids] == [JobStatus.DONE, JobStatus.PENDING, JobStatus.DONE]
    hung = found[ids[1]]
    assert (hung.attempts, hung.run_at) == (1, START + timedelta(seconds=30))
    assert hung.last_error == f"JobTimedOut: the handler ran longer than {TIMEOUT:g} s"
    assert list(audit) == ["job:1", "job:3"]  # the hung try's effects rolled back
    assert list(lines) == (["reminder 1", "reminder 3"] if with_conversation else [])

    hangs[0] = False
    clock.advance(seconds=30)
    assert await runner.run_due() == 1
    async with engine.connect() as conn:
        again = {job.id: job for job in await jobs.listing(conn)}[ids[1]]
    assert (again.status, again.attempts) == (JobStatus.DONE, 2)


async def test_no_timeout_lets_a_handler_take_its_time(engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock) -> None:
    async def slow(turn: JobTurn) -> None:
        await asyncio.sleep(TIMEOUT * 2)

    async with engine.begin() as conn:
        job_id = await jobs.schedule(conn, "test.slow", START, now=START)
    runner = JobRunner(engine, dispatcher, timezone="Asia/Shanghai", handlers={"test.slow": slow}, clock=clock,
                       owner="test", timeout=None)
    assert await runner.run_due() == 1
    async with engine.connect() as conn:
        (job,) = await jobs.listing(conn)
    assert (job.id, job.status) == (job_id, JobStatus.DONE)
