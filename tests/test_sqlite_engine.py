"""The SQLite store's engine (storage/db.py): SQLAlchemy's sync engine on the event-loop
thread, one transaction at a time, WAL checkpoints in a worker thread."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from storage.db import checkpoints, create_engine
from storage.models import Customer, utcnow

FLOOD = 3000


async def test_transactions_take_turns_and_a_failed_one_leaves_nothing(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    order: list[str] = []

    async def transaction(name: str, fail: bool = False) -> None:
        async with engine.begin() as conn:
            order.append(f"{name} in")
            await conn.execute(insert(Customer).values(display_name=name, locale="en", locale_chosen=False, created_at=utcnow()))
            await asyncio.sleep(0.01)  # another coroutine runs now, but cannot enter
            order.append(f"{name} out")
            if fail:
                raise RuntimeError("handler failed")

    try:
        results = await asyncio.gather(transaction("a"), transaction("b", fail=True), transaction("c"), return_exceptions=True)
        assert isinstance(results[1], RuntimeError)
        assert order == ["a in", "a out", "b in", "b out", "c in", "c out"]  # whole, and in arrival order
        async with engine.connect() as conn:
            names = list(await conn.scalars(select(Customer.display_name).order_by(Customer.id)))
        assert names == ["a", "c"]  # b rolled back
    finally:
        await engine.dispose()


async def test_background_checkpoints_move_the_wal_into_the_database_file(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url, background_checkpoints=True)
    database = sqlite_url.split("///", 1)[1]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Customer), [
                {"display_name": "x" * 200, "locale": "en", "locale_chosen": False, "created_at": utcnow()}
                for _ in range(3000)
            ])
        before = os.path.getsize(database)  # the connection itself never checkpoints
        task = asyncio.create_task(checkpoints(sqlite_url, every=0.05))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert os.path.getsize(database) > before + 3000 * 200
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Customer)) == 3000
    finally:
        await engine.dispose()


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"])
async def test_any_sqlite_url_runs_on_the_loop_thread(sqlite_url: str, scheme: str) -> None:
    # Settings written for the earlier aiosqlite default keep working; that driver is not needed.
    engine = create_engine(scheme + ":///" + sqlite_url.split("///", 1)[1])
    try:
        assert engine.sync_engine.driver == "pysqlite"
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Customer)) == 0
    finally:
        await engine.dispose()


async def test_wal_and_foreign_keys_are_on(sqlite_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from storage.models import Conversation

    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:  # a conversation of an identity that does not exist
                await conn.execute(insert(Conversation).values(customer_id=999, identity_id=999, state="", slots={}, mode="bot", updated_at=utcnow()))
    finally:
        await engine.dispose()


async def test_a_lock_held_by_another_process_is_waited_for_without_stalling_the_loop(sqlite_url: str) -> None:
    import sqlite3

    engine = create_engine(sqlite_url)
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)  # as another process would
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(Customer).values(display_name="waited", locale="en", locale_chosen=False, created_at=utcnow()))

    clock = asyncio.create_task(ticker())
    writer = asyncio.create_task(write())
    try:
        await asyncio.sleep(0.5)
        assert not writer.done() and ticks >= 25  # waiting, and the loop kept running
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 2)
        async with engine.connect() as conn:
            assert await conn.scalar(select(Customer.display_name)) == "waited"
    finally:
        clock.cancel()
        other.close()
        await engine.dispose()


async def test_a_read_goes_through_while_another_process_writes(sqlite_url: str) -> None:
    # Issue 8 item 8: reads are deferred transactions; WAL lets them run beside a writer.
    import sqlite3

    engine = create_engine(sqlite_url)
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO customers (locale, locale_chosen, created_at) VALUES ('en', 0, '2026-01-01')")

    async def read() -> int:
        async with engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(Customer))

    try:
        assert await asyncio.wait_for(read(), 1) == 0  # the committed state, not the writer's
    finally:
        other.close()
        await engine.dispose()


async def test_a_read_waits_in_the_loop_while_the_database_is_busy(sqlite_url: str) -> None:
    import sqlite3

    engine = create_engine(sqlite_url)
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    other.execute("SELECT 1 FROM customers").fetchall()  # WAL's shared memory first: so it can let go later
    other.execute("PRAGMA locking_mode=EXCLUSIVE")  # keeps even readers out (busy) until released
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO customers (locale, locale_chosen, created_at) VALUES ('en', 0, '2026-01-01')")
    other.execute("COMMIT")

    async def read() -> int:
        async with engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(Customer))

    reader = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.2)  # the reader's first tries fail with "database is locked"
        assert not reader.done()  # retried, not failed
        other.execute("PRAGMA locking_mode=NORMAL")
        other.execute("SELECT 1 FROM customers").fetchall()  # the exclusive lock goes with the next access
        assert await asyncio.wait_for(reader, 2) == 1
    finally:
        other.close()
        await engine.dispose()


async def test_a_nested_transaction_fails_at_once_with_a_clear_error(sqlite_url: str) -> None:
    # Issue 8 item 7: it used to wait 30 s for itself, then time out.
    from storage.db import NestedTransaction

    engine = create_engine(sqlite_url)
    try:
        for inner in (engine.begin, engine.connect):
            async with engine.begin():
                with pytest.raises(NestedTransaction, match="pass it the connection"):
                    async with asyncio.timeout(1):
                        async with inner():
                            pass
        async with engine.begin() as conn:  # the engine still works
            await conn.execute(insert(Customer).values(locale="en", locale_chosen=False, created_at=utcnow()))
    finally:
        await engine.dispose()


async def test_a_statement_after_commit_waits_for_another_processs_lock(sqlite_url: str) -> None:
    # Issue 8 item 7: the autobegun transaction after commit() failed with "database is locked".
    import sqlite3

    engine = create_engine(sqlite_url)
    other = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    other_has_lock = asyncio.Event()
    release = asyncio.Event()

    async def commit_as_you_go() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(Customer).values(display_name="first", locale="en", locale_chosen=False, created_at=utcnow()))
            await conn.commit()
            other.execute("BEGIN IMMEDIATE")  # another process takes the lock in between
            other_has_lock.set()
            await conn.execute(insert(Customer).values(display_name="second", locale="en", locale_chosen=False, created_at=utcnow()))

    async def other_commits_later() -> None:
        await other_has_lock.wait()
        await release.wait()
        other.execute("COMMIT")

    writer = asyncio.create_task(commit_as_you_go())
    releaser = asyncio.create_task(other_commits_later())
    try:
        await other_has_lock.wait()
        await asyncio.sleep(0.2)
        assert not writer.done()  # waiting for the lock, not failed
        release.set()
        await asyncio.wait_for(asyncio.gather(writer, releaser), 2)
        async with engine.connect() as conn:
            assert list(await conn.scalars(select(Customer.display_name).order_by(Customer.id))) == ["first", "second"]
    finally:
        other.close()
        await engine.dispose()


async def test_a_read_connection_that_writes_becomes_a_write_transaction(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Customer)) == 0
            await conn.execute(insert(Customer).values(locale="en", locale_chosen=False, created_at=utcnow()))
            assert await conn.scalar(select(func.count()).select_from(Customer)) == 1
            await conn.commit()
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Customer)) == 1
    finally:
        await engine.dispose()


async def test_the_wal_stays_bounded_through_a_flood_and_is_emptied_when_idle(sqlite_url: str, company: Any) -> None:
    # Issue 8 item 10: one web-chat socket's 20,000 frames grew the WAL to 833 MB, for good.
    from bot.core.dispatcher import Dispatcher
    from bot.core.events import Event, Kind
    from handlers.router import route

    limit = 2 * 1024 * 1024
    wal = Path(sqlite_url.split("///", 1)[1] + "-wal")
    engine = create_engine(sqlite_url, background_checkpoints=True)
    core = Dispatcher(engine, company, route)
    task = asyncio.create_task(checkpoints(sqlite_url, every=0.02, limit=limit, engine=engine))
    largest = 0
    try:
        for i in range(FLOOD):
            await core.handle(Event(channel="web", user_id="flood", chat_id="flood", kind=Kind.TEXT,
                                    text=f"frame {i} " + "x" * 200, delivery_id=f"f{i}"))
            largest = max(largest, wal.stat().st_size)
        # The limit, plus what a few checkpoint intervals bring; unbounded it grows by ~9 KB a frame.
        assert largest <= 4 * limit
        async with asyncio.timeout(10):
            while wal.stat().st_size:  # idle: truncated to nothing
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await core.close()
        await engine.dispose()
    print(f"largest WAL {largest / 1e6:.1f} MB")
