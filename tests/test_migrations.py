"""Migrations go up, down and up again, and describe exactly the models."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from storage.db import MIGRATIONS, MigrationBrokeForeignKeys, alembic_config, create_engine, downgrade, upgrade
from storage.models import Base


def _tables(connection: Any) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _inspect(url: str, probe: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(probe)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_stairway_up_down_up(db_url: str) -> None:
    # Synchronous: Alembic runs its own event loop.
    upgrade(db_url, "head")
    downgrade(db_url, "base")
    assert _inspect(db_url, _tables) == set()
    upgrade(db_url, "head")
    assert _inspect(db_url, _tables) == set(Base.metadata.tables)
    assert _inspect(db_url, _differences) == []


# Issue 8 item 11: a migration may rebuild (Alembic batch mode) a table others point at.
# The migration scripts are written to a temporary directory, next to the real ones.
REBUILD = '''
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"


def upgrade() -> None:
    with op.batch_alter_table("customers", recreate="always") as batch:
        batch.alter_column("display_name", type_=sa.String(300))
    {extra}


def downgrade() -> None:
    with op.batch_alter_table("customers", recreate="always") as batch:
        batch.alter_column("display_name", type_=sa.String(200))
'''


def _with_test_migration(url: str, directory: Path, extra: str = "") -> Config:
    config = alembic_config(url)
    head = ScriptDirectory.from_config(config).get_current_head()
    (directory / "9001_rebuild.py").write_text(REBUILD.format(head=head, extra=extra or "pass"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join([str(MIGRATIONS / "versions"), str(directory)]))
    return config


def _customer_with_a_conversation(url: str) -> None:
    with closing(sqlite3.connect(url.split("///", 1)[1])) as db, db:
        db.execute("INSERT INTO customers (id, display_name, locale, locale_chosen, created_at) VALUES (1, 'Ann', 'en', 0, '2026-01-01')")
        db.execute("INSERT INTO channel_identities (id, customer_id, channel, external_id, chat_id, created_at) "
                   "VALUES (1, 1, 'web', 'v1', 'v1', '2026-01-01')")
        db.execute("INSERT INTO conversations (id, customer_id, identity_id, state, slots, mode, version, updated_at) "
                   "VALUES (1, 1, 1, '', '{}', 'bot', 0, '2026-01-01')")


def test_a_migration_rebuilds_a_table_that_others_point_at_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    _customer_with_a_conversation(sqlite_url)
    config = _with_test_migration(sqlite_url, tmp_path)
    command.upgrade(config, "9001")
    command.downgrade(config, "-1")
    command.upgrade(config, "9001")
    with closing(sqlite3.connect(sqlite_url.split("///", 1)[1])) as db:
        assert db.execute("SELECT display_name FROM customers").fetchall() == [("Ann",)]
        assert db.execute("SELECT customer_id FROM conversations").fetchall() == [(1,)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(IntegrityError):  # and the store's connections still enforce foreign keys
        _inspect(sqlite_url, lambda conn: conn.exec_driver_sql("DELETE FROM customers"))


def test_a_migration_that_breaks_a_reference_is_rolled_back(sqlite_url: str, tmp_path: Path) -> None:
    _customer_with_a_conversation(sqlite_url)
    config = _with_test_migration(sqlite_url, tmp_path, extra='op.execute("DELETE FROM customers")')
    with pytest.raises(MigrationBrokeForeignKeys, match="conversations"):
        command.upgrade(config, "9001")
    with closing(sqlite3.connect(sqlite_url.split("///", 1)[1])) as db:
        assert db.execute("SELECT display_name FROM customers").fetchall() == [("Ann",)]
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() != [("9001",)]
