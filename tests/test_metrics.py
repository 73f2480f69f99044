"""`/metrics`: scraped over real HTTP from the real Service, before and after a web-chat
conversation (issue 17): the counters move, the store's backlogs show, and a scrape
without the token is refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, update

from bot.app import Service
from bot.config import Settings
from storage.models import Job, Ticket, utcnow
from tests.test_webchat_protocol import opened

TOKEN = "metrics-token-for-the-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def service(db_url: str, engine: Any) -> AsyncIterator[Service]:
    settings = Settings(database_url=db_url, port=0, telegram_bot_token=None, metrics_token=TOKEN,
                        metrics_address=f"127.0.0.1:{free_port()}")
    running = Service(settings)
    await running.start()
    yield running
    await running.stop()


async def scrape(url: str, token: str | None = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_counters_move_with_a_conversation_and_the_backlogs_show(service: Service, engine: Any) -> None:
    url = f"http://127.0.0.1:{service.port}/metrics"
    before = await scrape(url)
    assert value(before, "aftersales_store_up") == 1
    async with opened(service) as visitor:
        await visitor.say("/start")
        await visitor.tap("Talk to a person")
        await visitor.say("Is anyone there?")
    past = utcnow() - timedelta(minutes=5)
    async with engine.begin() as conn:
        await conn.execute(insert(Job), [
            {"kind": "visit_reminder", "run_at": past, "status": "pending", "payload": {}},
            {"kind": "visit_reminder", "run_at": utcnow() + timedelta(days=1), "status": "pending", "payload": {}},
            {"kind": "survey", "run_at": past, "status": "dead", "payload": {}},
        ])
        await conn.execute(update(Ticket).values(response_breached_at=past, updated_at=past))
    await service.sender.flush()  # the sender confirms deliveries in its next transaction: now

    after = await scrape(url)
    assert value(after, "aftersales_updates_total", channel="web") - value(before, "aftersales_updates_total", channel="web") == 3
    assert value(after, "aftersales_turns_total", channel="web") - value(before, "aftersales_turns_total", channel="web") == 3
    assert value(after, "aftersales_turn_seconds_count", channel="web") - value(before, "aftersales_turn_seconds_count", channel="web") == 3
    assert value(after, "aftersales_sends_total", channel="web", result="sent") > value(before, "aftersales_sends_total", channel="web", result="sent")
    assert value(after, "aftersales_queue_length") == 1
    assert value(after, "aftersales_queue_oldest_wait_seconds") >= 290
    assert value(after, "aftersales_sla_breaches") == 1
    assert value(after, "aftersales_jobs_due") == 1 and value(after, "aftersales_jobs_dead") == 1
    assert value(after, "aftersales_outbox_backlog", channel="web") == 0  # every reply went out
    # The admin address serves the same registry without a token.
    admin = await scrape(f"http://{service.settings.metrics_address}/metrics", token=None)
    assert value(admin, "aftersales_turns_total", channel="web") == value(after, "aftersales_turns_total", channel="web")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_scrape_without_the_right_token_is_refused(service: Service) -> None:
    url = f"http://127.0.0.1:{service.port}/metrics"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            async with http.get(url, headers=headers) as response:
                assert response.status == 401
                assert "aftersales_" not in await response.text()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_without_a_token_the_service_port_has_no_metrics(db_url: str, engine: Any) -> None:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None))
    await running.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{running.port}/metrics") as response:
            assert response.status == 404
    finally:
        await running.stop()
