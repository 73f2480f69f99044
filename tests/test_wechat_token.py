"""WeChat's access token: one component owns it, the workers share it through the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.channels.wechat import API
from bot.outbox import Temporary
from storage.models import utcnow
from tests.wechat_server import APP_ID, SECRET, WeChatAPI


@pytest.fixture
async def double() -> AsyncIterator[WeChatAPI]:
    server = WeChatAPI()
    await server.start()
    yield server
    await server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_workers_share_one_token_and_refresh_it_before_it_expires(engine: Any, double: WeChatAPI) -> None:
    clock = Clock()
    workers = [API(double.base, APP_ID, SECRET, engine, clock) for _ in range(3)]
    try:
        tokens = await asyncio.gather(*(worker.token() for worker in workers))
        assert set(tokens) == {"token-1"} and double.tokens_issued == 1
        # Each worker sends with it: none knocked the others' token out.
        await asyncio.gather(*(worker.send_text(f"o{n}", "hi") for n, worker in enumerate(workers)))
        assert len(double.sent) == 3
        clock.now += timedelta(seconds=7200 - 299)  # within 5 minutes of expiry
        assert await workers[0].token() == "token-2"
        assert await workers[1].token() == "token-2" and double.tokens_issued == 2
    finally:
        for worker in workers:
            await worker.close()


async def test_a_refused_token_is_replaced_once(engine: Any, double: WeChatAPI) -> None:
    clock = Clock()
    first, second = API(double.base, APP_ID, SECRET, engine, clock), API(double.base, APP_ID, SECRET, engine, clock)
    try:
        await first.token()
        await second.token()
        double.valid_tokens.clear()  # revoked on WeChat's side
        with pytest.raises(Temporary):
            await first.send_text("o1", "hi")
        with pytest.raises(Temporary):
            await second.send_text("o1", "hi")
        await first.send_text("o1", "again")
        await second.send_text("o1", "again")
        assert double.tokens_issued == 2 and len(double.sent) == 2
    finally:
        await first.close()
        await second.close()


async def test_the_store_is_not_held_while_a_token_is_fetched(engine: Any, double: WeChatAPI) -> None:
    """A slow token call must not stop the process's turns (on SQLite one connection serves them all)."""
    double.token_gate = asyncio.Event()
    worker, other = API(double.base, APP_ID, SECRET, engine, Clock()), API(double.base, APP_ID, SECRET, engine, Clock())
    try:
        fetching = asyncio.create_task(worker.token())
        waiting = asyncio.create_task(other.token())  # waits for the first one's token, fetches none itself
        await asyncio.sleep(0.2)
        async with asyncio.timeout(2.0):  # a write meanwhile is not held up by the HTTP call
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE wechat_tokens SET app_id = app_id"))
        assert not fetching.done()
        double.token_gate.set()
        assert await fetching == await waiting == "token-1" and double.tokens_issued == 1
    finally:
        await worker.close()
        await other.close()
