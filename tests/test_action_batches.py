"""Runs of actions in one transaction (bot/core/dispatcher.py `_apply`): each action in a savepoint
of its own, so a refused or failing one leaves no trace and the others commit; a store failure
fails the whole run; results, outbox rows and the bus are told only after the commit; the order
between a customer's turns and the actions on their conversation holds."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.actions import Act, Action, ActionResult, Emit
from bot.core.dispatcher import Dispatcher, Queued
from bot.core.events import Event, Kind, Reply
from bot.jobs import SYSTEM, JobRunner, JobTurn
from handlers.router import route
from services.handoff import Actor, Refused, Role
from storage import handoff, jobs
from storage.agents import add_agent
from storage.db import StoreConnection
from storage.jobs import JobStatus
from storage.models import AuditEntry, Conversation, Message, OutboxRow, utcnow
from storage.turns import ConversationRow
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


class Outbox:
    """The sender as the committer sees it: rows stay pending; which ones it was told of."""

    def __init__(self) -> None:
        self.told: list[Queued] = []

    def lease_for(self, channel: str, now: datetime) -> tuple[str, datetime] | None:
        return None

    def queued(self, rows: list[Queued]) -> None:
        self.told.extend(rows)


class Bus:
    def __init__(self) -> None:
        self.heard: list[set[int]] = []

    def changed(self, conversation_ids: set[int]) -> None:
        self.heard.append(set(conversation_ids))


@pytest.fixture
async def core(engine: AsyncEngine, company: Company) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(engine, company, route, clock=ManualClock(START))
    dispatcher.outbox = Outbox()
    dispatcher.bus = Bus()
    yield dispatcher
    await dispatcher.close()


def told(core: Dispatcher) -> list[str]:
    assert isinstance(core.outbox, Outbox)
    return [row.payload["text"] for row in core.outbox.told]


def heard(core: Dispatcher) -> list[set[int]]:
    assert isinstance(core.bus, Bus)
    return core.bus.heard


@contextmanager
def commits(engine: AsyncEngine) -> Iterator[list[int]]:
    """How many transactions commit meanwhile (a list of one count)."""
    counted = [0]

    def count(_connection: Any) -> None:
        counted[0] += 1

    event.listen(engine.sync_engine, "commit", count)
    try:
        yield counted
    finally:
        event.remove(engine.sync_engine, "commit", count)


async def started(core: Dispatcher, engine: AsyncEngine, *users: str) -> list[int]:
    """A conversation for each user (they wrote /start), in that order; the outbox and bus forgotten."""
    for user in users:
        await Chat(core, engine, user_id=user).say("/start")
    async with engine.connect() as conn:
        ids = list((await conn.scalars(select(Conversation.id).order_by(Conversation.id))).all())
    assert isinstance(core.outbox, Outbox) and isinstance(core.bus, Bus)
    core.outbox.told.clear()
    core.bus.heard.clear()
    return ids


class Work:
    """An action's work in the conversation's transaction: a step in the conversation's slots, an
    audit line, a reply with its transcript line; then (`fail`) it raises."""

    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name = name
        self.fail = fail
        self.saw: list[str] = []  # the steps the conversation had when this ran

    async def __call__(self, conn: StoreConnection, row: ConversationRow, now: datetime, timezone: str, emit: Emit) -> ActionResult:
        self.saw = list(row.slots.get("steps", []))
        row.slots = {**row.slots, "steps": [*self.saw, self.name]}
        await handoff.record(conn, None, f"work:{self.name}", now, conversation_id=row.id)
        outbox_id = await emit("memory", f"chat-{row.id}", Reply(f"reply {self.name}"))
        await handoff.add_message(conn, conversation_id=row.id, ticket_id=None, channel="memory", created_at=now,
                                  direction="out", author="bot", text=f"work {self.name}", attachments=[], outbox_id=outbox_id)
        if self.fail is not None:
            raise self.fail
        return ActionResult(True)


def act(core: Dispatcher, conversation_id: int, work: Work) -> asyncio.Task[ActionResult]:
    return asyncio.create_task(core.act(Action(conversation_id, Act.JOB, SYSTEM, job=work)))


async def effects(engine: AsyncEngine, conversation_id: int) -> tuple[list[str], list[str], list[str]]:
    """The conversation's steps, the audit lines and the outbox rows of the works."""
    async with engine.connect() as conn:
        slots = await conn.scalar(select(Conversation.slots).where(Conversation.id == conversation_id))
        audit = (await conn.scalars(select(AuditEntry.action).where(AuditEntry.action.like("work:%")).order_by(AuditEntry.id))).all()
        rows = (await conn.scalars(select(OutboxRow.payload).where(OutboxRow.chat_id.like("chat-%")).order_by(OutboxRow.id))).all()
    return list((slots or {}).get("steps", [])), list(audit), [payload["text"] for payload in rows]


@pytest.mark.parametrize("failure", ["refused", "raises"])
async def test_a_refused_or_failing_action_in_a_run_leaves_no_trace_and_the_others_commit(
    engine: AsyncEngine, core: Dispatcher, failure: str,
) -> None:
    (conversation,) = await started(core, engine, "u1")
    error = Refused("not any more", 7) if failure == "refused" else RuntimeError("the calendar is down")
    first, middle, last = Work("a"), Work("b", fail=error), Work("c")
    with commits(engine) as counted:
        tasks = [act(core, conversation, work) for work in (first, middle, last)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert counted == [1]  # one transaction for the run
    if failure == "refused":
        assert outcomes[1] == ActionResult(False, "not any more", 7)
    else:
        assert isinstance(outcomes[1], RuntimeError) and str(outcomes[1]) == "the calendar is down"
    assert outcomes[0] == outcomes[2] == ActionResult(True)
    # The last saw the first's step and not the middle's: its savepoint was rolled back.
    assert (first.saw, middle.saw, last.saw) == ([], ["a"], ["a"])
    assert await effects(engine, conversation) == (["a", "c"], ["work:a", "work:c"], ["reply a", "reply c"])
    assert told(core) == ["reply a", "reply c"]  # the sender hears only of committed rows
    assert heard(core) == [{conversation}]


async def test_a_store_failure_fails_every_action_of_the_run(engine: AsyncEngine, core: Dispatcher) -> None:
    first, second = await started(core, engine, "u1", "u2")
    lost = OperationalError("INSERT INTO audit_log ...", {}, sqlite3.OperationalError("disk I/O error"))
    tasks = [act(core, first, Work("a")), act(core, second, Work("b")), act(core, first, Work("c", fail=lost))]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(outcome is lost for outcome in outcomes)
    assert await effects(engine, first) == ([], [], [])
    assert await effects(engine, second) == ([], [], [])
    assert told(core) == [] and heard(core) == []
    # The committer goes on: the next run commits.
    assert await act(core, second, Work("d")) == ActionResult(True)
    assert await effects(engine, second) == (["d"], ["work:d"], ["reply d"])


async def test_due_jobs_in_one_run_a_cancelled_and_a_failing_one_leave_no_trace(
    engine: AsyncEngine, core: Dispatcher,
) -> None:
    first, second = await started(core, engine, "u1", "u2")
    clock = ManualClock(START)

    async def say(turn: JobTurn) -> None:
        await turn.send(Reply(f"job {turn.job.payload['n']}"))
        if turn.job.payload.get("cancel"):  # a visit cancelled meanwhile: the next job's cause
            await jobs.cancel(turn.conn, turn.job.payload["cancel"], turn.now)
        if turn.job.payload.get("fail"):
            raise RuntimeError("the engineer's calendar is down")

    async with engine.begin() as conn:
        ids = [
            await jobs.schedule(conn, "test.say", START, {"n": 1, "cancel": "visit:2"}, conversation_id=first, now=START),
            await jobs.schedule(conn, "test.say", START, {"n": 2}, conversation_id=second, cause="visit:2", now=START),
            await jobs.schedule(conn, "test.say", START, {"n": 3}, conversation_id=second, now=START),
            await jobs.schedule(conn, "test.say", START, {"n": 4, "fail": True}, conversation_id=first, now=START),
            await jobs.schedule(conn, "test.say", START, {"n": 5}, conversation_id=first, now=START),
        ]
    runner = JobRunner(engine, core, timezone="Asia/Shanghai", handlers={"test.say": say}, clock=clock, owner="test")
    assert await runner.run_due() == 5
    async with engine.connect() as conn:
        found = {job.id: job for job in await jobs.listing(conn)}
        lines = (await conn.scalars(select(Message.text).where(Message.text.like("job %")).order_by(Message.id))).all()
        sent = (await conn.scalars(select(OutboxRow.payload).order_by(OutboxRow.id))).all()
    assert [found[i].status for i in ids] == [
        JobStatus.DONE, JobStatus.CANCELLED, JobStatus.DONE, JobStatus.PENDING, JobStatus.DONE]
    assert found[ids[3]].attempts == 1 and found[ids[3]].last_error == "RuntimeError: the engineer's calendar is down"
    assert list(lines) == ["job 1", "job 3", "job 5"]
    assert [payload["text"] for payload in sent if payload["text"].startswith("job")] == ["job 1", "job 3", "job 5"]
    assert told(core) == ["job 1", "job 3", "job 5"]


async def test_jobs_of_a_run_that_meets_a_store_failure_are_given_back(engine: AsyncEngine, core: Dispatcher) -> None:
    first, second = await started(core, engine, "u1", "u2")
    tries: list[tuple[int, int]] = []  # (n, the job's tries so far, this one included)

    async def say(turn: JobTurn) -> None:
        tries.append((turn.job.payload["n"], turn.job.attempts))
        await turn.send(Reply(f"job {turn.job.payload['n']}"))
        if turn.job.payload["n"] == 2 and len(tries) == 2:  # the store fails once, during the second job
            raise OperationalError("UPDATE jobs ...", {}, sqlite3.OperationalError("disk I/O error"))

    async with engine.begin() as conn:
        ids = [await jobs.schedule(conn, "test.say", START, {"n": n}, conversation_id=conversation, now=START)
               for n, conversation in ((1, first), (2, second), (3, first))]
    runner = JobRunner(engine, core, timezone="Asia/Shanghai", handlers={"test.say": say}, clock=ManualClock(START),
                       owner="test")
    assert await runner.run_due() == 6  # the run given back (due again at once), then run again
    # The run stopped at the failure (the third job never ran) and was not counted as a try.
    assert tries == [(1, 1), (2, 1), (1, 1), (2, 1), (3, 1)]
    async with engine.connect() as conn:
        found = {job.id: job for job in await jobs.listing(conn)}
        lines = (await conn.scalars(select(Message.text).where(Message.text.like("job %")).order_by(Message.id))).all()
    assert [(found[i].status, found[i].attempts) for i in ids] == [(JobStatus.DONE, 1)] * 3
    assert list(lines) == ["job 1", "job 2", "job 3"]  # nothing of the failed run was committed
    assert told(core) == ["job 1", "job 2", "job 3"] and heard(core) == [{first, second}]


async def test_two_claims_in_one_run_the_second_sees_the_first(engine: AsyncEngine, core: Dispatcher) -> None:
    now = utcnow()
    ann = Actor(await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=now), Role.AGENT)
    bob = Actor(await add_agent(engine, login="bob", name="Bob", password_hash="x", role=Role.AGENT, now=now), Role.AGENT)
    chat = Chat(core, engine, user_id="u1")
    await chat.say("/start")
    await chat.say("/agent")
    (conversation,) = await started(core, engine)
    with commits(engine) as counted:
        won, lost = await asyncio.gather(core.act(Action(conversation, Act.CLAIM, ann)),
                                         core.act(Action(conversation, Act.CLAIM, bob)))
    assert counted == [1]
    assert won.ok and not lost.ok and lost.owner_id == ann.agent_id
    assert [text for text in told(core) if "joined" in text] == [told(core)[0]] and "Ann" in told(core)[0]


async def test_a_customers_turns_and_actions_on_their_conversation_keep_their_order(
    engine: AsyncEngine, core: Dispatcher,
) -> None:
    (conversation,) = await started(core, engine, "u1")

    def said(text: str, n: int) -> Event:
        return Event("memory", "u1", "u1", Kind.TEXT, text=text, delivery_id=f"order-{n}", message_id=f"order-{n}",
                     language_hint="en")

    before, after = Work("job 1"), Work("job 2")
    # In arrival order: a turn, an action, a turn, an action (four runs).
    tasks = [
        asyncio.create_task(core.handle(said("first words", 1))), act(core, conversation, before),
        asyncio.create_task(core.handle(said("second words", 2))), act(core, conversation, after),
    ]
    await asyncio.gather(*tasks)
    async with engine.connect() as conn:
        lines = (await conn.scalars(select(Message.text).order_by(Message.id))).all()
    assert [line for line in lines if line.endswith("words") or line.startswith("work")] == [
        "first words", "work job 1", "second words", "work job 2"]
