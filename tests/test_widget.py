"""Issue 17 below the browser: the company's look (data/company.yaml), the away form's
phone-or-e-mail rule, the agents' hours as text, and the web chat's new frames spoken by
a real WebSocket client against the real service on SQLite and PostgreSQL (history pages,
seen replies, the away form, typing, no Telegram leftovers, pressed buttons in history)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import Service
from bot.brand import MAX_LOGO_BYTES, contrast, load_brand
from bot.channels.web_brand import day_ranges, hours_text
from bot.channels.web_frames import BadFrame, parse
from bot.config import Settings
from bot.i18n import Translator
from handlers.repair import REPAIR
from services.business_hours import BusinessHours
from services.reach import ReachKind, normalize_email, parse_reach
from storage.models import Customer, Message, OutboxRow
from storage.transcripts import Cursor
from tests.test_webchat_protocol import opened

DATA = Path(__file__).resolve().parent.parent / "data"
AT_WORK = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # Thursday 12:00 in Tbilisi
AWAY = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)  # Saturday


# --- data/company.yaml -----------------------------------------------------------------


def test_contrast_follows_wcag() -> None:
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#FFFFFF", "#FFFFFF") == pytest.approx(1.0)
    assert contrast("#0A58CA", "#FFFFFF") >= 4.5
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)  # just too light


def test_the_shipped_company_file_loads() -> None:
    brand, logo = load_brand(DATA)
    assert brand.name_in("ru") == "Аврора Бытовая техника" and brand.logo_type == "image/svg+xml"
    assert logo.startswith(b"<svg")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    shutil.copy(DATA / "company.yaml", tmp_path)
    shutil.copy(DATA / "logo.svg", tmp_path)
    return tmp_path


@pytest.mark.parametrize(("old", "new", "message"), [
    ('on_primary: "#FFFFFF"', 'on_primary: "#7FA0FF"', "colours.on_primary: on_primary on primary has a contrast of"),
    ('primary: "#0A58CA"', 'primary: "blue"', 'colours.primary: must be a colour as "#RRGGBB"'),
    ("  ka: ავრორა საყოფაცხოვრებო ტექნიკა\n", "", "name.ka: missing"),
    ("logo: logo.svg", "logo: ../secret.svg", "logo: must be a file name in the data folder"),
    ("logo: logo.svg", "logo: gone.png", "logo: cannot read gone.png"),
    ("position: right", "position: top", "position:"),
])
def test_a_bad_company_file_names_the_field(data: Path, old: str, new: str, message: str) -> None:
    path = data / "company.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(ValueError, match="company.yaml") as error:
        load_brand(data)
    assert message in str(error.value)


def test_a_too_big_logo_is_refused(data: Path) -> None:
    (data / "logo.svg").write_bytes(b"<svg>" + b" " * MAX_LOGO_BYTES + b"</svg>")
    with pytest.raises(ValueError, match="at most 200 KB"):
        load_brand(data)


# --- hours and the away form's rule ------------------------------------------------------


def test_day_ranges() -> None:
    assert day_ranges(frozenset({0, 1, 2, 3, 4})) == [(0, 4)]
    assert day_ranges(frozenset({0, 1, 2, 4, 6})) == [(0, 2), (4, 4), (6, 6)]


@pytest.mark.parametrize(("locale", "expected"), [
    ("en", "People answer Mon–Fri, 9:00\u202fAM–6:00\u202fPM (Tbilisi)"),
    ("ru", "Операторы отвечают: пн–пт, 09:00–18:00 (Тбилиси)"),
    ("zh_Hans", "人工客服时间：周一–周五 09:00–18:00（第比利斯）"),
])
def test_hours_as_text(locale: str, expected: str) -> None:
    hours = BusinessHours(weekdays=frozenset(range(5)), tz="Asia/Tbilisi")
    assert hours_text(hours, Translator(locale, "Asia/Tbilisi")) == expected


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("+995 555 12 34 56", ReachKind.PHONE, "+995555123456"),
    ("555 12 34 56", ReachKind.PHONE, "+995555123456"),  # the customer's country (GE) for a local number
    (" Nino@Example.GE ", ReachKind.EMAIL, "Nino@example.ge"),
    ("ivan.petrov+service@почта.рф", ReachKind.EMAIL, "ivan.petrov+service@xn--80a1acny.xn--p1ai"),
])
def test_reach_accepts_a_phone_or_an_email(text: str, kind: ReachKind, value: str) -> None:
    assert parse_reach(text, "GE") == (kind, value)


@pytest.mark.parametrize("text", [
    "call me", "12", "a@b", "@example.com", "nino@", "nino@@example.com", "nino@example..com", "nino@-example.com",
    "nino@example.123", "ni no@example.com", "x" * 65 + "@example.com", "nino@" + "a" * 250 + ".com",
])
def test_reach_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reach(text, "GE")


def test_email_domain_is_lower_case_only() -> None:
    assert normalize_email("Case.Kept@EXAMPLE.com") == "Case.Kept@example.com"


# --- frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    '{"type": "seen", "upto": -1}', '{"type": "seen", "upto": "5"}', '{"type": "earlier"}',
    '{"type": "earlier", "before": ""}', '{"type": "reach", "value": ""}', '{"type": "reach", "value": "' + "x" * 300 + '"}',
])
def test_new_frames_are_validated(data: str) -> None:
    with pytest.raises(BadFrame):
        parse(data)


@pytest.mark.parametrize("text", ["", "x", "2026-01-01T00:00:00|in|1", "2026-01-01T00:00:00+00:00|up|1",
                                  "2026-01-01T00:00:00+00:00|in|one", "a|b|c|d"])
def test_a_forged_cursor_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Cursor.decode(text)


def test_a_cursor_round_trips() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "out", 42)
    assert Cursor.decode(cursor.encode()) == cursor


# --- the socket, on SQLite and PostgreSQL -------------------------------------------------------


@pytest.fixture
async def service(db_url: str, engine: Any, tmp_path: Path) -> AsyncIterator[Service]:
    settings = Settings(database_url=db_url, port=0, telegram_bot_token=None, media_dir=tmp_path / "media",
                        rate_visitor_messages=0, rate_ip_messages=0)
    running = Service(settings)
    running.web.clock = lambda: AT_WORK
    await running.start()
    yield running
    await running.stop()


async def frames_until(ws: Any, kind: str) -> list[dict[str, Any]]:
    got = []
    while True:
        frame = await ws.receive_json(timeout=10)
        got.append(frame)
        if frame["type"] == kind:
            return got


async def test_history_comes_in_pages_back_to_the_start(service: Service) -> None:
    async with opened(service) as visitor:
        for n in range(40):
            await visitor.say(f"/help {n}")
        async with service.engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
            total = (total or 0) + (await conn.scalar(select(func.count()).select_from(OutboxRow)) or 0)
        assert total == 80  # two pages
        again = await reconnected(visitor)
        pages = [again.hello["history"]]
        more = again.hello["more"]
        assert len(pages[0]) == 60 and more
        while more:
            assert again.ws is not None
            await again.ws.send_json({"type": "earlier", "before": more})
            frame = (await frames_until(again.ws, "earlier"))[-1]
            pages.insert(0, frame["history"])
            more = frame["more"]
        shown = [item for page in pages for item in page]
        # Every message once, oldest first.
        ids = [item["id"] for item in shown]
        assert len(ids) == len(set(ids)) == total
        times = [item["at"] for item in shown]
        assert times == sorted(times)
        mine = [item["text"] for item in shown if item["type"] == "mine"]
        assert mine == [f"/help {n}" for n in range(40)]
        # A forged cursor: a clean error, nothing else.
        await again.ws.send_json({"type": "earlier", "before": "2026|in|1", "id": "x1"})
        error = (await frames_until(again.ws, "error"))[-1]
        assert error["id"] == "x1" and "could not be read" in error["text"]


async def test_seen_replies_are_recorded(service: Service) -> None:
    async with opened(service) as visitor:
        await visitor.say("/help")
        newest = max(visitor.seen)
        assert visitor.ws is not None
        await visitor.ws.send_json({"type": "seen", "upto": newest})
        await visitor.say("/menu")  # frames are handled in order: the seen frame is done by now
        async with service.engine.connect() as conn:
            rows = (await conn.execute(select(OutboxRow.id, OutboxRow.seen_at))).all()
    assert [r.id for r in rows if r.seen_at is not None] == [r.id for r in rows if r.id <= newest]
    assert all(r.seen_at == AT_WORK for r in rows if r.seen_at is not None)


async def test_the_away_form_checks_and_stores_how_to_reach_the_customer(service: Service) -> None:
    service.web.clock = lambda: AWAY
    async with opened(service, "ka-GE") as visitor:
        await visitor.say("/start")
        away = visitor.hello["brand"]["away"]
        assert away and "ოპერატორები ამჟამად ადგილზე არ არიან" in away  # Georgian: the customer's language
        assert visitor.ws is not None
        await visitor.ws.send_json({"type": "reach", "value": "tomorrow maybe", "id": "r1"})
        error = (await frames_until(visitor.ws, "error"))[-1]
        assert error == {"type": "error", "id": "r1", "field": "reach", "text": error["text"]}
        async with service.engine.connect() as conn:
            assert (await conn.execute(select(Customer.phone, Customer.email))).all() == [(None, None)]
        await visitor.ws.send_json({"type": "reach", "value": "555 12 34 56", "id": "r2"})
        reached = (await frames_until(visitor.ws, "reached"))[-1]
        assert reached["id"] == "r2" and "+995555123456" in reached["text"]
        await visitor.ws.send_json({"type": "reach", "value": "nino@example.ge", "id": "r3"})
        await frames_until(visitor.ws, "reached")
        async with service.engine.connect() as conn:
            assert (await conn.execute(select(Customer.phone, Customer.email))).all() == [("+995555123456", "nino@example.ge")]


async def test_hello_tells_the_company_and_its_hours(service: Service) -> None:
    async with opened(service, "ru-RU") as visitor:
        brand = visitor.hello["brand"]
        assert brand["name"] == "Аврора Бытовая техника" and brand["logo"] == "/brand/logo"
        assert brand["colours"] == {"primary": "#0A58CA", "on_primary": "#FFFFFF"}
        assert brand["hours"].startswith("Операторы отвечают") and brand["away"] is None
        async with visitor.http.get(visitor.base + "/brand/logo") as logo:
            assert logo.status == 200 and logo.content_type == "image/svg+xml"
        async with visitor.http.get(visitor.base + "/widget.js") as loader:
            assert loader.status == 200 and loader.headers["Access-Control-Allow-Origin"] == "*"


async def test_the_bot_is_typing_before_the_ack_and_an_agent_typing_shows(service: Service) -> None:
    async with opened(service) as visitor:
        assert visitor.ws is not None
        await visitor.ws.send_json({"type": "text", "text": "/help", "id": "t1"})
        got = await frames_until(visitor.ws, "ack")
        assert got[0] == {"type": "typing", "who": "bot"}
        assert got[-1]["at"] == AT_WORK.isoformat()
        async with service.engine.connect() as conn:
            conversation = await conn.scalar(select(Message.conversation_id).limit(1))
        assert conversation is not None
        service.web.agent_typing(conversation)  # what the console calls when an agent writes
        assert (await frames_until(visitor.ws, "typing"))[-1] == {"type": "typing", "who": "agent"}


async def test_the_web_repair_questions_have_no_telegram_leftovers(service: Service) -> None:
    t = Translator("en", "UTC")
    async with opened(service) as visitor:
        await visitor.say("/start")
        await visitor.tap("Report a repair")
        await visitor.tap_first()
        await visitor.tap_first()
        await visitor.say("HA2403000123")
        await visitor.say("It blows warm air")
        place = [m for m in await visitor.send(_tap(visitor, "Skip")) if m["type"] == "reply" and not m["replaces"]]
        question = next(m for m in place if t._(REPAIR.slot("place").prompt) in m["text"])
        # One message: the question, its buttons and the share-location button.
        assert question["request"] == "location" and question["choices"]
        phone = await visitor.send({"type": "text", "text": "12 Rustaveli Avenue, Tbilisi"})
        asked = next(m for m in phone if m["type"] == "reply" and "phone number" in m["text"])
        assert asked["text"] == t._(REPAIR.slot("phone").typed_prompt or "")
        assert asked["request"] is None and asked["request_label"] is None  # no share-contact button here
        assert not any("Or choose" in m["text"] for m in visitor.replies)
        # After a reload the pressed buttons are the customer's messages, with their labels.
        again = await reconnected(visitor)
        mine = [item["text"] for item in again.hello["history"] if item["type"] == "mine"]
        assert mine[0].endswith("Report a repair") and mine[1].endswith("Household air conditioner")


async def reconnected(visitor: Any) -> Any:
    """The same visitor (the same cookie) on a new socket: a reload."""
    await visitor.ws.close()
    await visitor.open()
    return visitor


def _tap(visitor: Any, label: str) -> dict[str, Any]:
    reply = next(r for r in reversed(visitor.replies) for _, choice_label in r["choices"] if label in choice_label)
    choice = next(c for c, choice_label in reply["choices"] if label in choice_label)
    return {"type": "choice", "choice": choice, "origin": reply["id"]}


async def test_only_the_allowed_sites_may_frame_the_widget(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=sqlite_url, port=0, telegram_bot_token=None, media_dir=tmp_path / "media",
                        web_allowed_origins="https://www.example.com")
    running = Service(settings)
    await running.start()
    try:
        async with opened(running) as visitor:
            async with visitor.http.get(visitor.base + "/widget/") as widget:
                assert widget.status == 200
                assert "frame-ancestors 'self' https://www.example.com" in widget.headers["Content-Security-Policy"]
                cookie = widget.headers["Set-Cookie"]
                assert cookie.startswith("widget_visitor=") and "Path=/widget/" in cookie
                assert "SameSite=None; Partitioned" in cookie and "Secure" in cookie and "HttpOnly" in cookie
            async with visitor.http.get(visitor.base + "/") as page:
                assert page.headers["Content-Security-Policy"].endswith("frame-ancestors 'self'")  # the full page: unchanged
                assert "SameSite=Lax" in page.headers.get("Set-Cookie", "SameSite=Lax")
            # The widget's socket takes the widget's own cookie (sent by hand: aiohttp's jar keeps
            # no Secure cookie over http; Chromium does on loopback, tests/test_widget_browser.py).
            token = cookie.split(";", 1)[0]
            async with visitor.http.ws_connect(visitor.base + "/widget/ws", headers={"Cookie": token}) as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "hello"
            with pytest.raises(aiohttp.WSServerHandshakeError, match="401"):  # the full page's cookie is not it
                await visitor.http.ws_connect(visitor.base + "/widget/ws")
    finally:
        await running.stop()
