"""A WeChat customer and an agent in the console, over real HTTP both ways: the pushes
signed and encrypted as WeChat sends them, the agent's replies out through the
customer-service API of the double (which keeps WeChat's window: 48 hours, 5
messages a customer message), the window shown to the agent, a reply beyond it
waiting on the request with the reason shown, or sent as a template message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.app import Service
from bot.config import Settings
from services.handoff import Role
from services.wechat_window import CAP
from storage.models import Conversation, Message, OutboxRow, utcnow
from tests.test_console import Browser, agent
from tests.test_wechat import JPEG, Follower
from tests.wechat_server import ACCOUNT, AES_KEY, APP_ID, SECRET, TOKEN, WeChatAPI, WeChatPusher

OPENID = "oCustomer_0001"


@pytest.fixture
async def api() -> AsyncIterator[WeChatAPI]:
    double = WeChatAPI()
    await double.start()
    yield double
    await double.stop()


async def started(db_url: str, api: WeChatAPI, media: Any, template: str | None = None) -> Service:
    service = Service(Settings(
        database_url=db_url, port=0, telegram_bot_token=None, wechat_token=TOKEN, wechat_app_id=APP_ID,
        wechat_app_secret=SECRET, wechat_aes_key=AES_KEY, wechat_account=ACCOUNT, wechat_api_base=api.base,
        media_dir=media, wechat_template_id=template, wechat_template_field="thing1",
    ))
    await service.start()
    return service


class Desk:
    """The running service, a WeChat follower and an agent's browser logged in to the console."""

    def __init__(self, service: Service, api: WeChatAPI) -> None:
        self.service, self.api = service, api
        self.pusher = WeChatPusher(f"http://127.0.0.1:{service.port}/wechat", api=api)
        self.follower = Follower(self.pusher, OPENID)
        self.browser = Browser(service)
        self.conversation = 0

    async def close(self) -> None:
        await self.pusher.close()
        await self.browser.close()

    async def open(self) -> None:
        """The customer asks for a person; the agent logs in and claims them."""
        await agent(self.service.engine, "wang", Role.AGENT, name="Wang")
        await self.follower.say("你好")
        await self.follower.send(MsgType="event", Event="CLICK", EventKey="menu:person")
        async with self.service.engine.connect() as conn:
            self.conversation = int(await conn.scalar(select(Conversation.id).where(Conversation.mode == "queued")))
        assert await self.browser.log_in("wang") == 303
        assert (await self.act("claim"))[0] == 200
        await self.api.wait_sent(1)  # "Wang from our service team has joined ..."
        await self.confirmed()

    async def confirmed(self) -> None:
        """Until the sender has recorded what it sent (the window counts what is recorded)."""
        await until(lambda: self._all_recorded())

    async def _all_recorded(self) -> bool:
        return all(status in ("sent", "failed") or error for status, error in await self.outbox())

    async def act(self, name: str, **form: Any) -> tuple[int, str]:
        return await self.browser.post(f"/console/c/{self.conversation}/{name}", form)

    async def page(self) -> str:
        status, page = await self.browser.get(f"/console/c/{self.conversation}")
        assert status == 200
        return page

    async def outbox(self) -> list[tuple[str, str | None]]:
        async with self.service.engine.connect() as conn:
            rows = (await conn.execute(select(OutboxRow.status, OutboxRow.error).order_by(OutboxRow.id))).all()
        return [(row[0], row[1]) for row in rows]


@pytest.fixture
async def desk(db_url: str, engine: Any, api: WeChatAPI, tmp_path: Any) -> AsyncIterator[Desk]:
    service = await started(db_url, api, tmp_path / "media")
    opened = Desk(service, api)
    yield opened
    await opened.close()
    await service.stop()


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.02)
    return found


def texts(api: WeChatAPI) -> list[str]:
    return [m["text"]["content"] for m in api.sent if m["msgtype"] == "text"]


async def test_an_agent_and_a_wechat_customer_talk_both_ways(desk: Desk, api: WeChatAPI) -> None:
    await desk.open()
    page = await desk.page()
    # The claim notice was one customer-service message of the window's 5.
    assert "WeChat: the window stays open 47:59 more (hours:minutes); 4 messages can still be sent." in page
    assert (await desk.act("reply", text="您好，我是王，请问空调是什么型号？"))[0] == 200
    await api.wait_sent(2)
    assert api.sent[-1] == {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，我是王，请问空调是什么型号？"}}
    # The customer answers on WeChat: the agent reads it in the console; the bot stays silent.
    assert await desk.follower.say("KFR-35GW，室内机漏水") == ""
    _status, transcript = await desk.browser.get(f"/console/c/{desk.conversation}/transcript")
    assert "KFR-35GW，室内机漏水" in transcript
    # Their message started the window again: 5 messages (it does not add up).
    assert f"{CAP} messages can still be sent" in transcript


async def test_a_reply_beyond_the_cap_waits_and_the_agent_sees_why(desk: Desk, api: WeChatAPI) -> None:
    await desk.open()
    await desk.follower.say("还在吗？")  # the window opens again: 5 messages
    for number in range(CAP):
        assert (await desk.act("reply", text=f"回复 {number}"))[0] == 200
    await api.wait_sent(1 + CAP)
    await desk.confirmed()
    assert "WeChat: the 5 messages allowed since the customer last wrote have been sent." in await desk.page()
    assert (await desk.act("reply", text="第六条"))[0] == 200  # WeChat refuses it (45047)
    waiting = await until(lambda: _waiting(desk))
    assert waiting[0].startswith("wechat-window: 45047")
    page = await desk.page()
    assert "Waiting: WeChat&#39;s window is closed; it goes when the customer writes again." in page
    assert "Your replies wait on the request and go when the customer writes again." in page
    assert "第六条" not in texts(api)
    # They write: the reply that waited goes, here within the answer to their push.
    assert "第六条" in await desk.follower.say("好的")
    assert await _waiting(desk) == []


async def test_beyond_48_hours_a_reply_waits_and_goes_when_the_customer_writes(desk: Desk, api: WeChatAPI) -> None:
    await desk.open()
    await _wrote_hours_ago(desk, 49)
    page = await desk.page()
    assert "WeChat: the 48-hour window closed at" in page and "Your replies wait on the request" in page
    assert (await desk.act("reply", text="您的配件到了"))[0] == 200
    assert (await until(lambda: _waiting(desk)))[0].startswith("wechat-window: 45015")
    assert "您的配件到了" not in texts(api)
    assert "您的配件到了" in await desk.follower.say("我回来了")


async def test_beyond_the_window_a_template_message_where_configured(
    db_url: str, engine: Any, api: WeChatAPI, tmp_path: Any,
) -> None:
    service = await started(db_url, api, tmp_path / "media", template="TPL-service-update")
    desk = Desk(service, api)
    try:
        await desk.open()
        await _wrote_hours_ago(desk, 49)
        assert "Your replies go as a template message, which WeChat delivers outside the window." in await desk.page()
        assert (await desk.act("reply", text="您的配件到了，明天上门安装。"))[0] == 200
        await until(lambda: _async(api.templates))
        await desk.confirmed()
        assert api.templates == [{"touser": OPENID, "template_id": "TPL-service-update",
                                  "data": {"thing1": {"value": "您的配件到了，明天上门安装。"}}}]
        _status, transcript = await desk.browser.get(f"/console/c/{desk.conversation}/transcript")
        assert "sent as a template message" in transcript
    finally:
        await desk.close()
        await service.stop()


async def test_an_agents_photo_is_uploaded_and_sent_as_an_image(desk: Desk, api: WeChatAPI) -> None:
    await desk.open()
    form = aiohttp.FormData()
    form.add_field("text", "安装位置示意")
    form.add_field("file", JPEG, filename="place.jpg", content_type="image/jpeg")
    async with desk.browser.http.post(
        f"{desk.browser.base}/console/c/{desk.conversation}/file", data=form,
        headers={"X-CSRF-Token": desk.browser.csrf, "X-Requested-With": "fetch"},
    ) as response:
        assert response.status == 200, await response.text()
    await api.wait_sent(3)
    assert api.uploads == [("image", JPEG)]
    assert api.sent[-2]["text"]["content"] == "安装位置示意"
    assert api.sent[-1] == {"touser": OPENID, "msgtype": "image", "image": {"media_id": "up0001"}}


async def _waiting(desk: Desk) -> list[str]:
    return [error for status, error in await desk.outbox() if status == "pending" and error]


async def _async(value: Any) -> Any:
    return value


async def _wrote_hours_ago(desk: Desk, hours: int) -> None:
    """The customer last wrote `hours` ago (in the store, and on WeChat's clock)."""
    async with desk.service.engine.begin() as conn:
        await conn.execute(update(Message).where(Message.direction == "in")
                           .values(created_at=utcnow() - timedelta(hours=hours)))
    desk.api.windows[OPENID] = (time.time() - hours * 3600, 0)
