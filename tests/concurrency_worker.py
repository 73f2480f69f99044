"""A worker process for the cross-process serialisation test.

    python -m tests.concurrency_worker DATABASE_URL USER_ID COUNT TAG

Prints "ready" once set up, waits for a line on stdin, then feeds COUNT events
for one conversation through its own Dispatcher, all at once (so they batch). The flow
increments a counter in the conversation's slots and answers with the value
it read: with correct serialisation every value appears exactly once.
"""

from __future__ import annotations

import asyncio
import sys

from bot.company import load_company
from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.core.events import Event, Kind
from bot.core.turn import Turn
from storage.db import create_engine


async def count(turn: Turn) -> None:
    n = turn.slots.get("n", 0) + 1
    turn.slots = {**turn.slots, "n": n}
    await asyncio.sleep(0)  # give another task a chance to interleave, were it allowed to
    turn.say(str(n))


async def main(url: str, user: str, total: int, tag: str) -> None:
    engine = create_engine(url)
    core = Dispatcher(engine, load_company(Settings()), count, max_batch=7)
    async with engine.connect():
        pass  # connect before the start signal
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    events = [
        Event(channel="memory", user_id=user, chat_id=user, kind=Kind.TEXT, text="+1", delivery_id=f"{tag}-{i}")
        for i in range(total)
    ]
    await asyncio.gather(*(core.handle(e) for e in events))
    await core.close()
    await engine.dispose()


if __name__ == "__main__":
    url, user, total, tag = sys.argv[1:]
    asyncio.run(main(url, user, int(total), tag))
