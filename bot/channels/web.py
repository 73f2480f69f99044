"""The web chat: a page at `/` and a WebSocket at `/ws`.

The visitor is identified by a token the server issued and stored (storage.web_sessions)
in an HttpOnly cookie, so a reload (or a new tab) continues the same conversation.
Browser -> server frames (JSON, validated by bot/channels/web_frames.py):
    {"type": "text", "text": "...", "id": "<client id>", "language": "ru-RU", "timezone": "Europe/Moscow"}
    {"type": "choice", "choice": "<choice id>", "origin": <message id>, "id": ...}
    {"type": "location", "lat": 41.7, "lon": 44.8, "id": ...}
    {"type": "forget"}   (end this device's session)
    {"type": "earlier", "before": "<cursor>"}   (the page of history before the cursor)
    {"type": "seen", "upto": <message id>}      (our messages up to this one were shown)
    {"type": "reach", "value": "+995…" | "name@example.com", "id": ...}   (the away form)
Server -> browser frames:
    {"type": "hello", "locale": "ru", "ui": {...}, "brand": {...}, "history": [...], "more": "<cursor>"|null}
    {"type": "reply", "id": <message id>, "at": "<ISO time>", "text": ..., "choices": [[id, label]],
     "request": "location"|null, "request_label": ..., "replaces": <id>|null}
    {"type": "ack", "id": "<client id>", "at": "<ISO time>"}   {"type": "error", "id": ..., "text": ...}
    {"type": "typing", "who": "bot"|"agent"}     (someone is composing a reply)
    {"type": "earlier", "history": [...], "more": "<cursor>"|null}
    {"type": "reached", "id": ..., "text": ...}  (the away form's answer was stored)
    {"type": "forgotten"}

Two surfaces share this code: the full-page chat at `/` and the widget a company embeds
in its own site (an iframe of `/widget/`, opened by `/widget.js`; docs/widget.md). Each
has its own cookie: the widget's is `SameSite=None; Secure; Partitioned`, the only kind
a browser sends inside another site's page.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot.channels.web_brand import LOGO_URL, brand_frame
from bot.channels.web_frames import (
    BadFrame,
    ChoiceFrame,
    EarlierFrame,
    ForgetFrame,
    LocationFrame,
    ReachFrame,
    SeenFrame,
    TextFrame,
    client_id,
    parse,
)
from bot.company import Company
from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.core.events import MAX_TEXT, Event, Kind, Reply
from bot.core.language import from_language_code
from bot.http_security import WebSecurity
from bot.i18n import N_, Translator, locale_names, normalize_locale
from bot.outbox import NotConnected
from bot.ratelimit import Limits, RateLimiter
from services.contact import region_for_locale
from services.handoff import Mode
from services.reach import ReachKind, parse_reach
from storage import web_sessions
from storage.db import Store
from storage.transcripts import (
    Cursor,
    conversation_mode,
    cursor_of,
    customer_locale,
    history,
    mark_delivered,
    mark_seen,
    save_reach,
    sent_text,
    web_chat_of,
)

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "visitor"
WIDGET = "/widget/"  # the embedded chat's pages, socket and uploads live under this path
WIDGET_COOKIE = "widget_visitor"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PAGE_SIZE = 60  # messages per page of history (the rest: "load earlier messages")
MAX_FRAME = 4 * MAX_TEXT  # bytes; a bigger frame closes the socket with "message too big"
# Frames refused in a row (rate limit) before the socket is closed: a page never sends so many.
MAX_REFUSED = 50

# The page's own words, translated on the server like every customer-facing text.
UI = {
    "title": N_("Service chat"),
    "placeholder": N_("Type a message…"),
    "send": N_("Send"),
    "language": N_("Language"),
    "connecting": N_("Connecting…"),
    "offline": N_("Connection lost. Reconnecting…"),
    "share_location": N_("📍 Share my location"),
    "location_denied": N_("Your browser did not share the location. Please type the address."),
    "forget": N_("Forget this device"),
    "forget_confirm": N_("End this chat on this device? The conversation will no longer be shown here; your requests stay with us."),
    "attach": N_("Photo or document"),
    "earlier": N_("Load earlier messages"),
    "you": N_("You"),
    "us": N_("Service"),
    "agent_typing": N_("A colleague is typing…"),
    "bot_typing": N_("The assistant is typing…"),
    "sending": N_("Sending"),
    "delivered": N_("Delivered"),
    "failed": N_("Not sent"),
    "open_chat": N_("Open the chat"),
    "close_chat": N_("Close the chat"),
    "unread": N_("%(count)s unread"),
    "sound_on": N_("Sound on"),
    "sound_off": N_("Sound off"),
    "reach_label": N_("Your phone number or e-mail"),
    "reach_ask": N_("How can we reach you? Leave a phone number or an e-mail address and a colleague will contact you."),
    "reach_send": N_("Save"),
    "messages": N_("Messages"),
}
# Answers to a client that is too fast or sends what we cannot read (never exception text).
# The widget's loader, its style and the logo: public, for pages of any site.
_PUBLIC_FILE = {
    "Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin",  # not customer-facing
    "Access-Control-Allow-Origin": "*",
}
REACH_BAD = N_("That is neither a phone number nor an e-mail address we can use. Please check it and try again.")
REACHED_PHONE = N_("Thank you. A colleague will call you at %(value)s when they are back; you can also keep writing here.")
REACHED_EMAIL = N_("Thank you. A colleague will write to %(value)s when they are back; you can also keep writing here.")
TOO_FAST = N_("You are sending messages faster than we can read them. Please wait a moment and try again.")
UNREADABLE = N_("Sorry, that message could not be read. Please try again.")


class Surface(StrEnum):
    PAGE = "page"  # the full-page chat, for direct links
    WIDGET = "widget"  # the chat inside a company's site (an iframe of another site's page)


def surface_of(request: web.Request) -> Surface:
    return Surface.WIDGET if request.path.startswith(WIDGET) else Surface.PAGE


def cookie_name(request: web.Request) -> str:
    return WIDGET_COOKIE if surface_of(request) is Surface.WIDGET else COOKIE


def _loopback(host: str) -> bool:
    """Browsers treat these as secure contexts: a Secure cookie works there over plain http."""
    return host.rsplit(":", 1)[0].strip("[]") in ("localhost", "127.0.0.1", "::1")


def ui_strings(locale: str, timezone: str) -> dict[str, Any]:
    t = Translator(locale, timezone)
    return {key: t._(msgid) for key, msgid in UI.items()} | {"languages": locale_names()}


class WebChat:
    """The web channel: HTTP routes for the browser, and the transport for the sender."""

    channel = CHANNEL

    def __init__(
        self, core: Dispatcher, engine: Store, timezone: str, *, settings: Settings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        settings = settings or Settings()
        self.core = core
        self.engine = engine
        self.timezone = timezone
        self.security = WebSecurity.from_settings(settings)
        self.clock = clock
        self.lifetime = timedelta(days=settings.web_session_days)
        self.rotate_after = timedelta(hours=settings.web_session_rotate_hours)
        self.visitor_messages = RateLimiter(settings.rate_visitor_messages, settings.rate_visitor_burst)
        self.ip_messages = RateLimiter(settings.rate_ip_messages, settings.rate_ip_burst)
        self.ip_connects = RateLimiter(settings.rate_ip_connects, settings.rate_ip_connect_burst)
        self.visitor_connects = RateLimiter(settings.rate_ip_connects, settings.rate_ip_connect_burst)
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        # Called with the visitor once connected (the sender stops holding their replies).
        self.on_connect: Callable[[str], None] | None = None
        self.company: Company | None = None  # name, logo, colours, hours (set by the service)
        self.region = settings.default_phone_region

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.page),
            web.get("/ws", self.socket),
            web.static("/static", STATIC),
            web.get(WIDGET, self.page),
            web.get(WIDGET + "ws", self.socket),
            web.static(WIDGET + "static", STATIC),
            web.get("/widget.js", self.loader),
            web.get("/widget.css", self.loader),
            web.get(LOGO_URL, self.logo),
        ]

    async def loader(self, request: web.Request) -> web.StreamResponse:
        """The one script a company puts on its pages (draws the bubble, opens the chat's iframe)
        and the bubble's style: public files, readable from any page (a checker such as axe
        reads stylesheets with CORS)."""
        return web.FileResponse(STATIC / request.path.lstrip("/"), headers=_PUBLIC_FILE)

    async def logo(self, _request: web.Request) -> web.Response:
        if not (self.company and self.company.brand):
            raise web.HTTPNotFound(text="no logo")
        return web.Response(body=self.company.brand.logo, content_type=self.company.brand.brand.logo_type, headers=_PUBLIC_FILE)

    def install(self, app: web.Application) -> None:
        """Security headers on every response of `app` (pages, files, errors, the socket)."""
        app.on_response_prepare.append(self.security.on_response_prepare)

    def _polite(self, request: web.Request, msgid: str) -> str:
        first = (request.headers.get("Accept-Language") or "").split(",", 1)[0].split(";", 1)[0]
        return _translated(normalize_locale(from_language_code(first)), self.timezone, msgid)

    async def page(self, request: web.Request) -> web.StreamResponse:
        if not self.ip_connects.allow(self.security.client_ip(request)):
            raise web.HTTPTooManyRequests(text=self._polite(request, TOO_FAST), headers={"Retry-After": "5"})
        now = self.clock()
        token = request.cookies.get(cookie_name(request))
        session = await web_sessions.find(self.engine, token, now)
        response = web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        if session is None:  # a value we never issued (or expired) names nobody: a new visitor
            token, session = await web_sessions.issue(self.engine, now, self.lifetime)
            self._set_cookie(request, response, token)
        elif now - session.issued_at >= self.rotate_after:  # same visitor, a new value
            token, session = await web_sessions.issue(
                self.engine, now, self.lifetime, visitor=session.visitor, replaces=token
            )
            self._set_cookie(request, response, token)
        return response

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, token: str) -> None:
        age = int(self.lifetime.total_seconds())
        if surface_of(request) is Surface.PAGE:
            response.set_cookie(COOKIE, token, max_age=age, path="/", httponly=True, samesite="Lax", secure=self.security.https)
        elif self.security.https or _loopback(request.host):
            # Inside another site's page only a SameSite=None cookie is sent, which must be Secure;
            # Partitioned (CHIPS) keys it to the embedding site, so browsers that block
            # third-party cookies still keep it, and it cannot follow the visitor to other sites.
            # (Written by hand: Python before 3.14 has no Partitioned attribute; the token is URL-safe.)
            attributes = "HttpOnly; Secure; SameSite=None; Partitioned"  # not customer-facing
            response.headers.add("Set-Cookie", f"{WIDGET_COOKIE}={token}; Max-Age={age}; Path={WIDGET}; {attributes}")
        else:  # plain http (a test set-up): only same-site pages can embed the widget
            response.set_cookie(WIDGET_COOKIE, token, max_age=age, path=WIDGET, httponly=True, samesite="Lax")

    async def uploader(self, request: web.Request) -> str:
        """The visitor an HTTP upload comes from, checked like a socket frame: origin, the
        server-issued identity and the message limits; an HTTP error otherwise."""
        if not self.security.origin_allowed(request):
            raise web.HTTPForbidden(text="origin not allowed")  # not customer-facing: a foreign page
        session = await web_sessions.find(self.engine, request.cookies.get(cookie_name(request)), self.clock())
        if session is None:
            raise web.HTTPUnauthorized(text="open the chat page first")
        if not (self.visitor_messages.allow(session.visitor) and self.ip_messages.allow(self.security.client_ip(request))):
            raise web.HTTPTooManyRequests(text=self._polite(request, TOO_FAST), headers={"Retry-After": "5"})
        return session.visitor

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        if not self.security.origin_allowed(request):
            log.info("web socket refused: origin %r", request.headers.get("Origin", "")[:100])
            raise web.HTTPForbidden(text="origin not allowed")  # not customer-facing: a foreign page
        ip = self.security.client_ip(request)
        if not self.ip_connects.allow(ip):  # before any work for it
            raise web.HTTPTooManyRequests(text=self._polite(request, TOO_FAST), headers={"Retry-After": "5"})
        session = await web_sessions.find(self.engine, request.cookies.get(cookie_name(request)), self.clock())
        if session is None:
            raise web.HTTPUnauthorized(text="open the chat page first")
        visitor = session.visitor
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        if not self.visitor_connects.allow(visitor):  # told in the page, which then backs off
            await ws.send_json({"type": "error", "id": None, "text": self._polite(request, TOO_FAST)})
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return ws
        self.sockets[visitor].add(ws)
        try:
            locale = await self._hello(ws, visitor, request.headers.get("Accept-Language"))
            refused = 0
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                if Limits((self.visitor_messages, visitor), (self.ip_messages, ip)).allow():
                    refused = 0
                    locale = await self._receive(ws, visitor, locale, frame.data)
                    continue
                # Refused before anything else, also garbage: it costs no work and stores nothing.
                refused += 1
                if refused > MAX_REFUSED:
                    log.info("web socket closed: flooding (visitor %s…)", visitor[:6])
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION)
                    break
                text = _translated(locale, self.timezone, TOO_FAST)
                await ws.send_json({"type": "error", "id": client_id(data=frame.data), "text": text})
                await asyncio.sleep(0)  # frames already buffered must not hold the loop
        finally:
            self.sockets[visitor].discard(ws)
            if not self.sockets[visitor]:
                del self.sockets[visitor]
        return ws

    async def _hello(self, ws: web.WebSocketResponse, visitor: str, accept_language: str | None) -> str:
        locale = await customer_locale(self.engine, CHANNEL, visitor)
        if locale is None:
            first = (accept_language or "").split(",", 1)[0].split(";", 1)[0]
            locale = normalize_locale(from_language_code(first))
        items = await history(self.engine, CHANNEL, visitor, PAGE_SIZE)
        await mark_delivered(self.engine, CHANNEL, visitor)
        if self.on_connect:
            self.on_connect(visitor)
        await ws.send_json({
            "type": "hello", "locale": locale, "ui": ui_strings(locale, self.timezone),
            "brand": brand_frame(self.company, locale, self.timezone, self.clock()),
            "history": shown_history(items), "more": _more(items),
        })
        return locale

    async def _receive(self, ws: web.WebSocketResponse, visitor: str, locale: str, data: str) -> str:
        """Handle one frame; the socket's locale afterwards."""
        t = Translator(locale, self.timezone)
        try:
            frame = parse(data)
        except BadFrame as bad:
            log.info("web frame refused (visitor %s…): %s", visitor[:6], bad.reason)  # one line, no traceback
            await ws.send_json({"type": "error", "id": client_id(data), "text": t._(UNREADABLE)})
            return locale
        if isinstance(frame, ForgetFrame):
            await self.forget(visitor)
            return locale
        if isinstance(frame, EarlierFrame):
            try:
                before = Cursor.decode(frame.before)
            except ValueError:
                await ws.send_json({"type": "error", "id": frame.id, "text": t._(UNREADABLE)})
                return locale
            items = await history(self.engine, CHANNEL, visitor, PAGE_SIZE, before)
            await ws.send_json({"type": "earlier", "history": shown_history(items), "more": _more(items)})
            return locale
        if isinstance(frame, SeenFrame):
            await mark_seen(self.engine, CHANNEL, visitor, frame.upto, self.clock())
            return locale
        if isinstance(frame, ReachFrame):
            await self._reach(ws, visitor, t, frame)
            return locale
        # The bot composes, unless a person owns the conversation (then the bot is silent and the
        # agents' console sends "typing" when the person writes).
        if await conversation_mode(self.engine, CHANNEL, visitor) != Mode.AGENT:
            await ws.send_json({"type": "typing", "who": "bot"})
        origin_text = None
        if isinstance(frame, ChoiceFrame) and frame.origin is not None:
            # Edit with the text we sent, never with what the client says it was (issue 9.6).
            origin_text = await sent_text(self.engine, CHANNEL, visitor, frame.origin)
        event = _event(visitor, frame, origin_text)
        await self.core.handle(event)
        await ws.send_json({"type": "ack", "id": frame.id, "at": self.clock().isoformat()})
        if event.kind is Kind.CHOICE and (event.choice or "").startswith("lang:"):
            locale = await customer_locale(self.engine, CHANNEL, visitor) or "en"
            await ws.send_json({"type": "ui", "locale": locale, "ui": ui_strings(locale, self.timezone)})
        return locale

    async def _reach(self, ws: web.WebSocketResponse, visitor: str, t: Translator, frame: ReachFrame) -> None:
        """The away form: a phone number or an e-mail address, checked, stored on the customer."""
        try:
            reach = parse_reach(frame.value, region_for_locale(t.locale, self.region))
        except ValueError:
            await ws.send_json({"type": "error", "id": frame.id, "text": t._(REACH_BAD), "field": "reach"})
            return
        if reach.kind is ReachKind.PHONE:
            stored = await save_reach(self.engine, CHANNEL, visitor, phone=reach.value)
        else:
            stored = await save_reach(self.engine, CHANNEL, visitor, email=reach.value)
        if not stored:  # no customer yet: nothing was ever said in this chat
            await ws.send_json({"type": "error", "id": frame.id, "text": t._(UNREADABLE), "field": "reach"})
            return
        text = t._(REACHED_PHONE if reach.kind is ReachKind.PHONE else REACHED_EMAIL, value=reach.value)
        await ws.send_json({"type": "reached", "id": frame.id, "text": text})

    def agent_typing(self, conversation_id: int) -> None:
        """An agent writes in this conversation: if it is a web chat connected here, it shows there."""
        task = asyncio.ensure_future(self._agent_typing(conversation_id))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _agent_typing(self, conversation_id: int) -> None:
        chat_id = await web_chat_of(self.engine, CHANNEL, conversation_id)
        if chat_id is not None:
            self.typing(chat_id, "agent")

    def typing(self, visitor: str, who: str = "agent") -> None:
        """Someone composes a reply to `visitor` (an agent in the console): their pages show it."""
        for ws in list(self.sockets.get(visitor, ())):
            task = asyncio.ensure_future(ws.send_json({"type": "typing", "who": who}))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())  # a closed socket: nothing to tell

    async def forget(self, visitor: str) -> None:
        """End the visitor's sessions and close their sockets: this device no longer shows the chat."""
        await web_sessions.forget(self.engine, visitor)
        for ws in list(self.sockets.get(visitor, ())):
            try:
                await ws.send_json({"type": "forgotten"})
            except ConnectionError:
                pass
            await ws.close()

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        sockets = list(self.sockets.get(chat_id, ()))
        if not sockets:
            raise NotConnected(chat_id)
        frame = _reply_frame(row_id, reply, self.clock())
        for ws in sockets:
            try:
                await ws.send_json(frame)
            except ConnectionError:
                log.debug("web socket closed while sending", exc_info=True)
        return str(row_id)


@lru_cache(maxsize=64)
def _translated(locale: str, timezone: str, msgid: str) -> str:
    """A fixed text in `locale` (the refusals are answered often, and cheaply)."""
    return Translator(locale, timezone)._(msgid)


def _reply_frame(row_id: int, reply: Reply, at: datetime | None) -> dict[str, Any]:
    # A phone request is Telegram's share-contact button: the web page has none, so the
    # question's own text (which also says "or type the number") is all it shows.
    request = reply.request if reply.request == "location" else None
    frame = {
        "type": "reply", "id": row_id, "at": at.isoformat() if at else None, "text": reply.text,
        "choices": [[c.id, c.label] for c in reply.choices],
        "request": request, "request_label": reply.request_label if request else None,
        "replaces": int(reply.replaces) if reply.replaces else None,
    }
    if reply.attachments:  # an agent's files (bot/channels/web_media.py serves them)
        frame["files"] = [{"kind": a.kind, "name": a.name, "url": "/files/" + a.ref.removeprefix("media:")} for a in reply.attachments]
    return frame


def shown_history(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History rows as the page shows them: the customer's pressed buttons as the label they
    pressed (read from our message that offered it), files by name; the automatic /start
    and anything else that is not something the customer said are left out."""
    labels: dict[str, str] = {}
    shown: list[dict[str, Any]] = []
    for item in items:
        at = item["created_at"].isoformat() if item["created_at"] else None
        if item["direction"] == "out":
            reply = Reply.from_payload(item["payload"])
            labels.update((c.id, c.label) for c in reply.choices)
            shown.append(_reply_frame(item["id"], reply, item["created_at"]))
            continue
        text = _customer_text(item["text"] or "", item["payload"] or [], labels)
        if text is not None:
            shown.append({"type": "mine", "id": f"in{item['id']}", "client_id": item["client_id"], "text": text, "at": at})
    return shown


def _customer_text(text: str, attachments: list[dict[str, Any]], labels: dict[str, str]) -> str | None:
    if attachments:
        return "📎 " + ", ".join(str(a.get("name") or a.get("kind") or "") for a in attachments)
    if text == "/start":
        return None
    if text.startswith("[location] "):
        lat, _, lon = text.removeprefix("[location] ").partition(",")
        return f"📍 {float(lat):.5f}, {float(lon):.5f}"
    if text.startswith("[") and text.endswith("]") and " " not in text:  # a pressed button
        choice = text[1:-1]
        return labels.get(choice) if not choice.startswith("lang:") else None
    return text


def _more(items: list[dict[str, Any]]) -> str | None:
    """The cursor of the page before these rows, if there may be one."""
    return cursor_of(items[0]).encode() if len(items) >= PAGE_SIZE else None


def _event(visitor: str, frame: TextFrame | ChoiceFrame | LocationFrame, origin_text: str | None) -> Event:
    """A validated browser frame as an Event."""
    base: dict[str, Any] = {
        "channel": CHANNEL, "user_id": visitor, "chat_id": visitor,
        # The browser's id of the message: a re-sent frame (reconnect) is a duplicate.
        "delivery_id": f"{visitor}:{frame.id}" if frame.id else None,
        "message_id": frame.id,
        "language_hint": frame.language[:16] if frame.language else None,
        "timezone_hint": frame.timezone,
    }
    if isinstance(frame, TextFrame):
        text = frame.text
        if text.startswith("/") and len(text) > 1:
            return Event(kind=Kind.COMMAND, command=text[1:].split(maxsplit=1)[0].lower()[:32], text=text, **base)
        return Event(kind=Kind.TEXT, text=text, **base)
    if isinstance(frame, ChoiceFrame):
        origin = str(frame.origin) if origin_text is not None else None  # not our message to this visitor: no edit
        return Event(kind=Kind.CHOICE, choice=frame.choice, origin_message_id=origin, origin_text=origin_text, **base)
    return Event(kind=Kind.LOCATION, location=(frame.lat, frame.lon), **base)
