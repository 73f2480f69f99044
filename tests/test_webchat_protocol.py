"""The web chat's WebSocket protocol, spoken by a real HTTP client against the
real Service: the flows in every language, bad frames, reconnects."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from yarl import URL

from bot.app import Service
from bot.config import Settings
from bot.i18n import Translator
from handlers.complaint import CATEGORIES, COMPLAINT
from handlers.menu import ENTRIES, GREETING
from handlers.repair import REPAIR
from storage import web_sessions
from storage.models import Message, OutboxRow, Ticket

LOCALES = {"en": "en-US", "ru": "ru-RU", "ka": "ka-GE", "zh_Hans": "zh-CN", "zh_Hant": "zh-TW"}


@pytest.fixture
async def service(db_url: str, engine: Any) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None))
    await running.start()
    yield running
    await running.stop()


class Browser:
    """A visitor: the cookie from the page, then the WebSocket."""

    def __init__(self, service: Service, accept_language: str = "en-US") -> None:
        self.service = service
        self.base = f"http://127.0.0.1:{service.port}"
        self.accept_language = accept_language
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.replies: list[dict[str, Any]] = []
        self.hello: dict[str, Any] = {}

    async def open(self) -> None:
        headers = {"Accept-Language": self.accept_language}
        async with self.http.get(self.base + "/", headers=headers) as page:
            assert page.status == 200
        self.ws = await self.http.ws_connect(self.base + "/ws", headers=headers)
        self.hello = await self.ws.receive_json(timeout=10)
        assert self.hello["type"] == "hello"
        self.seen = {item["id"] for item in self.hello["history"] if item["type"] == "reply"}
        self.visitor = await self.visitor_id()
        self.baseline = max(await self._sent(), default=0)

    async def visitor_id(self) -> str:
        token = self.http.cookie_jar.filter_cookies(URL(self.base))["visitor"].value
        session = await web_sessions.find(self.service.engine, token, datetime.now(UTC))
        assert session is not None
        return session.visitor

    async def _sent(self) -> set[int]:
        """Ids of the server's messages to this visitor (each reaches the socket as one frame)."""
        async with self.service.engine.connect() as conn:
            rows = await conn.scalars(select(OutboxRow.id).where(OutboxRow.channel == "web", OutboxRow.chat_id == self.visitor))
            return set(rows)

    async def close(self) -> None:
        if self.ws:
            await self.ws.close()
        await self.http.close()

    async def send(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a frame; the frames up to its ack (or error), and then until every message the
        server wrote to this visitor by then has arrived (a condition, not a quiet period)."""
        assert self.ws is not None
        frame.setdefault("id", uuid.uuid4().hex)
        await self.ws.send_json(frame)
        got: list[dict[str, Any]] = []
        expected: set[int] | None = None
        while expected is None or not expected <= self.seen:
            message = await self.ws.receive_json(timeout=10)
            if message["type"] == "ack" and message["id"] == frame["id"]:
                expected = {i for i in await self._sent() if i > self.baseline}
            elif message["type"] == "error" and message["id"] == frame["id"]:
                got.append(message)
                expected = {i for i in await self._sent() if i > self.baseline}
            elif message["type"] in ("reply", "error"):
                self.seen.add(message.get("id"))
                got.append(message)
        self.replies += [m for m in got if m["type"] == "reply"]
        return got

    async def say(self, text: str) -> str:
        return "\n".join(m["text"] for m in await self.send({"type": "text", "text": text}))

    async def tap(self, label: str) -> str:
        for reply in reversed(self.replies):
            for choice_id, choice_label in reply["choices"]:
                if label in choice_label:
                    frame = {"type": "choice", "choice": choice_id, "origin": reply["id"], "origin_text": reply["text"]}
                    return "\n".join(m["text"] for m in await self.send(frame) if not m.get("replaces"))
        raise AssertionError(f"no button {label!r}")

    async def tap_first(self) -> str:
        """The first button of the latest message that has buttons."""
        label = next(r for r in reversed(self.replies) if r["choices"])["choices"][0][1]
        return await self.tap(label)


@asynccontextmanager
async def opened(service: Service, accept_language: str = "en-US") -> AsyncIterator[Browser]:
    visitor = Browser(service, accept_language)
    await visitor.open()
    try:
        yield visitor
    finally:
        await visitor.close()


@pytest.fixture
async def browser(service: Service) -> AsyncIterator[Browser]:
    async with opened(service) as visitor:
        yield visitor


@pytest.fixture
async def visitor(service: Service, locale: str) -> AsyncIterator[Browser]:
    """A visitor whose browser asks for the test's `locale`."""
    async with opened(service, LOCALES[locale]) as browser:
        yield browser


@pytest.mark.parametrize("locale", list(LOCALES))
async def test_complaint_tickets_and_a_person_in_every_language(visitor: Browser, locale: str, engine: Any) -> None:
    t = Translator(locale, "Asia/Shanghai")
    assert visitor.hello["locale"] == locale and visitor.hello["ui"]["send"] == t._("Send")
    await visitor.send({"type": "text", "text": "/start", "language": LOCALES[locale]})
    assert t._(GREETING) in visitor.replies[-1]["text"]
    assert t._(COMPLAINT.slot("category").prompt) in await visitor.tap(t._(ENTRIES["complaint"]))
    await visitor.tap(t._(CATEGORIES["repair_quality"]))
    await visitor.say("The same fault came back after two days")
    await visitor.tap(t._("Skip"))
    answer = await visitor.tap(t._("✅ Submit"))
    number = re.search(r"C-\d{4}-\d{6}", answer).group(0)
    assert t._("Your complaint %(number)s is registered and has gone to our service team.", number=number) in answer
    assert number in await visitor.tap(t._(ENTRIES["tickets"]))
    person = await visitor.tap(t._(ENTRIES["person"]))  # the complaint already waits for a person (issue 11)
    assert number in person and not re.search(r"H-\d{4}-\d{6}", person)
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Ticket.kind, Ticket.status, Ticket.locale))).all()
    assert sorted(kinds) == [("complaint", "queued", locale)]


@pytest.mark.parametrize("locale", list(LOCALES))
async def test_report_a_repair_in_every_language(visitor: Browser, locale: str, engine: Any) -> None:
    t = Translator(locale, "Asia/Shanghai")
    await visitor.send({"type": "text", "text": "/start", "language": LOCALES[locale]})
    assert t._(REPAIR.slot("product_line").prompt) in await visitor.tap(t._(ENTRIES["repair"]))
    assert t._(REPAIR.slot("model").prompt) in await visitor.tap_first()
    assert t._(REPAIR.slot("serial").prompt) in await visitor.tap_first()
    assert t._(REPAIR.slot("description").prompt) in await visitor.say("HA2403000123")
    await visitor.say("Water drips from the indoor unit")
    assert t._(REPAIR.slot("place").prompt) in await visitor.tap(t._("Skip"))
    shared = await visitor.send({"type": "location", "lat": 31.2304, "lon": 121.4737})
    assert t._(REPAIR.slot("phone").typed_prompt or "") in "\n".join(m["text"] for m in shared)
    assert t._("Is everything correct?") in await visitor.say("+86 138 0013 8000")
    answer = await visitor.tap(t._("✅ Submit"))
    number = re.search(r"R-\d{4}-\d{6}", answer).group(0)
    assert t._("Thank you! Your repair request %(number)s is registered.", number=number) in answer
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.kind, Ticket.locale, Ticket.phone, Ticket.serial))).one()
    assert tuple(ticket) == ("repair", locale, "+8613800138000", "HA2403000123")


async def test_the_visitor_survives_a_reload(service: Service, browser: Browser) -> None:
    await browser.say("/start")
    await browser.tap("Talk to a person")
    again = Browser(service)
    again.http.cookie_jar.update_cookies(browser.http.cookie_jar.filter_cookies(URL(browser.base)))
    await again.open()
    try:
        shown = [item.get("text", "") for item in again.hello["history"]]
        assert any(re.search(r"H-\d{4}-\d{6}", text) for text in shown)
        assert "Added to your request H-" in await again.say("Is anyone there?")
    finally:
        await again.close()


async def test_a_resent_frame_is_stored_once(browser: Browser, engine: Any) -> None:
    frame = {"type": "text", "text": "/start", "id": "client-1"}
    await browser.send(dict(frame))
    await browser.send(dict(frame))  # the page re-sends after a reconnect
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 1


@pytest.mark.parametrize(
    "frame",
    ["not json", "[1, 2]", '{"type": "telepathy"}', '{"type": "text"}', '{"type": "location", "lat": 91, "lon": 0}',
     '{"type": "choice", "choice": "x", "origin": "abc"}'],
)
async def test_bad_frames_get_an_error_and_change_nothing(browser: Browser, engine: Any, frame: str) -> None:
    assert browser.ws is not None
    await browser.ws.send_str(frame)
    answer = await browser.ws.receive_json(timeout=5)
    assert answer["type"] == "error"
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Message)) == 0


async def test_an_oversized_frame_closes_the_socket_and_stores_nothing(browser: Browser, engine: Any) -> None:
    assert browser.ws is not None
    await browser.ws.send_json({"type": "text", "text": "x" * 100_000, "id": "big"})
    message = await browser.ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Message)) == 0


async def test_the_socket_needs_the_page_cookie(service: Service) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"http://127.0.0.1:{service.port}/ws")
    assert refused.value.status == 401
    await asyncio.sleep(0)
