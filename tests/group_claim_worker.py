"""A worker process for the group-versus-console claim race (issue 14).

    python -m tests.group_claim_worker DATABASE_URL AGENT_ID CONVERSATION_ID[,ID...] group|console GROUP_ID

Prints "ready", waits for a line on stdin, then claims every conversation at once, either
as a member's /claim in the topic (the group router) or as the console does (`Dispatcher.act`),
with the group mirror on, and prints "<conversation> ok" or "<conversation> lost <owner id>".
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

from bot.channels.telegram_group import GroupMirror, GroupRouter
from bot.company import load_company
from bot.config import Settings
from bot.core.actions import Act, Action, ActionResult
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from handlers.router import route
from services.handoff import Actor, Role
from storage.db import create_engine


async def main(url: str, agent_id: int, conversations: list[int], side: str, group_id: str) -> None:
    engine = create_engine(url)
    company = load_company(Settings())
    core = Dispatcher(engine, company, route)
    core.mirror = GroupMirror(group_id)
    group = GroupRouter(core, cast(Any, None), engine, company, group_id)  # /claim never calls the Bot API
    async with engine.connect():
        pass  # connect before the start signal
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    actor, t = Actor(agent_id, Role.AGENT), Translator("en", company.timezone)

    async def claim(conversation: int) -> ActionResult | None:
        if side == "group":
            return await group.command(conversation, actor, t, "/claim", "")
        return await core.act(Action(conversation, Act.CLAIM, actor))

    results = await asyncio.gather(*(claim(c) for c in conversations))
    for conversation, result in zip(conversations, results):
        assert result is not None
        print(f"{conversation} ok" if result.ok else f"{conversation} lost {result.owner_id}", flush=True)
    await core.close()
    await engine.dispose()


if __name__ == "__main__":
    url, agent, ids, side, group_id = sys.argv[1:]
    asyncio.run(main(url, int(agent), [int(i) for i in ids.split(",")], side, group_id))
