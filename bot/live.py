"""Live updates across worker processes on one PostgreSQL: LISTEN/NOTIFY.

Two kinds of news travel between workers on one channel:
- "conversations changed" (the core, after a commit): every worker's consoles refresh;
- "a web-chat reply for visitor V, outbox row R": the worker holding V's socket sends
  it. The writing worker has no socket for V, so instead of holding the reply (the
  web chat's NotConnected), it hands it over here; a visitor connected nowhere sees
  it in the chat history on reconnect, which is read from the outbox.
On SQLite there is one process and the in-process `LocalBus` is all there is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.channels.web import WebChat
from bot.console.bus import LocalBus
from bot.core.events import Reply
from bot.outbox import NotConnected
from storage.db import Store, is_sqlite
from storage.turns import outbox

log = logging.getLogger(__name__)
CHANNEL = "aftersales_live"


class PgBus(LocalBus):
    """The local bus, plus NOTIFY to and LISTEN from the other workers."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._me = uuid.uuid4().hex
        self._connection: Any = None
        self._outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self.on_web_reply: Callable[[str, int], None] | None = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.add_listener(CHANNEL, self._heard)
        self._publisher = asyncio.create_task(self._publish(), name="live-bus")

    async def close(self) -> None:
        if self._publisher:
            self._publisher.cancel()
            with suppress(asyncio.CancelledError):
                await self._publisher
        if self._connection is not None:
            await self._connection.close()

    def changed(self, conversation_ids: set[int]) -> None:
        super().changed(conversation_ids)
        self._outgoing.put_nowait({"c": sorted(conversation_ids)})

    def web_reply(self, chat_id: str, row_id: int) -> None:
        self._outgoing.put_nowait({"w": [chat_id, row_id]})

    async def _publish(self) -> None:
        """One publisher, so the other workers hear the news in the order it happened."""
        while True:
            message = await self._outgoing.get()
            try:
                await self._connection.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps({**message, "from": self._me}))
            except Exception:  # the news is lost; consoles catch up on their next change
                log.exception("could not publish a live update")

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        news = json.loads(payload)
        if news.get("from") == self._me:
            return
        if "c" in news:
            super().changed(set(news["c"]))
        if "w" in news and self.on_web_reply:
            chat_id, row_id = news["w"]
            self.on_web_reply(str(chat_id), int(row_id))


class WebAcrossWorkers:
    """The web chat's transport for the sender when several workers share PostgreSQL."""

    channel = "web"

    def __init__(self, web: WebChat, bus: PgBus, engine: Store) -> None:
        self.web, self.bus, self.engine = web, bus, engine
        self._tasks: set[asyncio.Task[None]] = set()
        bus.on_web_reply = self._for_my_visitor

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        try:
            return await self.web.deliver(chat_id, reply, row_id)
        except NotConnected:
            self.bus.web_reply(chat_id, row_id)  # another worker may hold the socket
            return str(row_id)

    def _for_my_visitor(self, chat_id: str, row_id: int) -> None:
        if chat_id in self.web.sockets:
            task = asyncio.create_task(self._send(chat_id, row_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, chat_id: str, row_id: int) -> None:
        async with self.engine.connect() as conn:
            payload = await conn.scalar(select(outbox.c.payload).where(outbox.c.id == row_id, outbox.c.chat_id == chat_id))
        if payload is not None:
            with suppress(NotConnected):
                await self.web.deliver(chat_id, Reply.from_payload(payload), row_id)


def build_bus(url: str) -> LocalBus | PgBus:
    return LocalBus() if is_sqlite(url) else PgBus(url)
