"""The agents' console over real HTTP against the running service: log-in,
sessions, CSRF, roles on every route and the live stream, claims and replies."""

from __future__ import annotations

import asyncio
import functools
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from bot.app import Service
from bot.cli import main as cli
from bot.config import Settings
from bot.console.auth import hash_password
from services.handoff import Role
from storage.agents import add_agent
from storage.models import AuditEntry, Conversation, Message, OutboxRow, utcnow
from tests.memory_channel import Chat

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def service(db_url: str, engine: AsyncEngine, tmp_path: Any) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow by design: hashed once for every test agent


async def agent(engine: AsyncEngine, login: str, role: Role = Role.AGENT, name: str | None = None) -> int:
    return await add_agent(engine, login=login, name=name or login.title(), password_hash=password_hash(),
                           role=role, now=utcnow(), languages=["ru", "en"])


class Browser:
    """An agent's browser: its own cookies, the session's CSRF token once logged in."""

    def __init__(self, service: Service) -> None:
        self.base = f"http://127.0.0.1:{service.port}"
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=False, **kwargs) as response:
            return response.status, await response.text()

    async def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, fetch: bool = True) -> tuple[int, str]:
        headers = {"X-Requested-With": "fetch"} if fetch else {}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        async with self.http.post(self.base + path, data=data or {}, headers=headers, allow_redirects=False) as response:
            return response.status, await response.text()

    async def log_in(self, login: str, password: str = PASSWORD) -> int:
        _status, page = await self.get("/console/login")
        token = CSRF.search(page).group(1)
        async with self.http.post(self.base + "/console/login", data={"csrf": token, "login": login, "password": password},
                                  allow_redirects=False) as response:
            status = response.status
        if status == 303:
            _status, page = await self.get("/console/")
            self.csrf = CSRF.search(page).group(1)
        return status


@pytest.fixture
async def browsers(service: Service) -> AsyncIterator[Any]:
    opened: list[Browser] = []

    def make() -> Browser:
        opened.append(Browser(service))
        return opened[-1]

    yield make
    for browser in opened:
        await browser.close()


async def waiting_conversation(service: Service, user: str = "c1", text: str = "/agent") -> int:
    chat = Chat(service.core, service.engine, user_id=user, language="ru")
    await chat.say(text)
    async with service.engine.connect() as conn:
        return int(await conn.scalar(select(Conversation.id).where(Conversation.mode == "queued").order_by(Conversation.id.desc())))


# --- log-in and sessions -------------------------------------------------------------------


async def test_log_in_slowed_after_failures_and_sessions_revocable(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "ann")
    ann = browsers()
    assert await ann.log_in("ann", "wrong password!") == 401
    assert await ann.log_in("nobody", PASSWORD) == 401
    assert await ann.log_in("ann", "wrong again!!") == 401
    assert await ann.log_in("ann", "and again!!!") == 401  # the third failure locks for a while
    assert await ann.log_in("ann", PASSWORD) == 429  # even the right password waits
    service.console.clock = lambda: utcnow() + timedelta(seconds=5)
    assert await ann.log_in("ann", PASSWORD) == 303
    assert (await ann.get("/console/"))[0] == 200
    # The session expires ...
    service.console.clock = lambda: utcnow() + timedelta(hours=13)
    assert (await ann.get("/console/"))[0] == 303
    service.console.clock = utcnow
    # ... and is revoked by logging out.
    old = ann.http.cookie_jar.filter_cookies(URL(ann.base + "/console/"))["console_session"].value
    assert (await ann.post("/console/logout", fetch=False))[0] == 303
    other = browsers()
    other.http.cookie_jar.update_cookies({"console_session": old})
    assert (await other.get("/console/queue", headers={"Accept": "application/json"}))[0] == 401
    async with engine.connect() as conn:
        actions = (await conn.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["agent.add", "login.failed", "login.failed", "login.failed", "login", "logout"]


async def test_cli_manages_agents(db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, service: Service, browsers: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert await asyncio.to_thread(cli, ["agent", "add", "root", "--name", "Root", "--role", "admin", "--languages", "en,ru"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert await asyncio.to_thread(cli, ["agent", "add", "root", "--name", "Again"]) == 1
    admin = browsers()
    assert await admin.log_in("root") == 303
    monkeypatch.setattr("sys.stdin", io.StringIO("a new long password\n"))
    assert await asyncio.to_thread(cli, ["agent", "password", "root"]) == 0
    assert (await admin.get("/console/"))[0] == 303  # the session ended with the old password
    assert await browsers().log_in("root", "a new long password") == 303
    assert await asyncio.to_thread(cli, ["agent", "disable", "root"]) == 0
    assert await browsers().log_in("root", "a new long password") == 401


# --- every route: no session, wrong role, no CSRF ------------------------------------------

GETS = ["/console/", "/console/queue", "/console/c/{cid}", "/console/c/{cid}/transcript", "/console/supervisor",
        "/console/admin/agents", "/console/events", "/console/media/AAAAAAAAAAAAAAAAAAAAAAAA.png",
        "/console/telegram-file/1/0"]
POSTS = ["/console/logout", "/console/c/{cid}/file", "/console/c/{cid}/typing", "/console/admin/agents", "/console/admin/agents/{aid}/disable",
         "/console/admin/agents/{aid}/enable", "/console/admin/agents/{aid}/password",
         *(f"/console/c/{{cid}}/{act}" for act in ("claim", "reply", "canned", "note", "transfer", "requeue", "release",
                                                    "resolve", "reopen", "assign", "confirm_owner", "refuse_owner"))]
SUPERVISOR_ONLY = {"/console/supervisor", "/console/c/{cid}/assign"}
ADMIN_ONLY = {"/console/admin/agents", "/console/admin/agents/{aid}/disable", "/console/admin/agents/{aid}/enable",
              "/console/admin/agents/{aid}/password"}


async def test_every_route_refuses_without_session_role_or_csrf(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    aid = await agent(engine, "ann")
    await agent(engine, "sue", Role.SUPERVISOR)
    cid = await waiting_conversation(service)
    stranger, ann, sue = browsers(), browsers(), browsers()
    assert await ann.log_in("ann") == 303 and await sue.log_in("sue") == 303

    def path(template: str) -> str:
        return template.format(cid=cid, aid=aid)

    for template in GETS:
        status, _body = await stranger.get(path(template), headers={"Accept": "application/json"})
        assert status == 401, template
    assert (await stranger.get("/console/"))[0] == 303  # a browser is sent to the log-in page
    for template in POSTS:
        assert (await stranger.post(path(template)))[0] == 401, template
        assert (await ann.post(path(template), csrf=False))[0] == 403, template  # no CSRF token
        assert (await ann.post(path(template), csrf=False, fetch=False))[0] == 403, template
    for template in sorted(SUPERVISOR_ONLY | ADMIN_ONLY):
        method = ann.get if template in GETS else ann.post
        assert (await method(path(template)))[0] == 403, template
    for template in sorted(ADMIN_ONLY):
        method = sue.get if template in GETS else sue.post
        assert (await method(path(template)))[0] == 403, template
    assert (await sue.get("/console/supervisor"))[0] == 200
    async with engine.connect() as conn:  # nothing was changed by any refused request
        assert await conn.scalar(select(Conversation.mode).where(Conversation.id == cid)) == "queued"


async def test_an_agent_opens_only_waiting_or_own_conversations(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "ann")
    await agent(engine, "bob")
    await agent(engine, "sue", Role.SUPERVISOR)
    bobs = await waiting_conversation(service, "c1")
    waiting = await waiting_conversation(service, "c2")
    await Chat(service.core, service.engine, user_id="c3", language="ru").say("привет")
    async with engine.connect() as conn:
        with_the_bot = int(await conn.scalar(select(Conversation.id).order_by(Conversation.id.desc())))
        message = int(await conn.scalar(select(Message.id).where(Message.conversation_id == bobs)))
    ann, bob, sue = browsers(), browsers(), browsers()
    assert await ann.log_in("ann") == 303 and await bob.log_in("bob") == 303 and await sue.log_in("sue") == 303
    assert (await bob.post(f"/console/c/{bobs}/claim"))[0] == 200
    for cid in (bobs, with_the_bot):
        for template in GETS + ["/console/events?c={cid}"]:
            if "{cid}" in template:
                assert (await ann.get(template.format(cid=cid), headers={"Accept": "application/json"}))[0] == 403, template
        for template in POSTS:
            if "{cid}" in template and not template.endswith(("/assign", "/claim")):
                assert (await ann.post(template.format(cid=cid), {"text": "hi", "claim": "1"}))[0] == 403, template
        assert (await sue.get(f"/console/c/{cid}"))[0] == 200  # a supervisor sees all
    assert (await ann.get(f"/console/telegram-file/{message}/0"))[0] == 403
    assert (await ann.get(f"/console/c/{waiting}"))[0] == 200  # waiting: anyone may claim it
    _status, rows = await ann.get("/console/queue")
    assert f'data-conversation="{waiting}"' in rows and f'data-conversation="{bobs}"' not in rows
    assert f'data-conversation="{bobs}"' in (await sue.get("/console/queue"))[1]
    # Her own, and after she resolved it (she may reopen it), but not once transferred away.
    assert (await ann.post(f"/console/c/{waiting}/claim"))[0] == 200
    assert (await ann.post(f"/console/c/{waiting}/resolve", {"resolution": "answered"}))[0] == 200
    assert (await ann.get(f"/console/c/{waiting}"))[0] == 200
    status, answer = await ann.post(f"/console/c/{bobs}/claim")  # a claim only learns who won
    assert status == 409 and "Already taken by Bob" in answer
    async with engine.connect() as conn:  # nothing was changed by any refused request
        assert await conn.scalar(select(Conversation.mode).where(Conversation.id == bobs)) == "agent"
        assert (await conn.scalars(select(Message.author).where(Message.conversation_id == bobs, Message.author == "agent"))).all() == []


# --- the work ------------------------------------------------------------------------------


async def test_claim_reply_and_the_loser_sees_who_won(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "ann", name="Ann")
    await agent(engine, "bob", name="Bob")
    await agent(engine, "sue", Role.SUPERVISOR)
    cid = await waiting_conversation(service)
    ann, bob, sue = browsers(), browsers(), browsers()
    assert await ann.log_in("ann") == 303 and await bob.log_in("bob") == 303 and await sue.log_in("sue") == 303
    status, queue = await bob.get("/console/queue")
    assert f'data-conversation="{cid}"' in queue
    first, second = await asyncio.gather(ann.post(f"/console/c/{cid}/claim"), bob.post(f"/console/c/{cid}/claim"))
    outcomes = sorted([first, second])
    assert outcomes[0][0] == 200 and outcomes[1][0] == 409
    loser = bob if second[0] == 409 else ann
    winner_name = "Ann" if loser is bob else "Bob"
    assert f"Already taken by {winner_name}" in (second if second[0] == 409 else first)[1]
    winner = ann if loser is bob else bob
    assert (await loser.post(f"/console/c/{cid}/reply", {"text": "me too"}))[0] == 403  # not theirs to open now
    assert (await sue.post(f"/console/c/{cid}/reply", {"text": "me too"}))[0] == 409  # a supervisor takes over first
    assert (await winner.post(f"/console/c/{cid}/canned", {"canned": "greeting"}))[0] == 200
    _status, page = await winner.get(f"/console/c/{cid}")
    assert "Здравствуйте, на связи сервисная служба" in page  # the customer's language
    assert (await winner.post(f"/console/c/{cid}/typing"))[0] == 200
    assert f"Writing now: {winner_name}" in (await sue.get(f"/console/c/{cid}/transcript"))[1]  # the other sees it
    assert "Writing now" not in (await winner.get(f"/console/c/{cid}/transcript"))[1]
    async with engine.connect() as conn:
        sent = (await conn.scalars(select(OutboxRow.payload).order_by(OutboxRow.id))).all()
        authors = (await conn.scalars(select(Message.author).where(Message.conversation_id == cid).order_by(Message.id))).all()
    assert sent[-1]["text"].startswith("Здравствуйте")
    assert authors[-2:] == ["system", "agent"]


async def test_the_queue_is_live(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "ann")
    ann = browsers()
    assert await ann.log_in("ann") == 303
    async with ann.http.get(ann.base + "/console/events") as stream:
        assert (await stream.content.readline()).startswith(b"event: ready")
        await stream.content.readline()
        await stream.content.readline()
        cid = await waiting_conversation(service)
        event = await asyncio.wait_for(stream.content.readline(), 5)
        data = await stream.content.readline()
    assert event == b"event: change\n" and str(cid).encode() in data


async def test_admin_page_adds_and_disables_agents(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "root", Role.ADMIN)
    admin = browsers()
    assert await admin.log_in("root") == 303
    form = {"login": "nina", "name": "Nina", "password": "short", "role": "agent", "languages": "ru"}
    status, page = await admin.post("/console/admin/agents", form, fetch=False)
    assert status == 400 and "at least 10 characters" in page
    status, _page = await admin.post("/console/admin/agents", {**form, "password": PASSWORD}, fetch=False)
    assert status == 303
    nina = browsers()
    assert await nina.log_in("nina") == 303
    _status, page = await admin.get("/console/admin/agents")
    nina_id = re.search(r'/console/admin/agents/(\d+)/disable', page.split('data-login="nina"')[1]).group(1)
    assert (await admin.post(f"/console/admin/agents/{nina_id}/disable", fetch=False))[0] == 303
    assert (await nina.get("/console/"))[0] == 303  # her session ended


async def test_a_missed_first_response_is_recorded_once_and_shown_to_supervisors(
    service: Service, engine: AsyncEngine, browsers: Any,
) -> None:
    from sqlalchemy import update

    from storage.models import Ticket

    await agent(engine, "sue", Role.SUPERVISOR)
    cid = await waiting_conversation(service)
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).values(first_response_due=utcnow() - timedelta(minutes=1)))
    assert await service.console.check_breaches() == 1
    assert await service.console.check_breaches() == 0  # once
    sue = browsers()
    assert await sue.log_in("sue") == 303
    _status, page = await sue.get("/console/supervisor")
    assert "First response missed" in page and f"/console/c/{cid}" in page
    async with engine.connect() as conn:
        assert (await conn.scalars(select(AuditEntry.action).where(AuditEntry.action == "sla.breach"))).all() == ["sla.breach"]


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def test_files_both_ways_in_the_web_chat(service: Service, engine: AsyncEngine, browsers: Any, tmp_path: Any) -> None:
    from tests.test_webchat_protocol import opened

    await agent(engine, "ann", name="Ann")
    ann = browsers()
    assert await ann.log_in("ann") == 303
    async with opened(service, "ru-RU") as visitor:
        await visitor.say("оператор")
        cid = int((await ann.get("/console/queue"))[1].split('data-conversation="')[1].split('"')[0])
        assert (await ann.post(f"/console/c/{cid}/claim"))[0] == 200
        await visitor.ws.receive_json(timeout=10)  # Ann joined

        def upload(data: bytes, name: str) -> aiohttp.FormData:
            form = aiohttp.FormData()
            form.add_field("id", "up-1")
            form.add_field("file", data, filename=name, content_type="image/png")
            return form

        # The customer's photo: type checked on the server, stored, shown to the agent.
        async with visitor.http.post(visitor.base + "/upload", data=upload(b"<html><script>alert(1)</script>", "x.png")) as refused:
            assert refused.status == 415  # not an image, whatever it is called
        async with aiohttp.ClientSession() as stranger, stranger.post(visitor.base + "/upload", data=upload(PNG, "a.png")) as no_cookie:
            assert no_cookie.status == 401
        async with visitor.http.post(visitor.base + "/upload", data=upload(PNG, "fault.png")) as sent:
            assert sent.status == 200
        _status, transcript = await ann.get(f"/console/c/{cid}/transcript")
        image = transcript.split('<img src="')[1].split('"')[0]
        async with ann.http.get(ann.base + image) as shown:
            assert image.startswith("/console/media/") and shown.status == 200 and await shown.read() == PNG
        assert (await browsers().get(image))[0] == 303  # not without a session

        # The agent's photo reaches the web visitor as a link to the file.
        form = aiohttp.FormData()
        form.add_field("text", "Схема подключения")
        form.add_field("file", PNG, filename="scheme.png", content_type="image/png")
        async with ann.http.post(ann.base + f"/console/c/{cid}/file", data=form,
                                 headers={"X-CSRF-Token": ann.csrf, "X-Requested-With": "fetch"}) as response:
            assert response.status == 200
        frame = await visitor.ws.receive_json(timeout=10)
        assert frame["text"] == "Схема подключения" and frame["files"][0]["kind"] == "photo"
        async with visitor.http.get(visitor.base + frame["files"][0]["url"]) as file:
            assert file.status == 200 and await file.read() == PNG


async def test_delivery_status_and_an_unreachable_customer_are_shown(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    from sqlalchemy import update

    from storage.models import ChannelIdentity

    await agent(engine, "ann", name="Ann")
    cid = await waiting_conversation(service)
    ann = browsers()
    assert await ann.log_in("ann") == 303
    assert (await ann.post(f"/console/c/{cid}/claim"))[0] == 200
    assert (await ann.post(f"/console/c/{cid}/reply", {"text": "Are you there?"}))[0] == 200
    async with engine.begin() as conn:  # what the sender records when Telegram refuses the chat (403)
        await conn.execute(update(OutboxRow).where(OutboxRow.payload["text"].as_string() == "Are you there?")
                           .values(status="failed", error="Forbidden: bot was blocked by the user"))
        await conn.execute(update(ChannelIdentity).values(unreachable_at=utcnow()))
    _status, page = await ann.get(f"/console/c/{cid}")
    assert "failed: Forbidden: bot was blocked by the user" in page
    assert "The customer cannot be reached (they blocked the bot)." in page


# --- confirm a unit's owner ----------------------------------------------------------------


async def unit_claimed_by(engine: AsyncEngine, customer_id: int, serial: str) -> int:
    """A registered unit (linked to nobody) and the customer's unverified claim on it; the claim's id."""
    from datetime import date

    from storage.models import Product
    from storage.products import record_claim

    async with engine.begin() as conn:
        unit = await conn.scalar(Product.__table__.insert().values(
            serial=serial, product_line="ac", model="AC-1", manufactured=date(2025, 1, 1), created_at=utcnow(),
            updated_at=utcnow(), customer_phone="+995555000111").returning(Product.__table__.c.id))
        return await record_claim(conn, product_id=unit, customer_id=customer_id, ticket_id=None,
                                  phone="+995555000222", phone_matches=False)


async def test_an_agent_confirms_or_refuses_a_units_owner(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    from storage.models import Product, ProductClaim

    await agent(engine, "ann")
    cid = await waiting_conversation(service)
    async with engine.connect() as conn:
        customer = int(await conn.scalar(select(Conversation.customer_id).where(Conversation.id == cid)))
    mine = await unit_claimed_by(engine, customer, "SN-CONFIRM-1")
    theirs = await unit_claimed_by(engine, customer, "SN-REFUSE-2")
    ann = browsers()
    assert await ann.log_in("ann") == 303
    _status, page = await ann.get(f"/console/c/{cid}")
    assert "SN-CONFIRM-1" in page and "SN-REFUSE-2" in page and "confirm_owner" in page
    assert (await ann.post(f"/console/c/{cid}/confirm_owner", {"claim": str(mine)}, csrf=False))[0] == 403
    assert (await ann.post(f"/console/c/{cid}/confirm_owner", {"claim": str(mine)}))[0] == 200
    assert (await ann.post(f"/console/c/{cid}/refuse_owner", {"claim": str(mine)}))[0] == 409  # decided once
    assert (await ann.post(f"/console/c/{cid}/refuse_owner", {"claim": str(theirs)}))[0] == 200
    _status, page = await ann.get(f"/console/c/{cid}")
    assert "Unconfirmed ownership" not in page
    async with engine.connect() as conn:
        owners = dict((await conn.execute(select(Product.serial, Product.customer_id))).all())
        statuses = dict((await conn.execute(select(ProductClaim.id, ProductClaim.status))).all())
        told = (await conn.scalars(select(OutboxRow.payload).order_by(OutboxRow.id))).all()[-2:]
        audit = (await conn.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()[-2:]
    assert owners == {"SN-CONFIRM-1": customer, "SN-REFUSE-2": None}
    assert statuses == {mine: "confirmed", theirs: "refused"}
    assert "SN-CONFIRM-1" in told[0]["text"] and "подтвердили" in told[0]["text"]  # in the customer's language (ru)
    assert "SN-REFUSE-2" in told[1]["text"] and "не удалось подтвердить" in told[1]["text"]
    assert audit == ["confirm_owner", "refuse_owner"]


async def test_a_claim_is_decided_only_in_its_customers_conversation(service: Service, engine: AsyncEngine, browsers: Any) -> None:
    await agent(engine, "ann")
    first = await waiting_conversation(service, "c1")
    other = await waiting_conversation(service, "c2")
    async with engine.connect() as conn:
        customer = int(await conn.scalar(select(Conversation.customer_id).where(Conversation.id == first)))
    claim = await unit_claimed_by(engine, customer, "SN-ELSEWHERE")
    ann = browsers()
    assert await ann.log_in("ann") == 303
    assert (await ann.post(f"/console/c/{other}/confirm_owner", {"claim": str(claim)}))[0] == 409


# --- unclaimed too long: offer to leave a message --------------------------------------------


async def test_unclaimed_too_long_the_customer_is_offered_to_leave_a_message_once(
    service: Service, engine: AsyncEngine, browsers: Any,
) -> None:
    from bot.core.actions import LEAVE_CHOICE

    await agent(engine, "ann")
    chat = Chat(service.core, service.engine, user_id="c1", language="ru")
    await chat.say("/agent")
    taken = await waiting_conversation(service, "c2")
    ann = browsers()
    assert await ann.log_in("ann") == 303
    assert (await ann.post(f"/console/c/{taken}/claim"))[0] == 200
    minutes = service.company.teams.offer_message_after_minutes if service.company.teams else 10
    start = utcnow()
    service.console.clock = lambda: start + timedelta(minutes=minutes - 1)
    assert await service.console.offer_messages() == 0  # not yet
    service.console.clock = lambda: start + timedelta(minutes=minutes + 1)
    assert await service.console.offer_messages() == 1  # the waiting one, not the claimed one
    offer = (await chat.collect())[-1]
    assert [c.id for c in offer.choices][0] == LEAVE_CHOICE and "свободного" in offer.text
    assert await service.console.offer_messages() == 0  # once a ticket
    await chat.press(LEAVE_CHOICE)
    assert "номер телефона" in chat.last[0].text
    async with engine.connect() as conn:
        offers = (await conn.scalars(select(AuditEntry.ticket_id).where(AuditEntry.action == "offer_message"))).all()
    assert len(offers) == 1
