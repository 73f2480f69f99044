"""Telegram end to end, shared by the test modules: the real Service (aiogram's polling loop,
the outbox sender, the job runner) against the Bot API test server (tests/telegram_server.py),
and a `Customer` who talks to it. A pytest plugin (tests/conftest.py): the `api` and `service`
fixtures are everyone's; a module with other needs defines its own of the same name."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import Service
from bot.config import Settings
from storage.models import OutboxRow
from tests.telegram_server import FakeBotAPI

USER = 4242


def settings(url: str, api: FakeBotAPI, **extra: Any) -> Settings:
    """The production limits (30/s overall, 1/s and a burst of 3 per chat, 20/min per group)."""
    return Settings(
        database_url=url, port=extra.pop("port", 0), telegram_bot_token=api.token, telegram_api_base=api.base_url,
        **extra,
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(enforce_limits=True) as server:
        yield server
    assert server.limiter and server.limiter.refused == 0  # the bot kept within Telegram's limits


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI, clock: Callable[[], datetime]) -> AsyncIterator[Service]:
    """The whole service on Telegram; its turns, jobs and console run on the `clock` fixture
    (tests/flow_support.py: the wall clock unless a test module gives a hand-moved one)."""
    running = Service(settings(db_url, api), clock=clock)
    await running.start()
    yield running
    await running.stop()


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 5.0) -> Any:
    """Poll `probe` until it returns `expected` (the store is written a moment after delivery)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await probe()) != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return value == expected


async def settled(engine: Any, chat_id: int | str, timeout: float = 20.0) -> None:
    """Wait until every reply queued for the chat is out: sent, failed or uncertain."""
    async def unsettled() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(OutboxRow)
                .where(OutboxRow.chat_id == str(chat_id), OutboxRow.status.in_(("pending", "sending")))
            ))

    assert await eventually(unsettled, 0, timeout), f"replies to {chat_id} still not out after {timeout} s"


class Customer:
    """A Telegram user talking to the bot through the test server."""

    def __init__(self, api: FakeBotAPI, engine: Any, user_id: int = USER, language: str = "en") -> None:
        self.api, self.engine, self.user_id, self.language = api, engine, user_id, language
        self.seen = 0
        self.last_update: int | None = None

    async def _answer(self, *, confirmed: bool = True) -> list[dict[str, Any]]:
        """Wait for the bot's whole answer to the last update: the update processed
        (`confirmed`: acknowledged to the server, which happens once its turn is
        committed), then every reply it queued for this chat out."""
        if confirmed and self.last_update is not None:
            update_id = self.last_update
            await self.api.wait_until(
                lambda: all(u["update_id"] != update_id for u in self.api.pending_updates), timeout=10
            )
        await self.api.wait_until(lambda: len(self._sends()) > self.seen, timeout=10)
        await settled(self.engine, self.user_id)
        new = self._sends()[self.seen:]
        self.seen = len(self._sends())
        return new

    def _sends(self) -> list[dict[str, Any]]:
        return [s for s in self.api.sent_to(self.user_id) if s["method"] == "sendMessage"]

    async def say(self, text: str | None = None, **media: Any) -> str:
        self.last_update = self.api.user_message(self.user_id, text, language_code=self.language, **media)["update_id"]
        return "\n".join(s["text"] for s in await self._answer())

    async def tap(self, label: str) -> str:
        for sent in reversed(self._sends()):
            for row in (sent.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        update = self.api.callback(self.user_id, button["callback_data"], sent["message_id"])
                        self.last_update = update["update_id"]
                        return "\n".join(s["text"] for s in await self._answer())
        raise AssertionError(f"no button {label!r}")

    async def tap_first(self) -> str:
        sent = self._sends()[-1]
        button = sent["reply_markup"]["inline_keyboard"][0][0]
        self.last_update = self.api.callback(self.user_id, button["callback_data"], sent["message_id"])["update_id"]
        return "\n".join(s["text"] for s in await self._answer())




def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
