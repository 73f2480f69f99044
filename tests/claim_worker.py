"""A worker process for the concurrent claim test.

    python -m tests.claim_worker DATABASE_URL AGENT_ID CONVERSATION_ID[,ID...]

Prints "ready", waits for a line on stdin, then claims every conversation at once
through its own Dispatcher and prints one line per conversation:
"<conversation> ok" or "<conversation> lost <owner id>".
"""

from __future__ import annotations

import asyncio
import sys

from bot.company import load_company
from bot.config import Settings
from bot.core.actions import Act, Action
from bot.core.dispatcher import Dispatcher
from handlers.router import route
from services.handoff import Actor, Role
from storage.db import create_engine


async def main(url: str, agent_id: int, conversations: list[int]) -> None:
    engine = create_engine(url)
    core = Dispatcher(engine, load_company(Settings()), route)
    async with engine.connect():
        pass  # connect before the start signal
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    actor = Actor(agent_id, Role.AGENT)
    results = await asyncio.gather(*(core.act(Action(c, Act.CLAIM, actor)) for c in conversations))
    for conversation, result in zip(conversations, results):
        print(f"{conversation} ok" if result.ok else f"{conversation} lost {result.owner_id}", flush=True)
    await core.close()
    await engine.dispose()


if __name__ == "__main__":
    url, agent, ids = sys.argv[1:]
    asyncio.run(main(url, int(agent), [int(i) for i in ids.split(",")]))
