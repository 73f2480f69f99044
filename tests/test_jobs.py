"""Durable jobs (storage/jobs.py, bot/jobs.py): scheduled in the caller's transaction,
run once when due, conversation jobs through the core, retries, dead jobs, cancelling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.dispatcher import Dispatcher
from bot.core.events import Event, Kind, Reply
from bot.core.turn import Turn
from bot.jobs import JobHandler, JobRunner, JobTurn
from bot.outbox import OutboxSender
from storage import jobs
from storage.db import Store, create_engine
from storage.jobs import JobStatus
from storage.models import Conversation, Message
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def runner_for(engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock, handlers: dict[str, JobHandler]) -> JobRunner:
    return JobRunner(engine, dispatcher, timezone="Asia/Shanghai", handlers=handlers, clock=clock, owner="test")


async def statuses(engine: AsyncEngine) -> dict[int, JobStatus]:
    async with engine.connect() as conn:
        return {job.id: job.status for job in await jobs.listing(conn)}


async def test_a_job_runs_once_when_due_and_not_before(engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock) -> None:
    ran: list[tuple[int, dict[str, object], datetime]] = []

    async def note(turn: JobTurn) -> None:
        ran.append((turn.job.id, turn.job.payload, turn.now))

    async with engine.begin() as conn:
        soon = await jobs.schedule(conn, "test.note", START + timedelta(minutes=5), {"n": 1})
        later = await jobs.schedule(conn, "test.note", START + timedelta(hours=2), {"n": 2})
    work = runner_for(engine, dispatcher, clock, {"test.note": note})
    assert await work.run_due() == 0
    clock.advance(minutes=5)
    assert await work.run_due() == 1
    assert await work.run_due() == 0
    assert ran == [(soon, {"n": 1}, START + timedelta(minutes=5))]
    assert await statuses(engine) == {soon: JobStatus.DONE, later: JobStatus.PENDING}
    clock.advance(hours=3)
    assert await work.run_due() == 1
    assert [job_id for job_id, _, _ in ran] == [soon, later]


async def test_a_conversation_job_speaks_to_the_customer_in_their_language(
    engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock,
) -> None:
    chat = Chat(dispatcher, engine, user_id="r1", language="ru")
    await chat.say("/start")
    async with engine.connect() as conn:
        conversation_id = await conn.scalar(select(Conversation.id))

    async def remind(turn: JobTurn) -> None:
        assert turn.conversation is not None and turn.t is not None
        await turn.send(Reply(f"{turn.t.locale}: reminder {turn.job.payload['visit']}"))

    async with engine.begin() as conn:
        await jobs.schedule(conn, "test.remind", START + timedelta(days=1), {"visit": 7},
                            conversation_id=conversation_id, cause="visit:7")
    work = runner_for(engine, dispatcher, clock, {"test.remind": remind})
    clock.advance(days=1)
    assert await work.run_due() == 1
    assert [r.text for r in await chat.collect()] == ["ru: reminder 7"]
    async with engine.connect() as conn:
        line = (await conn.execute(select(Message.author, Message.text, Message.outbox_id).order_by(Message.id.desc()))).first()
    assert line is not None and line.author == "bot" and line.text == "ru: reminder 7" and line.outbox_id is not None


async def test_a_failing_job_is_retried_with_back_off_then_dead(engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock) -> None:
    tries: list[datetime] = []

    async def broken(turn: JobTurn) -> None:
        tries.append(turn.now)
        await jobs.schedule(turn.conn, "test.chained", turn.now)  # rolled back with the failure
        raise RuntimeError("the engineer's calendar is down")

    async with engine.begin() as conn:
        job_id = await jobs.schedule(conn, "test.broken", START, max_attempts=3)
    work = runner_for(engine, dispatcher, clock, {"test.broken": broken})
    assert await work.run_due() == 1
    async with engine.connect() as conn:
        (job,) = await jobs.pending(conn)
    assert job.attempts == 1 and job.run_at == START + timedelta(seconds=30)
    assert job.last_error == "RuntimeError: the engineer's calendar is down"
    clock.advance(seconds=29)
    assert await work.run_due() == 0  # backing off
    clock.advance(seconds=1)
    assert await work.run_due() == 1
    clock.advance(minutes=1)
    assert await work.run_due() == 1
    assert await statuses(engine) == {job_id: JobStatus.DEAD}  # no chained job: each try rolled back
    clock.advance(hours=5)
    assert await work.run_due() == 0
    assert tries == [START, START + timedelta(seconds=30), START + timedelta(seconds=90)]
    async with engine.connect() as conn:
        (dead,) = await jobs.listing(conn, JobStatus.DEAD)
    assert dead.finished_at == START + timedelta(seconds=90) and dead.attempts == 3


async def test_cancelling_a_cause_cancels_only_its_waiting_jobs(engine: AsyncEngine, dispatcher: Dispatcher, clock: ManualClock) -> None:
    ran: list[str] = []

    async def note(turn: JobTurn) -> None:
        ran.append(turn.job.cause or "")

    async with engine.begin() as conn:
        for cause in ("visit:1", "visit:1", "visit:2"):
            await jobs.schedule(conn, "test.note", START + timedelta(hours=1), cause=cause)
    async with engine.begin() as conn:
        assert await jobs.cancel(conn, "visit:1") == 2
        assert await jobs.cancel(conn, "visit:1") == 0
    clock.advance(hours=1)
    assert await runner_for(engine, dispatcher, clock, {"test.note": note}).run_due() == 1
    assert ran == ["visit:2"]
    assert sorted((await statuses(engine)).values()) == [JobStatus.CANCELLED, JobStatus.CANCELLED, JobStatus.DONE]


@pytest.mark.parametrize(("kind", "when", "fields", "problem"), [
    ("", START, {}, "kind"),
    ("x" * 33, START, {}, "kind"),
    ("test.note", START.replace(tzinfo=None), {}, "timezone"),
    ("test.note", START, {"max_attempts": 0}, "max_attempts"),
    ("test.note", START, {"cause": ""}, "cause"),
])
async def test_bad_jobs_are_refused_and_nothing_is_written(
    engine: AsyncEngine, kind: str, when: datetime, fields: dict[str, object], problem: str,
) -> None:
    with pytest.raises(ValueError, match=problem):
        async with engine.begin() as conn:
            await jobs.schedule(conn, kind, when, **fields)  # type: ignore[arg-type]
    assert await statuses(engine) == {}


class Deliveries:
    """The outbox sender's transport: what reached the customer, in order."""

    channel = "memory"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        self.delivered.append((chat_id, reply.text))
        return f"m{row_id}"


class Watched:
    """An engine that says when a transaction is asked for."""

    def __init__(self, engine: Store) -> None:
        self.engine = engine
        self.began = asyncio.Event()

    def begin(self) -> Any:
        self.began.set()
        return self.engine.begin()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


async def waiting_for_a_lock(engine: AsyncEngine) -> None:
    """Until another session of this database waits for a row lock (PostgreSQL)."""
    for _ in range(500):
        async with engine.connect() as conn:
            if await conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )):
                return
    raise AssertionError("the customer's turn never waited for the conversation's lock")


async def deliver(sender: OutboxSender) -> None:
    """Claim what is due and let the chat workers send it."""
    for row in await sender.claim():
        sender._enqueue(row)
    while sender._workers:
        await asyncio.gather(*list(sender._workers.values()))
    await sender.flush()


async def echo_state(turn: Turn) -> None:
    """A flow that says which state the conversation was in when the customer's turn ran."""
    turn.say(f"state={turn.state or '-'}")
    turn.goto("answered")


async def test_a_conversation_job_is_serialised_with_the_customers_turn_and_its_reply_goes_through_the_outbox(
    engine: AsyncEngine, db_url: str, company: Company, clock: ManualClock,
) -> None:
    """The job holds the conversation (asks a question, moves it to `asked`) while the customer
    writes through another engine (as from another process): the customer's turn waits for the
    job's commit and sees its state; the sender delivers the question, then the answer."""
    jobs_core = Dispatcher(engine, company, echo_state, clock=clock)
    transport = Deliveries()
    sender = OutboxSender(engine, [transport])
    jobs_core.outbox = sender
    other = create_engine(db_url)
    watched = Watched(other)
    customer_core = Dispatcher(watched, company, echo_state, clock=clock)  # type: ignore[arg-type]

    async def customer_says(text: str) -> None:  # the replies stay in the outbox, for the sender
        await customer_core.handle(Event("memory", "s1", "s1", Kind.TEXT, delivery_id=text, text=text, language_hint="en"))

    entered, release = asyncio.Event(), asyncio.Event()

    async def ask(turn: JobTurn) -> None:
        assert turn.conversation is not None and turn.t is not None
        await turn.send(Reply(turn.t._("Main menu")))
        turn.conversation.state = "asked"
        entered.set()
        await release.wait()

    try:
        await customer_says("hello")
        await deliver(sender)
        async with engine.begin() as conn:
            conversation_id = await conn.scalar(select(Conversation.id))
            await jobs.schedule(conn, "test.ask", START, conversation_id=conversation_id)
        running = asyncio.create_task(runner_for(engine, jobs_core, clock, {"test.ask": ask}).run_due())
        await entered.wait()
        # The customer writes while the job holds the conversation: their turn must wait and
        # then see the job's state (`asked`), not the one before it (`answered`).
        watched.began.clear()
        answer = asyncio.create_task(customer_says("my answer"))
        await watched.began.wait()  # on SQLite its BEGIN IMMEDIATE has been tried and refused
        if db_url.startswith("postgresql"):
            await waiting_for_a_lock(engine)
        assert not answer.done()
        release.set()
        assert await running == 1
        await answer
        await deliver(sender)
        assert transport.delivered == [("s1", "state=-"), ("s1", "Main menu"), ("s1", "state=asked")]
    finally:
        await jobs_core.close()
        await customer_core.close()
        await sender.close()
        await other.dispose()
