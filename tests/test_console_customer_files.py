"""The customer file in the console (issue 18): every chat of the customer listed, a
supervisor joins two files or splits a chat off with a reason, an admin erases personal
data; agents may not. Real HTTP against the running service, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from bot.config import Settings
from bot.core.events import Kind
from services.handoff import Role
from storage.models import AuditEntry, ChannelIdentity, Conversation, Customer
from tests.memory_channel import Chat
from tests.test_console import Browser, agent


@pytest.fixture
async def service(db_url: str, engine: AsyncEngine, tmp_path: Any) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


async def _ids(engine: AsyncEngine, user: str) -> tuple[int, int, int]:
    """(customer, identity, conversation) of a chat."""
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(ChannelIdentity.customer_id, ChannelIdentity.id, Conversation.id)
            .join(Conversation, Conversation.identity_id == ChannelIdentity.id).where(ChannelIdentity.external_id == user)
        )).one()
    return row[0], row[1], row[2]


async def test_supervisors_join_and_split_admins_erase_agents_may_not(service: Service, engine: AsyncEngine) -> None:
    await agent(engine, "ann")
    await agent(engine, "sue", Role.SUPERVISOR)
    await agent(engine, "ada", Role.ADMIN)
    telegram = Chat(service.core, engine, user_id="tg-1", channel="telegram", language="ru")
    web = Chat(service.core, engine, user_id="web-1", channel="web", language="ru")
    await telegram._send(kind=Kind.TEXT, text="hello", display_name="Zhang Wei")
    await telegram.say("/agent")
    await web.say("/start")
    tg_customer, _tg_identity, cid = await _ids(engine, "tg-1")
    web_customer, web_identity, _ = await _ids(engine, "web-1")
    ann, sue, ada = Browser(service), Browser(service), Browser(service)
    try:
        for browser, login in ((ann, "ann"), (sue, "sue"), (ada, "ada")):
            assert await browser.log_in(login) == 303
        join = {"customer": str(web_customer), "reason": "same person, phoned us"}
        assert (await ann.post(f"/console/c/{cid}/customer/join", join))[0] == 403
        assert (await sue.post(f"/console/c/{cid}/customer/join", {"customer": str(web_customer)}))[0] == 409  # no reason
        assert (await sue.post(f"/console/c/{cid}/customer/join", join))[0] == 200
        assert (await _ids(engine, "web-1"))[0] == tg_customer
        _status, page = await sue.get(f"/console/c/{cid}")
        assert f'data-identity="{web_identity}"' in page and "Split off" in page

        assert (await sue.post(f"/console/c/{cid}/customer/split", {"identity": str(web_identity), "reason": "a neighbour"}))[0] == 200
        assert (await _ids(engine, "web-1"))[0] not in (tg_customer, web_customer)

        erase = {"reason": "the customer asked by phone", "confirm": "yes"}
        assert (await sue.post(f"/console/c/{cid}/customer/erase", erase))[0] == 403  # admins only
        assert (await ada.post(f"/console/c/{cid}/customer/erase", {"reason": "asked"}))[0] == 409  # not confirmed
        assert (await ada.post(f"/console/c/{cid}/customer/erase", erase))[0] == 200
        async with engine.connect() as conn:
            assert await conn.scalar(select(Customer.display_name).where(Customer.id == tg_customer)) is None
            actions = set(await conn.scalars(select(AuditEntry.action)))
        assert {"join_files", "split_file", "erase_file"} <= actions
    finally:
        for browser in (ann, sue, ada):
            await browser.close()
