"""Migrations go up, down and up again, and describe exactly the models."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import create_engine, downgrade, upgrade
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
