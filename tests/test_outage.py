"""A real store outage: PostgreSQL reached through a TCP proxy that the test cuts
for a few seconds, then restores (issue 8, items 1 and 2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from bot.core.events import Reply
from bot.supervisor import Supervisor
from storage.db import create_engine
from storage.models import Message, OutboxRow, utcnow
from tests.conftest import empty_tables
from tests.tcp_proxy import TcpProxy
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import eventually, settings

USER = 4343


@pytest.fixture
async def direct(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine that does not go through the proxy: the test's own view of the store."""
    engine = create_engine(postgres_url)
    await empty_tables(engine)
    yield engine
    await engine.dispose()


async def health(service: Service) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{service.port}/healthz") as response:
        return response.status, await response.json()


async def test_a_database_outage_stops_nothing_for_good(postgres_url: str, direct: AsyncEngine) -> None:
    """Regression: with PostgreSQL unreachable for a few seconds the reply sender died
    for good (its lease recovery ran outside the `try`), long polling confirmed updates
    it had failed to store, and /healthz still said ok."""
    url = make_url(postgres_url)
    async with FakeBotAPI() as api, TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        # A short lease: the sender's recovery pass runs every half second, so during the outage too.
        service = Service(settings(through_proxy, api, outbox_lease=1.5))
        await service.start()
        try:
            await api.wait_until(lambda: any(m == "getUpdates" for m, _ in api.requests), timeout=10)
            assert (await health(service))[0] == 200

            proxy.cut()
            api.user_message(USER, "/start")  # arrives during the outage

            async def not_ready() -> bool:
                status, body = await health(service)
                return status == 503 and any("store" in problem for problem in body["problems"])

            assert await eventually(not_ready, True, timeout=15)
            assert await eventually(lambda: _true(service.sender.store_error is not None), True, timeout=15)
            # A reply queued meanwhile by another worker (written past the proxy).
            async with direct.begin() as conn:
                await conn.execute(insert(OutboxRow).values(
                    channel="telegram", chat_id="777", payload=Reply("queued during the outage").to_payload(),
                    status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
                ))
            refused = proxy.refused
            assert await eventually(lambda: _true(proxy.refused >= refused + 3), True, timeout=15)  # still trying
            assert not api.sent  # nothing could be stored, so nothing was answered

            proxy.restore()
            await api.wait_until(lambda: api.sent_to(777) and api.sent_to(USER), timeout=30)

            async def ready() -> int:
                return (await health(service))[0]

            assert await eventually(ready, 200, timeout=15)
            assert not api.pending_updates  # confirmed, now that it is stored
        finally:
            await service.stop()
        async with direct.connect() as conn:
            inbound = await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
            statuses = list(await conn.scalars(select(OutboxRow.status).order_by(OutboxRow.id)))
        assert inbound == 1  # the update sent during the outage: stored once
        assert statuses == ["sent", "sent"]
        assert [s["text"] for s in api.sent_to(777)] == ["queued during the outage"]
        assert len([s for s in api.sent_to(USER) if s["method"] == "sendMessage"]) == 1


async def _true(value: bool) -> bool:
    return value


async def test_a_loop_that_dies_is_restarted_and_reported() -> None:
    runs: list[int] = []
    resume = asyncio.Event()

    async def fragile() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the network went away")
        await resume.wait()

    supervisor = Supervisor(base=0.01, cap=0.05)
    supervisor.start("fragile", fragile)
    try:
        async with asyncio.timeout(5):
            while len(runs) < 2:
                await asyncio.sleep(0.01)
        state = supervisor.loops["fragile"]
        assert state.running and state.restarts == 1 and "network went away" in (state.last_error or "")
        assert supervisor.problems() == []
    finally:
        await supervisor.stop()
    assert supervisor.problems() == []


async def test_healthz_is_not_ready_while_a_due_reply_waits_too_long(sqlite_url: str) -> None:
    from datetime import timedelta

    from bot.config import Settings

    service = Service(Settings(database_url=sqlite_url, port=0, health_outbox_max_age=60))
    await service.start()
    try:
        assert (await health(service))[0] == 200
        async with service.engine.begin() as conn:  # a reply for a channel no worker here serves
            await conn.execute(insert(OutboxRow).values(
                channel="wechat", chat_id="1", payload=Reply("hello").to_payload(), status="pending", attempts=0,
                next_attempt_at=utcnow() - timedelta(minutes=10), created_at=utcnow(),
            ))
        status, body = await health(service)
        assert status == 503 and body["problems"] == ["outbox: a due reply has waited 600 s"], body
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{service.port}/livez") as response:
            assert response.status == 200
    finally:
        await service.stop()
