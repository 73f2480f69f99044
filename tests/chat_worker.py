"""A second worker process for the cross-process browser test.

    python -m tests.chat_worker DATABASE_URL

Starts a whole Service (web chat, console, outbox, LISTEN/NOTIFY) on a free port,
prints "port <n>", and stops when stdin closes or gets a line.
"""

from __future__ import annotations

import asyncio
import sys

from bot.app import Service
from bot.config import Settings


async def main(url: str) -> None:
    service = Service(Settings(database_url=url, port=0, telegram_bot_token=None))
    await service.start()
    print(f"port {service.port}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
