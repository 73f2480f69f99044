"""Telegram updates that must not cost us (issue 9.4, 9.5): a chat over its rate limit,
and an update that cannot be processed.

A chat over its limit is told once, politely and in its language, and its update is
acknowledged without being stored. An update the core cannot process for a reason
other than a failing store is acknowledged and logged once: Telegram would otherwise
redeliver it for ever. A failing store (connection, lock) answers 500, so Telegram
redelivers it later and no accepted message is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core.language import from_language_code
from bot.i18n import N_, Translator, normalize_locale
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# The polite answer, in the same words as the web chat's (one msgid in the catalogs).
TOO_FAST = N_("You are sending messages faster than we can read them. Please wait a moment and try again.")

Sender = Callable[[str, dict[str, Any]], Awaitable[Any]]


def transient(error: BaseException) -> bool:
    """A failure of the store or the network that a later redelivery may not meet."""
    if isinstance(error, (OperationalError, PoolTimeout, ConnectionError, TimeoutError, OSError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _chat_and_user(update: Update) -> tuple[int | None, Any]:
    if update.message is not None:
        return update.message.chat.id, update.message.from_user
    if update.callback_query is not None:
        query = update.callback_query
        return (query.message.chat.id if query.message else query.from_user.id), query.from_user
    return None, None


class ChatRateLimit(BaseMiddleware):
    """An outer middleware on `dispatcher.update`: per-chat token buckets."""

    def __init__(self, limiter: RateLimiter, send: Sender, timezone: str) -> None:
        self.limiter, self.send, self.timezone = limiter, send, timezone
        self._told: set[int] = set()  # chats told since their last accepted update

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat, user = _chat_and_user(event) if isinstance(event, Update) else (None, None)
        if chat is None:
            return await handler(event, data)
        if self.limiter.allow(chat):
            self._told.discard(chat)
            return await handler(event, data)
        if chat not in self._told:
            if len(self._told) > 100_000:  # bounded: forgetting only means telling twice
                self._told.clear()
            self._told.add(chat)
            locale = normalize_locale(from_language_code(getattr(user, "language_code", None)))
            try:
                await self.send("sendMessage", {"chat_id": chat, "text": Translator(locale, self.timezone)._(TOO_FAST)})
            except Exception:  # noqa: BLE001 - a notice that fails changes nothing
                log.debug("rate-limit notice to chat %s failed", chat, exc_info=True)
        return None  # acknowledged, nothing stored


async def feed_or_drop(feed: Callable[[], Awaitable[Any]], update_id: int) -> None:
    """Process an update; one that cannot be processed is logged once and dropped."""
    try:
        await feed()
    except Exception as error:
        if transient(error):
            raise  # 500: Telegram redelivers once the store is back
        log.error("update %s dropped, it cannot be processed: %s", update_id, type(error).__name__)
