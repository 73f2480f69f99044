"""Issue 9 on Telegram, end to end against the Bot API test server: only the sender's own
contact card proves a phone; the webhook cuts a flooding chat to its limit and never
has Telegram retry an update for ever."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from bot.app import Service
from bot.channels.telegram_guard import TOO_FAST
from bot.i18n import Translator
from storage.models import Customer as CustomerRow
from storage.models import Message, Product, ProductClaim, utcnow
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import USER, Customer, free_port, settings

RECORDED = "+8613800138000"


async def test_regression_another_users_contact_card_is_not_proof(service: Service, api: FakeBotAPI, engine: Any) -> None:
    async with engine.begin() as conn:
        product = await conn.scalar(insert(Product).values(
            serial="HA2403000123", product_line="household_ac", model="KFR-35GW", invoice_date=date(2025, 3, 8),
            manufactured=date(2024, 3, 1), customer_phone=RECORDED, created_at=utcnow(), updated_at=utcnow(),
        ).returning(Product.id))
    intruder = Customer(api, engine)
    await intruder.say("/start")
    await intruder.tap("warranty")
    assert "share the phone number" in await intruder.say("HA2403000123")
    # The owner's card, forwarded by the intruder: the right number, but not theirs.
    answer = await intruder.say(contact_phone=RECORDED.lstrip("+"), contact_user_id=USER + 1)
    assert "a person will confirm that it is yours" in answer and "invoice date" not in answer
    async with engine.connect() as conn:
        assert await conn.scalar(select(Product.customer_id).where(Product.id == product)) is None
        assert await conn.scalar(select(CustomerRow.verified_phone)) is None
        assert (await conn.execute(select(ProductClaim.phone_matches, ProductClaim.status))).one() == (True, "pending")

    owner = Customer(api, engine, user_id=USER + 1)
    await owner.say("/start")
    await owner.tap("warranty")
    await owner.say("HA2403000123")
    answer = await owner.say(contact_phone=RECORDED.lstrip("+"))  # their own card
    assert "Warranty of" in answer and "invoice date" in answer
    async with engine.connect() as conn:
        linked = await conn.scalar(select(CustomerRow.verified_phone).join(Product, Product.customer_id == CustomerRow.id))
    assert linked == RECORDED


# --- the webhook: floods and updates that cannot be processed ----------------------------------

SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token-long-enough-for-telegram-0123"}


@asynccontextmanager
async def webhook_service(db_url: str, api: FakeBotAPI, **extra: Any) -> AsyncIterator[tuple[Service, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    running = Service(settings(db_url, api, port=port, webhook_url=url, webhook_secret="s3cret-token-long-enough-for-telegram-0123", **extra))
    await running.start()
    try:
        yield running, url
    finally:
        await running.stop()


def update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "X", "language_code": "ru"}, "text": text,
    }}


async def inbound(engine: Any) -> list[str]:
    async with engine.connect() as conn:
        return list(await conn.scalars(select(Message.text).where(Message.direction == "in").order_by(Message.id)))


async def test_a_chat_flooding_the_webhook_is_cut_to_its_limit(db_url: str, engine: Any, api: FakeBotAPI) -> None:
    # A rate this small refills nothing during the test: exactly the burst gets through.
    async with webhook_service(db_url, api, rate_telegram_chat=1e-9, rate_telegram_burst=5) as (_running, url):
        async with aiohttp.ClientSession() as http:
            for number in range(1, 41):
                async with http.post(url, json=update(1000 + number, 7, f"flood {number}"), headers=SECRET) as response:
                    assert response.status == 200  # acknowledged: Telegram must not redeliver
            async with http.post(url, json=update(2000, 8, "/start"), headers=SECRET) as response:
                assert response.status == 200  # another chat is not affected
        assert await inbound(engine) == [f"flood {n}" for n in range(1, 6)] + ["/start"]
        polite = Translator("ru", "Asia/Shanghai")._(TOO_FAST)
        await api.wait_until(lambda: any(s["text"] == polite for s in api.sent_to(7)), timeout=10)
        assert [s["text"] for s in api.sent_to(7)].count(polite) == 1  # told once, not 35 times


@pytest.mark.parametrize("text", ["bad \ud800 surrogate", "nul \x00 byte"])
async def test_regression_unstorable_text_on_the_webhook_is_stored_clean(db_url: str, engine: Any, api: FakeBotAPI, text: str) -> None:
    """Issue 9.5: a lone surrogate answered 500 on every redelivery; NUL never stored on PostgreSQL."""
    async with webhook_service(db_url, api) as (_running, url), aiohttp.ClientSession() as http:
        body = json.dumps(update(3000, 9, text))  # ensure_ascii: "\ud800" travels as an escape, like Telegram's
        async with http.post(url, data=body, headers={**SECRET, "Content-Type": "application/json"}) as response:
            assert response.status == 200
        assert await inbound(engine) == [text.replace("\ud800", "").replace("\x00", "")]


async def test_an_update_that_cannot_be_processed_is_acknowledged_and_logged_once(
    db_url: str, engine: Any, api: FakeBotAPI, caplog: pytest.LogCaptureFixture,
) -> None:
    async with webhook_service(db_url, api) as (running, url), aiohttp.ClientSession() as http:
        failures: list[Exception] = [ValueError("poison"), OperationalError("select", {}, Exception("db down"))]

        async def failing(event: Any) -> None:
            raise failures.pop(0)

        running.core.handle = failing  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO):
            async with http.post(url, json=update(4000, 10, "hi"), headers=SECRET) as response:
                assert response.status == 200  # a poison update: not retried for ever
            async with http.post(url, json=update(4001, 10, "hi"), headers=SECRET) as response:
                assert response.status == 500  # the store is down: Telegram redelivers later
        dropped = [r for r in caplog.records if "cannot be processed" in r.getMessage()]
        assert len(dropped) == 1 and dropped[0].exc_info is None and "4000" in dropped[0].getMessage()
