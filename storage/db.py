"""Engine creation and schema migration for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Connection,
    CursorResult,
    Engine,
    Executable,
    Insert,
    NullPool,
    QueuePool,
    ScalarResult,
    StaticPool,
    event,
)
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.elements import TextClause

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The WAL file's bound in bytes: what a checkpoint leaves of it (journal_size_limit), and the
# size beyond which background checkpoints truncate it even while writes go on.
WAL_LIMIT = 64 * 1024 * 1024
_WAL_HEADER = 32

AnyResult = CursorResult[*tuple[Any, ...]]


def insert_ignore(dialect: str, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING on either database."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing()
    return statement


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class StoreConnection(Protocol):
    """What the project uses of a connection: SQLAlchemy's `AsyncConnection` on PostgreSQL,
    a `LoopConnection` on SQLite. Typed against this, code runs on either."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> AnyResult: ...

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> AnyResult: ...

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    """What the project uses of an engine: SQLAlchemy's `AsyncEngine` on PostgreSQL, a
    `LoopEngine` on SQLite (`create_engine` returns the right one).

    - `begin()`: a write transaction, committed at the end, rolled back on an error.
    - `connect()`: commit-as-you-go; meant for reads (on SQLite a read does not take the
      write lock).
    - A transaction must not open another one on the same engine (a store call taking the
      engine inside `begin()`): on SQLite that raises `NestedTransaction` at once.
    """

    @property
    def dialect(self) -> Dialect: ...

    @property
    def url(self) -> URL: ...

    @property
    def sync_engine(self) -> Engine: ...

    def begin(self) -> AbstractAsyncContextManager[StoreConnection]: ...

    def connect(self) -> AbstractAsyncContextManager[StoreConnection]: ...

    async def dispose(self) -> None: ...


@asynccontextmanager
async def savepoint(conn: StoreConnection) -> AsyncIterator[None]:
    """A SAVEPOINT in the open transaction: an error raised inside rolls back only what was
    done since (and is raised on); otherwise it is released.

    Our own SQL, always the same (a nested one shadows the outer one): SQLAlchemy's
    `begin_nested()` names each savepoint anew, a new statement each time, compiled anew
    (SQLite: 5 times the cost of these) and prepared anew on PostgreSQL, where a run of
    actions then pushes the hot statements out of asyncpg's statement cache.
    """
    await conn.exec_driver_sql("SAVEPOINT action")
    try:
        yield
    except BaseException:
        # Raises (a store failure) if the database rolled the whole transaction back itself.
        await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT action")
        await conn.exec_driver_sql("RELEASE SAVEPOINT action")
        raise
    await conn.exec_driver_sql("RELEASE SAVEPOINT action")


class NestedTransaction(RuntimeError):
    """A transaction of a `LoopEngine` asked for another one: it would wait for itself."""


def _busy(error: OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _writes(statement: Any) -> bool:
    """Whether a statement may write (SELECT, PRAGMA and EXPLAIN do not; anything unknown may)."""
    if getattr(statement, "is_select", False):
        return False
    sql = statement if isinstance(statement, str) else statement.text if isinstance(statement, TextClause) else None
    return sql is None or not sql.lstrip()[:7].upper().startswith(("SELECT", "PRAGMA", "EXPLAIN"))


class LoopConnection:
    """`StoreConnection` over a sync `Connection`, for `LoopEngine`.

    SQLite runs in this process: a statement on a local file takes microseconds,
    less than SQLAlchemy's asyncio bridge costs (a greenlet and an aiosqlite
    thread hop per call; ~0.4 ms for an empty transaction here). So on SQLite
    the store calls SQLAlchemy's sync engine directly, on the event-loop thread.

    Every statement that needs a transaction gets it through the engine's wait for
    SQLite's locks (also after `commit()`): a read a deferred one, a write an
    IMMEDIATE one. A read transaction that starts to write is started over as a write
    transaction: its reads saw committed data, as under READ COMMITTED on PostgreSQL.
    """

    def __init__(self, engine: LoopEngine, connection: Connection, write: bool) -> None:
        self.sync_connection = connection
        self.dialect = connection.dialect
        self._engine = engine
        self._write = write  # a write transaction whatever the statement (engine.begin())
        self._writing = False  # the open transaction is a write transaction

    async def ready(self, write: bool) -> None:
        write = write or self._write
        if self.sync_connection.in_transaction():
            if self._writing or not write:
                return
            self.sync_connection.rollback()  # a read transaction, nothing written: start over
        await self._engine.begin_on(self.sync_connection, write)
        self._writing = write

    async def execute(self, statement: Executable, parameters: Any = None) -> AnyResult:
        await self.ready(_writes(statement))
        return self.sync_connection.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        await self.ready(_writes(statement))
        return self.sync_connection.scalar(statement, parameters)

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        await self.ready(_writes(statement))
        return self.sync_connection.scalars(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> AnyResult:
        await self.ready(_writes(statement))
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        await self.ready(True)  # what `fn` does is unknown: take the write lock
        return fn(self.sync_connection, *args, **kwargs)

    async def commit(self) -> None:
        self.sync_connection.commit()

    async def rollback(self) -> None:
        self.sync_connection.rollback()


class _WaitFlag:
    """Fairness between processes writing to one SQLite file.

    SQLite has no queue for its write lock: a process that commits and begins again
    at once re-takes it before a waiting process's next try, and can starve it. So a
    process waiting for the lock says so (a shared POSIX lock on byte 0 of the file
    `<database>-wait`), and a process about to begin lets such a waiter go first. The
    kernel drops the flag with the process that held it.
    """

    def __init__(self, database: str) -> None:
        self._fd = os.open(f"{database}-wait", os.O_RDWR | os.O_CREAT, 0o644)
        self._raised = False

    def others_waiting(self) -> bool:
        if self._raised:
            return False  # we wait ourselves: go
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return True
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)
        return False

    def raise_(self) -> None:
        if not self._raised:
            # Blocks only while another process checks for waiters (microseconds).
            fcntl.lockf(self._fd, fcntl.LOCK_SH, 1, 0)
            self._raised = True

    def lower(self) -> None:
        if self._raised:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)
            self._raised = False

    def close(self) -> None:
        self.lower()
        os.close(self._fd)


class LoopEngine:
    """`Store` for SQLite (see `LoopConnection`).

    One connection, lent to one transaction at a time in arrival order (an
    asyncio lock): no coroutine of this process ever waits on SQLite's lock.
    While another process holds it, the transaction's BEGIN is retried from the
    loop, so the loop keeps serving meanwhile. Reads are deferred transactions
    (WAL: they never wait for a writer of another process); writes are
    IMMEDIATE ones, which take the write lock at their start, so a
    read-modify-write can never interleave with another process's.
    """

    # How long a process about to write lets another process's waiting writer go first.
    GIVE_WAY = 0.1

    def __init__(self, engine: Engine, wait: float = 30.0, database: str | None = None) -> None:
        self.sync_engine = engine
        self.dialect = engine.dialect
        self.url = engine.url
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._wait = wait
        self._connection: Connection | None = None  # kept open: no pool check-out per transaction
        self._flag = _WaitFlag(database) if database else None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[LoopConnection]:
        async with self._lent() as connection:
            conn = LoopConnection(self, connection, write=True)
            await conn.ready(True)
            try:
                yield conn
            except BaseException:
                if connection.in_transaction():
                    connection.rollback()
                raise
            if connection.in_transaction():
                connection.commit()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[LoopConnection]:
        async with self._lent() as connection:
            try:
                yield LoopConnection(self, connection, write=False)
            finally:
                if connection.in_transaction():  # not committed: nothing of it stays
                    connection.rollback()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold this engine's turn: no transaction of this process runs meanwhile."""
        async with self._lent():
            yield

    async def begin_on(self, connection: Connection, write: bool) -> None:
        """Begin a transaction; while another process holds a lock it needs, wait here
        in the loop (SQLite's own busy wait would stall the whole event loop)."""
        loop = asyncio.get_running_loop()
        started, pause = loop.time(), 0.0005
        connection.info["begin"] = "BEGIN IMMEDIATE" if write else "BEGIN"
        try:
            if write and self._flag and self._flag.others_waiting():
                await self._give_way(loop.time() + self.GIVE_WAY)
            while True:
                try:
                    connection.begin()
                    if not write:  # take the snapshot now, where a busy database can be waited for
                        connection.exec_driver_sql("PRAGMA schema_version")
                    return
                except OperationalError as error:
                    if connection.in_transaction():
                        connection.rollback()
                    if not _busy(error) or loop.time() > started + self._wait:
                        raise
                if write and self._flag:
                    self._flag.raise_()
                await asyncio.sleep(pause)
                # Retried often while it is likely another's short transaction, rarely after.
                pause = min(pause * 1.5, 0.002 if loop.time() < started + 1.0 else 0.02)
        finally:
            if self._flag:
                self._flag.lower()

    async def _give_way(self, until: float) -> None:
        assert self._flag is not None
        loop = asyncio.get_running_loop()
        while self._flag.others_waiting() and loop.time() < until:  # noqa: ASYNC110 - another process's flag
            await asyncio.sleep(0.0005)

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[Connection]:
        if self._holder is not None and self._holder is asyncio.current_task():
            raise NestedTransaction(
                "a transaction of this engine asked for another one (a store call given the engine "
                "inside engine.begin()/connect()?); pass it the connection instead"
            )
        async with asyncio.timeout(self._wait):
            await self._turn.acquire()
        self._holder = asyncio.current_task()
        try:
            if self._connection is None or self._connection.closed or self._connection.invalidated:
                self._connection = await self._open()
            yield self._connection
        finally:
            self._holder = None
            self._turn.release()

    async def _open(self) -> Connection:
        """Connect (its pragmas need the database: waited for in the loop while it is busy)."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self._wait, 0.001
        while True:
            try:
                return self.sync_engine.connect()
            except OperationalError as error:
                if not _busy(error) or loop.time() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def dispose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._flag is not None:
            self._flag.close()
            self._flag = None
        self.sync_engine.dispose()


def create_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> Store:
    """The store's engine: SQLAlchemy's `AsyncEngine`, or on SQLite a `LoopEngine`
    with WAL (bounded: `WAL_LIMIT`), foreign keys on, deferred reads and IMMEDIATE writes.

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
        parsed, connect_args={"timeout": 0, "check_same_thread": False},
        poolclass=StaticPool if database == ":memory:" else QueuePool, **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below); the driver's implicit one would be DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # No busy wait inside SQLite: a lock held elsewhere fails at once and LoopEngine
        # waits for it in the loop.
        pragmas = ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=0",
                   f"journal_size_limit={WAL_LIMIT}")
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        if background_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.info.get("begin", "BEGIN IMMEDIATE"))

    return LoopEngine(engine, database=None if database == ":memory:" else database)


async def checkpoints(url: str, every: float = 1.0, limit: int | None = None, engine: Store | None = None) -> None:
    """Copy SQLite's WAL into the database file every `every` seconds, in a worker
    thread (for an engine made with `background_checkpoints`), until cancelled.

    PASSIVE (it never waits for, nor holds up, a writer) while writes go on; TRUNCATE
    (the WAL file back to 0 bytes) once nothing was written since the last time, and
    also while the WAL is beyond `limit` bytes (`WAL_LIMIT`): under a steady stream of
    writes a PASSIVE checkpoint never catches up, and the WAL would grow without bound.
    A TRUNCATE needs the write lock: given this process's `engine`, it takes the engine's
    turn for it (else the engine's next transaction would keep it waiting); writers wait
    in the loop meanwhile.
    """
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return
    limit = WAL_LIMIT if limit is None else limit
    wal = Path(f"{database}-wal")
    # One thread of its own for the connection, first come first served: when the task is
    # cancelled during a checkpoint, the close queues behind it instead of closing the
    # connection under the running statement (which crashed the process: SIGSEGV).
    thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoints")
    loop = asyncio.get_running_loop()
    connection = await loop.run_in_executor(thread, lambda: sqlite3.connect(database, timeout=1, check_same_thread=False))
    last_version = None

    def mode() -> str | None:
        nonlocal last_version
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        size = wal.stat().st_size if wal.exists() else 0
        idle, last_version = version == last_version, version
        if size == 0 or (idle and size <= _WAL_HEADER):
            return None
        return "TRUNCATE" if idle or size > limit else "PASSIVE"

    def checkpoint(mode: str) -> None:
        connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()

    try:
        while True:
            await asyncio.sleep(every)
            match await loop.run_in_executor(thread, mode):
                case "TRUNCATE" if isinstance(engine, LoopEngine):
                    async with engine.exclusive():
                        await loop.run_in_executor(thread, checkpoint, "TRUNCATE")
                case str() as chosen:
                    await loop.run_in_executor(thread, checkpoint, chosen)
    finally:
        thread.submit(connection.close)
        thread.shutdown(wait=False)


class MigrationBrokeForeignKeys(RuntimeError):
    """PRAGMA foreign_key_check found rows pointing at nothing after a migration."""


@contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """A SQLite connection of its own for migrations, with foreign keys off.

    Rebuilding a table (Alembic's batch mode) drops it, which fails (or cascades)
    while foreign keys are on and other tables point at it; the pragma only takes
    effect outside a transaction, hence a connection of its own. Its transactions
    are IMMEDIATE; the migration calls `check_foreign_keys` before it commits.
    """
    engine = create_sync_engine(make_url(url).set(drivername="sqlite+pysqlite"), poolclass=NullPool,
                                connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # DDL inside our transaction, not autocommitted
        for pragma in ("journal_mode=WAL", "foreign_keys=OFF"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def check_foreign_keys(connection: Connection) -> None:
    """Refuse (raise, so the migration rolls back) rows left pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise MigrationBrokeForeignKeys(
            "the migration left rows pointing at nothing (table, rowid, parent table, key): "
            + ", ".join(str(tuple(row)) for row in broken[:10])
        )


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
