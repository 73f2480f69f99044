"""Issue 9 in the web chat, with a real HTTP client against the real Service: the
visitor identity, the Origin check, headers, bad frames, edits, rate limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from yarl import URL

from bot.app import Service
from bot.channels.web import MAX_REFUSED, TOO_FAST, UNREADABLE
from bot.config import Settings
from bot.i18n import Translator
from storage.models import Message
from tests.test_webchat_protocol import Browser, opened

EN = Translator("en", "Asia/Shanghai")


@asynccontextmanager
async def running(db_url: str, **extra: Any) -> AsyncIterator[Service]:
    service = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None, **extra))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def service(db_url: str, engine: Any) -> AsyncIterator[Service]:
    async with running(db_url) as started:
        yield started


def cookie(browser: Browser) -> str:
    return browser.http.cookie_jar.filter_cookies(URL(browser.base))["visitor"].value


async def socket_status(service: Service, token: str | None, origin: str | None = None) -> int:
    """The handshake's HTTP status for a socket with this cookie value (101: opened)."""
    headers = {"Cookie": f"visitor={token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(f"http://127.0.0.1:{service.port}/ws", headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await ws.close()
        return 101


# --- 9.2 identity -----------------------------------------------------------------------------


async def test_regression_a_cookie_value_the_server_never_issued_opens_nothing(service: Service) -> None:
    assert await socket_status(service, "AAAAAAAAAAAAAAAA") == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        http.cookie_jar.update_cookies({"visitor": "AAAAAAAAAAAAAAAA"}, URL(f"http://127.0.0.1:{service.port}/"))
        async with http.get(f"http://127.0.0.1:{service.port}/") as page:
            issued = page.cookies["visitor"]
    assert issued.value != "AAAAAAAAAAAAAAAA" and len(issued.value) == 32  # 192 random bits
    assert issued["httponly"] and issued["samesite"] == "Lax" and not issued["secure"]
    assert int(issued["max-age"]) == 30 * 86400


async def test_the_cookie_is_secure_when_the_public_url_is_https(db_url: str, engine: Any) -> None:
    async with running(db_url, public_url="https://chat.example.com") as service, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.port}/") as page:
            assert page.cookies["visitor"]["secure"]
            assert page.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_the_identity_is_rotated_and_expires(service: Service) -> None:
    async with opened(service) as browser:
        await browser.say("/start")
        first, visitor = cookie(browser), browser.visitor
        later = datetime.now(UTC) + timedelta(hours=25)
        service.web.clock = lambda: later
        async with browser.http.get(browser.base + "/") as page:
            assert page.status == 200
        second = cookie(browser)
        assert second != first and await browser.visitor_id() == visitor  # a new value, the same visitor
        assert await socket_status(service, first) == 401  # the old value is ended
        assert await socket_status(service, second) == 101
        service.web.clock = lambda: later + timedelta(days=31)
        assert await socket_status(service, second) == 401  # past its lifetime


async def test_forget_this_device_ends_the_session(service: Service) -> None:
    async with opened(service) as browser:
        await browser.say("/start")
        token = cookie(browser)
        assert browser.ws is not None
        await browser.ws.send_json({"type": "forget"})
        assert (await browser.ws.receive_json(timeout=10))["type"] == "forgotten"
        assert (await browser.ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert await socket_status(service, token) == 401
        async with browser.http.get(browser.base + "/") as page:  # the reload: a new, empty chat
            assert page.cookies["visitor"].value != token


# --- 9.3 origin -------------------------------------------------------------------------------


async def test_regression_a_socket_from_another_origin_is_refused(db_url: str, engine: Any) -> None:
    async with running(db_url, web_allowed_origins="https://www.example.com") as service:
        async with opened(service) as browser:
            token, own = cookie(browser), f"http://127.0.0.1:{service.port}"
        assert await socket_status(service, token, origin=own) == 101
        assert await socket_status(service, token, origin="https://www.example.com") == 101  # an embedding site
        for foreign in (f"http://127.0.0.1:{service.port + 1}", "http://evil.example", "null", "https://www.example.com.evil"):
            assert await socket_status(service, token, origin=foreign) == 403, foreign


# --- 9.7 headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/no-such-page", "/ws"])
async def test_security_headers_and_no_version_banner(service: Service, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{service.port}{path}") as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'self'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Server"] == "aftersales" and "Strict-Transport-Security" not in headers  # plain http here


async def test_frame_ancestors_is_configurable(db_url: str, engine: Any) -> None:
    async with running(db_url, web_frame_ancestors="https://shop.example.com") as service, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.port}/") as response:
            assert "frame-ancestors https://shop.example.com" in response.headers["Content-Security-Policy"]


# --- 9.5 bad frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    '{"type": "choice", "choice": "x", "origin": Infinity, "id": "f1"}',
    '{"type": "location", "lat": ' + "9" * 400 + ', "lon": 0, "id": "f1"}',
    '{"type": "text", "text": "hi", "id": "f1", "x": ' + "[" * 1100 + "]" * 1100 + "}",
    '{"type": "text", "text": null, "id": "f1"}',
    '{"type": "choice", "choice": "x", "origin": 1e300, "id": "f1"}',
    '{"type": "text", "text": "\\ud800", "id": "f1"}',
])
async def test_regression_a_bad_frame_gets_a_clean_error_and_one_log_line(
    browser: Browser, engine: Any, frame: str, caplog: pytest.LogCaptureFixture,
) -> None:
    assert browser.ws is not None
    with caplog.at_level(logging.INFO, logger="bot.channels.web"):
        await browser.ws.send_str(frame)
        answer = await browser.ws.receive_json(timeout=10)
    unreadable_id = "[[[" in frame  # nested too deep even to read the id
    assert answer == {"type": "error", "id": None if unreadable_id else "f1", "text": EN._(UNREADABLE)}  # no exception text
    [line] = [r for r in caplog.records if r.name == "bot.channels.web"]
    assert line.exc_info is None
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Message)) == 0
    assert await browser.say("/start")  # the socket is still open and serving


@pytest.fixture
async def browser(service: Service) -> AsyncIterator[Browser]:
    async with opened(service) as visitor:
        yield visitor


@pytest.mark.parametrize("text", ["a lone \ud800 surrogate", "a NUL \x00 byte"])
async def test_regression_unstorable_characters_are_dropped_and_the_text_kept(browser: Browser, engine: Any, text: str) -> None:
    await browser.send({"type": "text", "text": text})
    async with engine.connect() as conn:
        stored = await conn.scalar(select(Message.text).where(Message.direction == "in"))
    assert stored == text.replace("\ud800", "").replace("\x00", "")


# --- 9.6 edits ----------------------------------------------------------------------------------


async def test_regression_an_edit_shows_the_servers_text_not_the_clients(browser: Browser) -> None:
    await browser.say("/start")
    menu = next(r for r in reversed(browser.replies) if r["choices"])
    choice = menu["choices"][0][0]
    frames = await browser.send({"type": "choice", "choice": choice, "origin": menu["id"], "origin_text": "You won a prize!"})
    [edit] = [f for f in frames if f.get("replaces") == menu["id"]]
    assert "prize" not in edit["text"] and edit["text"].startswith(menu["text"])


async def test_a_choice_naming_another_visitors_message_edits_nothing(service: Service, browser: Browser) -> None:
    async with opened(service) as other:
        await other.say("/start")
        theirs = other.replies[-1]["id"]
    await browser.say("/start")
    frames = await browser.send({"type": "choice", "choice": "menu:tickets", "origin": theirs})
    assert not [f for f in frames if f.get("replaces")]


# --- 9.4 rate limits ------------------------------------------------------------------------------


async def test_regression_a_flood_of_frames_is_cut_to_the_limit(db_url: str, engine: Any) -> None:
    # A rate this small refills nothing during the test: exactly the burst is taken.
    async with running(db_url, rate_visitor_messages=1e-9, rate_visitor_burst=10) as service:
        async with opened(service) as flooder, opened(service) as observer:
            assert flooder.ws is not None
            for number in range(500):
                await flooder.ws.send_json({"type": "text", "text": f"flood {number}", "id": f"c{number}"})
            acks: list[str] = []
            errors: list[str] = []
            while (message := await flooder.ws.receive(timeout=10)).type is aiohttp.WSMsgType.TEXT:
                frame = message.json()
                if frame["type"] == "ack":
                    acks.append(frame["id"])
                elif frame["type"] == "error":
                    errors.append(frame["text"])
            assert message.type is aiohttp.WSMsgType.CLOSE and message.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            # The burst is taken; the next frames are refused politely, then the flooder is cut off.
            assert acks == [f"c{n}" for n in range(10)] and errors == [EN._(TOO_FAST)] * MAX_REFUSED
            assert await observer.say("/start")  # another visitor is still served
        async with engine.connect() as conn:
            stored = await conn.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "in", Message.text.like("flood %")))
            assert stored == 10  # a refused frame stores nothing


async def test_a_flood_of_connections_is_cut_per_ip_and_a_trusted_proxy_names_the_client(db_url: str, engine: Any) -> None:
    async with running(db_url, rate_ip_connects=1e-9, rate_ip_connect_burst=6, trusted_proxies="127.0.0.1") as service:
        base = f"http://127.0.0.1:{service.port}"
        async with aiohttp.ClientSession() as http:
            statuses = []
            for _ in range(8):
                async with http.get(base + "/", headers={"X-Forwarded-For": "203.0.113.7"}) as page:
                    statuses.append(page.status)
            assert statuses == [200] * 6 + [429] * 2
            async with http.get(base + "/", headers={"X-Forwarded-For": "203.0.113.7"}) as page:
                assert EN._(TOO_FAST) in await page.text()
            # Another client behind the same proxy has its own allowance; a forged left part changes nothing.
            async with http.get(base + "/", headers={"X-Forwarded-For": "198.51.100.1"}) as page:
                assert page.status == 200
            async with http.get(base + "/", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}) as page:
                assert page.status == 429


async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(db_url: str, engine: Any) -> None:
    async with running(db_url, rate_ip_connects=1e-9, rate_ip_connect_burst=2) as service:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for number in range(3):
                async with http.get(f"http://127.0.0.1:{service.port}/", headers={"X-Forwarded-For": f"10.0.0.{number}"}) as page:
                    statuses.append(page.status)
        assert statuses == [200, 200, 429]
        await asyncio.sleep(0)


# --- issue 10.19: the browser's time zone -------------------------------------------------------


@pytest.mark.parametrize(("zone", "hint"), [("Europe/Moscow", "Europe/Moscow"), ("Mars/Olympus_Mons", None), (None, None)])
async def test_the_browsers_time_zone_reaches_the_core_validated(
    service: Service, browser: Browser, zone: str | None, hint: str | None,
) -> None:
    seen: list[Any] = []
    handle = service.core.handle

    async def spy(event: Any) -> None:
        seen.append(event)
        await handle(event)

    service.core.handle = spy  # type: ignore[method-assign]
    await browser.send({"type": "text", "text": "/start", **({"timezone": zone} if zone else {})})
    assert [e.timezone_hint for e in seen] == [hint]


async def test_behind_a_trusted_proxy_without_a_public_url_its_scheme_counts(db_url: str, engine: Any) -> None:
    async with running(db_url, trusted_proxies="127.0.0.1") as service:
        async with opened(service) as browser:
            token = cookie(browser)
        host = f"127.0.0.1:{service.port}"
        headers = {"Cookie": f"visitor={token}", "Origin": f"https://{host}", "X-Forwarded-Proto": "https"}
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://{host}/ws", headers=headers)
            assert (await ws.receive_json(timeout=10))["type"] == "hello"
            await ws.close()
        assert await socket_status(service, token, origin=f"https://{host}") == 403  # no proxy header: http


async def test_sockets_are_limited_per_address_and_per_visitor(db_url: str, engine: Any) -> None:
    async with running(db_url, rate_ip_connects=1e-9, rate_ip_connect_burst=4, trusted_proxies="127.0.0.1") as service:
        async with opened(service) as browser:  # the page and one socket: 2 of the address's 4
            token = cookie(browser)
        url, jar = f"http://127.0.0.1:{service.port}/ws", {"Cookie": f"visitor={token}"}
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                await (await http.ws_connect(url, headers=jar)).close()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the address's burst is spent
                await http.ws_connect(url, headers=jar)
            assert refused.value.status == 429
            # The same visitor from another address: its own allowance (4 sockets) runs out too, and it is told so.
            elsewhere = {**jar, "X-Forwarded-For": "198.51.100.9"}
            await (await http.ws_connect(url, headers=elsewhere)).close()  # the visitor's 4th
            ws = await http.ws_connect(url, headers=elsewhere)
            assert await ws.receive_json(timeout=10) == {"type": "error", "id": None, "text": EN._(TOO_FAST)}
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
