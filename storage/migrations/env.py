"""Alembic environment: migrations run on a connection of their own.

SQLite: foreign keys off during the migration (so batch mode can rebuild a table
that others point at), `PRAGMA foreign_key_check` before the commit.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import check_foreign_keys, is_sqlite, migration_connection
from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_sqlite(connection: Connection) -> None:
    # One transaction of ours around all of it (Alembic would commit each SQLite migration
    # on its own), checked before it commits.
    with connection.begin():
        _run(connection)
        check_foreign_keys(connection)


async def _run_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
url = context.config.get_main_option("sqlalchemy.url") or ""
if is_sqlite(url):
    with migration_connection(url) as connection:
        _run_sqlite(connection)
else:
    asyncio.run(_run_postgres(url))
