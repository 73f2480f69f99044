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


CONVERSATIONS = 12


@pytest.mark.slow
async def test_two_agents_in_two_processes_never_both_own_a_conversation(engine: AsyncEngine, db_url: str) -> None:
    from bot.company import load_company
    from bot.config import Settings
    from bot.core.dispatcher import Dispatcher
    from handlers.router import route
    from services.handoff import Role
    from storage.agents import add_agent
    from storage.models import Ticket, utcnow
    from tests.memory_channel import Chat

    agents = [await add_agent(engine, login=name, name=name, password_hash="x", role=Role.AGENT, now=utcnow())
              for name in ("ann", "bob")]
    core = Dispatcher(engine, load_company(Settings()), route)
    for n in range(CONVERSATIONS):
        await Chat(core, engine, user_id=f"c{n}").say("/agent")
    await core.close()
    async with engine.connect() as conn:
        ids = ",".join(str(i) for i in (await conn.scalars(select(Conversation.id).order_by(Conversation.id))).all())
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.claim_worker", db_url, str(agent), ids],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for agent in agents
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outcomes: dict[str, list[tuple[int, str]]] = {}
    for agent, worker in zip(agents, workers):
        out, _err = worker.communicate(timeout=120)
        assert worker.returncode == 0
        for line in out.split("\n"):
            if line:
                conversation, verdict, *owner = line.split()
                outcomes.setdefault(conversation, []).append((agent, owner[0] if owner else "won"))
    async with engine.connect() as conn:
        owners = dict((await conn.execute(select(Ticket.conversation_id, Ticket.assigned_agent_id))).all())
    assert len(outcomes) == CONVERSATIONS
    for conversation, pair in outcomes.items():
        winners = [agent for agent, verdict in pair if verdict == "won"]
        losers = [(agent, int(verdict)) for agent, verdict in pair if verdict != "won"]
        assert len(winners) == 1 and len(losers) == 1, pair  # exactly one owner
        assert losers[0][1] == winners[0] == owners[int(conversation)]  # the loser learns who won
