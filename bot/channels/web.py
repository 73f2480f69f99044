"""The web chat: a page at `/` and a WebSocket at `/ws`.

The visitor is identified by a random token in a cookie, so a reload (or a new
tab) continues the same conversation. Browser -> server frames (JSON):
    {"type": "text", "text": "...", "id": "<client id>", "language": "ru-RU"}
    {"type": "choice", "choice": "<choice id>", "origin": <message id>,
     "origin_text": "<text of that message>", "id": ...}
    {"type": "location", "lat": 41.7, "lon": 44.8, "id": ...}
Server -> browser frames:
    {"type": "hello", "locale": "ru", "ui": {...}, "history": [...]}
    {"type": "reply", "id": <message id>, "text": ..., "choices": [[id, label]],
     "request": "phone"|"location"|null, "request_label": ..., "replaces": <id>|null}
    {"type": "ack", "id": "<client id>"}   {"type": "error", "id": ..., "text": ...}
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.dispatcher import Dispatcher
from bot.core.events import MAX_TEXT, Event, Kind, Reply
from bot.core.language import from_language_code
from bot.i18n import N_, Translator, locale_names, normalize_locale
from bot.outbox import NotConnected
from storage.transcripts import customer_locale, history, mark_delivered

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "visitor"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_FRAME = 4 * MAX_TEXT  # bytes; a bigger frame closes the socket with "message too big"

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
    "attach": N_("Photo or document"),
}


def ui_strings(locale: str, timezone: str) -> dict[str, Any]:
    t = Translator(locale, timezone)
    return {key: t._(msgid) for key, msgid in UI.items()} | {"languages": locale_names()}


class WebChat:
    """The web channel: HTTP routes for the browser, and the transport for the sender."""

    channel = CHANNEL

    def __init__(self, core: Dispatcher, engine: AsyncEngine, timezone: str) -> None:
        self.core = core
        self.engine = engine
        self.timezone = timezone
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        # Called with the visitor once connected (the sender stops holding their replies).
        self.on_connect: Callable[[str], None] | None = None

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.page),
            web.get("/ws", self.socket),
            web.static("/static", STATIC),
        ]

    async def page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html")
        if not _visitor(request):
            response.set_cookie(COOKIE, secrets.token_urlsafe(24), max_age=365 * 86400, httponly=True, samesite="Lax")
        return response

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        visitor = _visitor(request)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        if not visitor:
            raise web.HTTPUnauthorized(text="open the chat page first")
        await ws.prepare(request)
        self.sockets[visitor].add(ws)
        try:
            await self._hello(ws, visitor, request.headers.get("Accept-Language"))
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._receive(ws, visitor, frame.data)
        finally:
            self.sockets[visitor].discard(ws)
            if not self.sockets[visitor]:
                del self.sockets[visitor]
        return ws

    async def _hello(self, ws: web.WebSocketResponse, visitor: str, accept_language: str | None) -> None:
        locale = await customer_locale(self.engine, CHANNEL, visitor)
        if locale is None:
            first = (accept_language or "").split(",", 1)[0].split(";", 1)[0]
            locale = normalize_locale(from_language_code(first))
        shown = []
        for item in await history(self.engine, CHANNEL, visitor):
            if item["direction"] == "in":
                shown.append({"type": "mine", "id": f"in{item['id']}", "client_id": item["client_id"], "text": item["text"]})
            else:
                shown.append(_reply_frame(item["id"], Reply.from_payload(item["payload"])))
        await mark_delivered(self.engine, CHANNEL, visitor)
        if self.on_connect:
            self.on_connect(visitor)
        await ws.send_json({"type": "hello", "locale": locale, "ui": ui_strings(locale, self.timezone), "history": shown})

    async def _receive(self, ws: web.WebSocketResponse, visitor: str, data: str) -> None:
        frame: Any = None
        try:
            frame = json.loads(data)
            event = _event(visitor, frame)
        except (ValueError, TypeError, KeyError) as problem:
            client_id = frame.get("id") if isinstance(frame, dict) else None
            # Only a broken or hostile client sends a bad frame; the page never does.
            await ws.send_json({"type": "error", "id": client_id, "text": f"bad frame: {problem}"[:200]})  # not customer-facing
            return
        await self.core.handle(event)
        await ws.send_json({"type": "ack", "id": frame.get("id")})
        if event.kind is Kind.CHOICE and (event.choice or "").startswith("lang:"):
            locale = await customer_locale(self.engine, CHANNEL, visitor) or "en"
            await ws.send_json({"type": "ui", "locale": locale, "ui": ui_strings(locale, self.timezone)})

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        sockets = list(self.sockets.get(chat_id, ()))
        if not sockets:
            raise NotConnected(chat_id)
        frame = _reply_frame(row_id, reply)
        for ws in sockets:
            try:
                await ws.send_json(frame)
            except ConnectionError:
                log.debug("web socket closed while sending", exc_info=True)
        return str(row_id)


def _visitor(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if token and 16 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum() else None


def _reply_frame(row_id: int, reply: Reply) -> dict[str, Any]:
    frame = {
        "type": "reply", "id": row_id, "text": reply.text, "choices": [[c.id, c.label] for c in reply.choices],
        "request": reply.request, "request_label": reply.request_label,
        "replaces": int(reply.replaces) if reply.replaces else None,
    }
    if reply.attachments:  # an agent's files (bot/channels/web_media.py serves them)
        frame["files"] = [{"kind": a.kind, "name": a.name, "url": "/files/" + a.ref.removeprefix("media:")} for a in reply.attachments]
    return frame


def _event(visitor: str, frame: dict[str, Any]) -> Event:
    """A browser frame as an Event; ValueError/KeyError/TypeError for a malformed one."""
    if not isinstance(frame, dict):
        raise ValueError("not an object")
    client_id = frame.get("id")
    valid_id = isinstance(client_id, str) and 0 < len(client_id) <= 64
    base: dict[str, Any] = {
        "channel": CHANNEL, "user_id": visitor, "chat_id": visitor,
        # The browser's id of the message: a re-sent frame (reconnect) is a duplicate.
        "delivery_id": f"{visitor}:{client_id}" if valid_id else None,
        "message_id": client_id if valid_id else None,
        "language_hint": str(frame.get("language") or "")[:16] or None,
    }
    kind = frame["type"]
    if kind == "text":
        text = str(frame["text"])
        if text.startswith("/") and len(text) > 1:
            return Event(kind=Kind.COMMAND, command=text[1:].split(maxsplit=1)[0].lower()[:32], text=text, **base)
        return Event(kind=Kind.TEXT, text=text, **base)
    if kind == "choice":
        origin = frame.get("origin")
        return Event(
            kind=Kind.CHOICE, choice=str(frame["choice"])[:64],
            origin_message_id=str(int(origin)) if origin is not None else None,
            origin_text=str(frame.get("origin_text") or "")[:MAX_TEXT] or None, **base,
        )
    if kind == "location":
        lat, lon = float(frame["lat"]), float(frame["lon"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("coordinates out of range")
        return Event(kind=Kind.LOCATION, location=(lat, lon), **base)
    raise ValueError(f"unknown frame type {kind!r}")
