"""Engine creation and schema migration for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

from alembic import command
from alembic.config import Config
from sqlalchemy import Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def insert_ignore(dialect: str, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING on either database."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class _LoopThreadConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs each call on the calling (event-loop) thread.

    A statement on a local SQLite file takes microseconds; the hop to aiosqlite's
    worker thread and back takes longer, and a batch makes dozens of them.
    Safe because the engine below has one connection, so no coroutine of this
    process ever waits on SQLite's lock while holding the loop; another process
    holding the lock makes us wait (busy_timeout) only for its short transaction.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite with WAL, foreign keys and write-locking transactions."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)
    database = make_url(url).database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connector = partial(sqlite3.connect, database, timeout=30, check_same_thread=False)
    engine = create_async_engine(
        url, async_creator=lambda: _LoopThreadConnection(connector, 64),
        # One connection: transactions of this process queue for it in order
        # (asyncio, FIFO) instead of spinning in SQLite's busy handler.
        pool_size=1, max_overflow=0, pool_timeout=30, **kwargs,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below); the driver's implicit one would be DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so a read-modify-write of a
        # conversation can never interleave with another process's.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (synchronous: call it before the event loop starts)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
