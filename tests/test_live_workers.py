"""Two workers on one PostgreSQL: the visitor's web chat on one, the agent's console
on the other; LISTEN/NOTIFY carries the news both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from bot.config import Settings
from tests.test_console import Browser as Agent
from tests.test_console import agent, waiting_conversation  # noqa: F401 - helpers
from tests.test_webchat_protocol import opened


@pytest.fixture
async def workers(postgres_url: str) -> AsyncIterator[tuple[Service, Service]]:
    from storage.db import create_engine
    from tests.conftest import empty_tables

    engine = create_engine(postgres_url)
    await empty_tables(engine)
    await engine.dispose()
    pair = [Service(Settings(database_url=postgres_url, port=0, telegram_bot_token=None)) for _ in range(2)]
    for worker in pair:
        await worker.start()
    yield pair[0], pair[1]
    for worker in pair:
        await worker.stop()


async def next_change(stream: Any) -> bytes:
    while True:
        line = await asyncio.wait_for(stream.content.readline(), 10)
        if line.startswith(b"data: ["):
            return line


async def drain(stream: Any) -> None:
    """Read what the stream has until it is quiet for half a second."""
    while True:
        try:
            await asyncio.wait_for(stream.content.readline(), 0.5)
        except TimeoutError:
            return


async def test_a_web_visitor_on_one_worker_and_an_agent_on_another(workers: tuple[Service, Service]) -> None:
    console, chat = workers
    engine: AsyncEngine = console.engine
    await agent(engine, "ann", name="Ann")
    ann = Agent(console)
    try:
        assert await ann.log_in("ann") == 303
        async with ann.http.get(ann.base + "/console/events") as stream, opened(chat, "ru-RU") as visitor:
            assert (await stream.content.readline()).startswith(b"event: ready")
            assert "1" in await visitor.say("оператор")  # queued on the chat's worker
            await next_change(stream)  # ... heard by the console's worker
            _status, rows = await ann.get("/console/queue")
            cid = int(rows.split('data-conversation="')[1].split('"')[0])
            assert (await ann.post(f"/console/c/{cid}/claim"))[0] == 200
            joined = await visitor.ws.receive_json(timeout=10)  # sent by the console's worker, through the other
            assert "Ann" in joined["text"]
            assert (await ann.post(f"/console/c/{cid}/reply", {"text": "Здравствуйте! Чем помочь?"}))[0] == 200
            assert (await visitor.ws.receive_json(timeout=10))["text"] == "Здравствуйте! Чем помочь?"
            await drain(stream)  # the news of the claim and the reply
            await visitor.ws.send_json({"type": "text", "text": "Кондиционер не греет", "id": "x1"})
            ack = await visitor.ws.receive_json(timeout=10)  # and no answer from the bot (nor its typing line)
            assert (ack["type"], ack["id"]) == ("ack", "x1")
            assert str(cid).encode() in await next_change(stream)  # the console's worker hears of it
            _status, transcript = await ann.get(f"/console/c/{cid}/transcript")
            assert "Кондиционер не греет" in transcript
    finally:
        await ann.close()
