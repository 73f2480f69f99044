"""A burst of replies under Telegram's production limits, over real HTTP.

    .venv/bin/python -m bench.outbox_burst                       # 3,000 replies to 1,000 chats, SQLite
    .venv/bin/python -m bench.outbox_burst --db postgres         # TEST_POSTGRES_URL (TRUNCATEs it!)
    .venv/bin/python -m bench.outbox_burst --chats 100 --per-chat 3   # a quick run

The outbox is filled at once with `--per-chat` replies for each of `--chats` chats
(interleaved, as a burst of conversations leaves it), plus `--heavy` replies for one
more chat (a chat with a long backlog). One `OutboxSender` with the production limits
(30/s overall, 1/s and a burst of 3 per chat, 20/min per group) delivers them through
the real `TelegramTransport` to the Bot API test server (tests/telegram_server.py),
which answers 429 whenever a limit is exceeded. Reported: the average delivery rate,
429 answers, and per chat the wait for its first and its last reply (a starved chat
shows as a long first-reply wait).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bot.channels.telegram import BotAPI, TelegramTransport, make_bot
from bot.core.events import Reply
from bot.outbox import Limits, OutboxSender
from storage.db import create_engine, upgrade
from storage.models import Base, OutboxRow, utcnow
from tests.telegram_server import FakeBotAPI

PRODUCTION = Limits(per_second=30, per_chat=1, chat_burst=3, group_per_minute=20)


async def fill(engine: object, chats: int, per_chat: int, heavy: int) -> int:
    now = utcnow()
    rows = [
        {"channel": "telegram", "chat_id": str(1000 + chat), "payload": Reply(f"reply {n} to {chat}").to_payload(),
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        for n in range(per_chat) for chat in random.sample(range(chats), chats)
    ]
    rows[0:0] = [
        {"channel": "telegram", "chat_id": "999", "payload": Reply(f"backlog {n}").to_payload(),
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        for n in range(heavy)
    ]
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        for start in range(0, len(rows), 500):
            await conn.execute(insert(OutboxRow), rows[start:start + 500])
    return len(rows)


async def run(url: str, chats: int, per_chat: int, heavy: int) -> None:
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} RESTART IDENTITY CASCADE"))
    total = await fill(engine, chats, per_chat, heavy)
    async with FakeBotAPI(enforce_limits=True) as api:
        bot = make_bot(api.token, api.base_url)
        sender = OutboxSender(engine, [TelegramTransport(BotAPI(bot))], {"telegram": PRODUCTION})
        started = time.monotonic()
        running = asyncio.create_task(sender.run())
        first: dict[str, float] = {}
        last: dict[str, float] = {}
        seen = 0
        try:
            while True:
                await api.wait_until(lambda seen=seen: len(api.sent) > seen, timeout=60)  # type: ignore[misc]
                now = time.monotonic() - started
                for sent in api.sent[seen:]:
                    chat = str(sent["chat_id"])
                    first.setdefault(chat, now)
                    last[chat] = now
                seen = len(api.sent)
                if seen >= total:
                    break
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await sender.close()
            await bot.session.close()
        elapsed = max(last.values())
        async with engine.connect() as conn:
            sent_rows = await conn.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent"))
        others = [chat for chat in first if chat != "999"]
        firsts = sorted(first[c] for c in others)
        print(f"{engine.dialect.name}: {total:,} replies to {len(first):,} chats in {elapsed:.1f} s: "
              f"{total / elapsed:.1f} msg/s on average; 429 answers: {api.limiter.refused if api.limiter else '?'}; "
              f"rows confirmed sent: {sent_rows:,}")
        print(f"  first reply per chat: median {statistics.median(firsts):.1f} s, max {firsts[-1]:.1f} s "
              f"(at 30/s the last of {len(others):,} chats could start at {len(others) / 30:.1f} s)")
        print(f"  last reply per chat: max {max(last[c] for c in others):.1f} s; chats not completed: "
              f"{sum(1 for c in others if c not in last)}")
        if heavy:
            print(f"  the backlog chat ({heavy} replies): first at {first['999']:.1f} s, last at {last['999']:.1f} s")
        if api.limiter and api.limiter.refusals:
            print(f"  429 for: {', '.join(api.limiter.refusals[:10])}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--per-chat", type=int, default=3)
    parser.add_argument("--heavy", type=int, default=0, help="replies queued for one more chat, first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.db == "postgres":
        url = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        upgrade(url)
        asyncio.run(run(url, args.chats, args.per_chat, args.heavy))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'burst.db'}"
        upgrade(url)
        asyncio.run(run(url, args.chats, args.per_chat, args.heavy))


if __name__ == "__main__":
    sys.exit(main())
