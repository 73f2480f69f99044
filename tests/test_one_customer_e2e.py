"""Issue 18 end to end through the real channels: a customer reports a repair on Telegram
(aiogram against the Bot API test server), links the web chat (a real WebSocket) with a
one-time code, sees the Telegram ticket under "my tickets" there, and an agent's reply
from the console (real HTTP) reaches the web chat, where the customer wrote last."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Service
from storage.models import Conversation
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer, settings
from tests.test_console import Browser as Console
from tests.test_console import agent
from tests.test_telegram_e2e import NUMBER
from tests.test_webchat_protocol import opened

CODE = re.compile(r"/link ([A-Z0-9]{4}-[A-Z0-9]{4})")


@pytest.fixture
def db_url(postgres_url: str) -> str:
    """PostgreSQL only: the store of several workers (the joins and erasure run on both in test_customer_files)."""
    return postgres_url


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI, tmp_path: Any) -> AsyncIterator[Service]:
    running = Service(settings(db_url, api, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


async def test_telegram_then_the_web_chat_one_file_and_the_reply_where_they_wrote_last(
    service: Service, api: FakeBotAPI, engine: Any,
) -> None:
    customer = Customer(api, engine)
    await customer.say("/start")
    await customer.tap("🛠")
    await customer.tap_first()  # product line
    await customer.tap_first()  # model
    await customer.say("HA2403000123")
    await customer.say("Water drips from the indoor unit")
    await customer.tap("Skip")  # no photo
    await customer.say(location=(31.2304, 121.4737))
    await customer.say(contact_phone="8613800138000")
    number = NUMBER.search(await customer.tap("✅ Submit"))
    assert number
    code = CODE.search(await customer.say("/link"))
    assert code

    async with opened(service) as web:
        assert number.group(0) not in await web.say("/tickets")  # a stranger, until linked
        assert "now joined to your customer file" in await web.say(f"/link {code.group(1)}")
        await api.wait_until(lambda: any("joined to your customer file" in s.get("text", "")
                                         for s in api.sent_to(customer.user_id)), timeout=10)
        assert number.group(0) in await web.say("/tickets")

        # The customer asks for a person on Telegram, then writes from the web site.
        assert "Which request" in await customer.say("/agent")
        await customer.tap(number.group(0))
        await web.say("I am on your web site now")
        async with engine.connect() as conn:
            waiting = int(await conn.scalar(select(Conversation.id).where(Conversation.mode == "queued")))
        await agent(engine, "ann", name="Ann")
        console = Console(service)
        try:
            assert await console.log_in("ann") == 303
            assert (await console.post(f"/console/c/{waiting}/claim"))[0] == 200
            _status, page = await console.get(f"/console/c/{waiting}")
            assert "telegram" in page and "web" in page  # the file lists both chats
            sent_before = len(api.sent_to(customer.user_id))
            assert (await console.post(f"/console/c/{waiting}/reply", {"text": "Ann here: I see both of your chats"}))[0] == 200
        finally:
            await console.close()
        assert web.ws is not None
        while True:  # the claim notice, then the reply: both where the customer wrote last
            frame = await web.ws.receive_json(timeout=10)
            if frame.get("type") == "reply" and frame["text"] == "Ann here: I see both of your chats":
                break
        assert all("Ann here" not in s.get("text", "") for s in api.sent_to(customer.user_id)[sent_before:])
