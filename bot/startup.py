"""Before serving: the store's schema brought to the code's, and first-use costs paid.

`aftersales run` on a fresh or older database migrates it (several workers
starting at once on PostgreSQL take turns through an advisory lock), so a page
that says "Connection lost" forever cannot happen; a store it cannot reach
stops the start with one line saying so.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text

from bot.i18n import babel_locale, translations
from bot.locales import SUPPORTED_LOCALES
from storage.db import create_engine, upgrade

log = logging.getLogger(__name__)
T = TypeVar("T")
_MIGRATION_LOCK = 0x61667465  # pg_advisory_lock key: "afte"


class StoreUnreachable(Exception):
    """The configured store cannot be opened; the message is one line for the operator."""


def migrate(url: str) -> None:
    """Bring the schema to head (synchronous: call it before the event loop starts)."""
    try:
        asyncio.run(_migrate(url))
    except StoreUnreachable:
        raise
    except Exception as error:
        raise StoreUnreachable(f"cannot prepare the database ({type(error).__name__}: {error})") from error


def migrated(url: str) -> bool:
    """`migrate` for a command: False (the reason on stderr) when the store cannot be prepared."""
    try:
        migrate(url)
    except StoreUnreachable as error:
        print(f"Not started: {error}", file=sys.stderr)
        return False
    return True


async def until_signalled(work: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run `work(stop)`; SIGTERM or SIGINT sets `stop` (a clean stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await work(stop)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
            return
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
                try:
                    await asyncio.to_thread(upgrade, url)
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
        except OSError as error:
            raise StoreUnreachable(f"cannot reach the database: {error}") from error
    finally:
        await engine.dispose()


def warm_up(locales: tuple[str, ...] | list[str] = tuple(SUPPORTED_LOCALES)) -> float:
    """Build what the first turn in each locale would otherwise build inside a turn,
    holding the store (issue 8, item 13): the catalogs and the time-zone place index.
    Returns the seconds it took."""
    from services.timezones import _places  # the index is private to its module; this only fills its cache

    started = time.perf_counter()
    for locale in locales:
        translations(locale)
        babel_locale(locale)
        _places(locale)
    seconds = time.perf_counter() - started
    log.info("warmed up catalogs and time-zone names for %d locales in %.0f ms", len(locales), seconds * 1000)
    return seconds
