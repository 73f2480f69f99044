"""Issue 9 on Telegram, end to end against the Bot API test server: only the sender's own
contact card proves a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.app import Service
from storage.models import Customer as CustomerRow
from storage.models import Product, ProductClaim, utcnow
from tests.telegram_server import FakeBotAPI
from tests.test_telegram_e2e import USER, Customer, settings

RECORDED = "+8613800138000"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI) -> AsyncIterator[Service]:
    running = Service(settings(db_url, api))
    await running.start()
    yield running
    await running.stop()


async def test_regression_another_users_contact_card_is_not_proof(service: Service, api: FakeBotAPI, engine: Any) -> None:
    async with engine.begin() as conn:
        product = await conn.scalar(insert(Product).values(
            serial="HA2403000123", product_line="household_ac", model="KFR-35GW", invoice_date=date(2025, 3, 8),
            manufactured=date(2024, 3, 1), customer_phone=RECORDED, created_at=utcnow(), updated_at=utcnow(),
        ).returning(Product.id))
    intruder = Customer(api)
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

    owner = Customer(api, user_id=USER + 1)
    await owner.say("/start")
    await owner.tap("warranty")
    await owner.say("HA2403000123")
    answer = await owner.say(contact_phone=RECORDED.lstrip("+"))  # their own card
    assert "Warranty of" in answer and "invoice date" in answer
    async with engine.connect() as conn:
        linked = await conn.scalar(select(CustomerRow.verified_phone).join(Product, Product.customer_id == CustomerRow.id))
    assert linked == RECORDED
