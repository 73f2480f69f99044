"""Engine creation and schema migration for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Insert, QueuePool, StaticPool, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# SQLite's own wait for a lock, in ms: only for the rare busy read (a write waits in LoopEngine).
_BUSY_MS = 100


def insert_ignore(dialect: str, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING on either database."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing()
    return statement


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class LoopConnection:
    """The part of `AsyncConnection` the project uses, over a sync `Connection`.

    SQLite runs in this process: a statement on a local file takes microseconds,
    less than SQLAlchemy's asyncio bridge costs (a greenlet and an aiosqlite
    thread hop per call; ~0.4 ms for an empty transaction here). So on SQLite
    the store calls SQLAlchemy's sync engine directly, on the event-loop thread.
    """

    def __init__(self, connection: Connection) -> None:
        self.sync_connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.execute(statement, parameters, **kwargs)

    async def scalar(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.scalar(statement, parameters, **kwargs)

    async def scalars(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self.sync_connection.scalars(statement, parameters, **kwargs)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync_connection, *args, **kwargs)

    async def commit(self) -> None:
        self.sync_connection.commit()

    async def rollback(self) -> None:
        self.sync_connection.rollback()


class LoopEngine:
    """The part of `AsyncEngine` the project uses, for SQLite (see `LoopConnection`).

    One connection, lent to one transaction at a time in arrival order (an
    asyncio lock): no coroutine of this process ever waits on SQLite's lock.
    While another process holds it, BEGIN IMMEDIATE is retried from the loop, so
    the loop keeps serving meanwhile. A transaction must not open another one: it
    would wait for itself (TimeoutError after `wait` seconds).
    """

    def __init__(self, engine: Engine, wait: float = 30.0) -> None:
        self.sync_engine = engine
        self.dialect = engine.dialect
        self.url = engine.url
        self._turn = asyncio.Lock()
        self._wait = wait
        self._connection: Connection | None = None  # kept open: no pool check-out per transaction

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[LoopConnection]:
        async with self._lent() as connection:
            with await self._write_lock(connection):
                yield LoopConnection(connection)

    async def _write_lock(self, connection: Connection) -> Any:
        """BEGIN IMMEDIATE; while another process holds the write lock, wait here in
        the loop (SQLite's own busy wait would stall the whole event loop)."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self._wait, 0.001
        while True:
            try:
                return connection.begin()
            except OperationalError as error:
                if "locked" not in str(error) or loop.time() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[LoopConnection]:
        async with self._lent() as connection:
            await self._write_lock(connection)  # begun here, not on the first statement: it may wait
            try:
                yield LoopConnection(connection)
            finally:
                if connection.in_transaction():  # not committed: nothing of it stays
                    connection.rollback()

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[Connection]:
        async with asyncio.timeout(self._wait):
            await self._turn.acquire()
        try:
            if self._connection is None or self._connection.closed or self._connection.invalidated:
                self._connection = self.sync_engine.connect()
            yield self._connection
        finally:
            self._turn.release()

    async def dispose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.sync_engine.dispose()


def create_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite (a `LoopEngine`) with WAL, foreign keys and
    write-locking transactions.

    `background_checkpoints`: the connection never copies the WAL into the database
    file itself (that write and its fsync would stall the event loop for
    milliseconds); the caller runs `checkpoints(url)` instead.
    """
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)
    parsed = make_url(url).set(drivername="sqlite+pysqlite")
    database = parsed.database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_sync_engine(
        parsed, connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=StaticPool if database == ":memory:" else QueuePool, **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below); the driver's implicit one would be DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", f"busy_timeout={_BUSY_MS}"):
            cursor.execute(f"PRAGMA {pragma}")
        if background_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so a read-modify-write of a
        # conversation can never interleave with another process's. Without a busy
        # wait: a lock held elsewhere fails at once and LoopEngine waits for it.
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={_BUSY_MS}")

    return LoopEngine(engine)  # type: ignore[return-value]  # the subset of AsyncEngine we use


async def checkpoints(url: str, every: float = 1.0) -> None:
    """Copy SQLite's WAL into the database file every `every` seconds, in a worker
    thread (for an engine made with `background_checkpoints`). PASSIVE: it never
    waits for, nor holds up, the writer. Runs until cancelled."""
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return

    def checkpoint() -> None:  # its own connection, opened and closed in the worker thread
        with closing(sqlite3.connect(database, timeout=30)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(checkpoint)


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
