"""A WeChat worker process for the cross-process retry test.

    python -m tests.wechat_worker DATABASE_URL API_BASE MEDIA_DIR

Starts a whole Service serving the WeChat endpoint (the test double's keys, its
API at API_BASE) on a free port, prints "port <n>", and stops when stdin gets a
line or closes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.app import Service
from bot.config import Settings
from tests.wechat_server import ACCOUNT, AES_KEY, APP_ID, SECRET, TOKEN


async def main(url: str, api_base: str, media: str) -> None:
    service = Service(Settings(
        database_url=url, port=0, telegram_bot_token=None, wechat_token=TOKEN, wechat_app_id=APP_ID,
        wechat_app_secret=SECRET, wechat_aes_key=AES_KEY, wechat_account=ACCOUNT, wechat_api_base=api_base,
        media_dir=Path(media),
    ))
    await service.start()
    print(f"port {service.port}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
