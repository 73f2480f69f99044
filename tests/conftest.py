"""Shared fixtures: a migrated database (SQLite and PostgreSQL), the company, a chat."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company, load_company
from bot.config import Settings
from storage.db import create_engine, upgrade
from storage.models import Base

pytest_plugins = ["tests.flow_support", "tests.telegram_support", "tests.chromium"]

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCE = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}


def _source_tree() -> dict[Path, tuple[int, frozenset[str]]]:
    """Every source directory: its mtime (changed by any file created or removed in it,
    even for a moment) and its entries."""
    tree = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _NOT_SOURCE]
        tree[Path(folder)] = (os.stat(folder).st_mtime_ns, frozenset(files) | frozenset(dirs))
    return tree


@pytest.fixture(scope="session", autouse=True)
def _source_tree_untouched() -> Iterator[None]:
    """No test writes a file into the source tree (they write under tmp_path). Python's own
    first `__pycache__` in a package is not counted; editing files during a run is."""
    before = _source_tree()
    yield
    after = _source_tree()
    touched = []
    for folder, (mtime, entries) in after.items():
        old_mtime, old_entries = before.get(folder, (None, frozenset()))
        if mtime == old_mtime:
            continue
        if entries - old_entries == {"__pycache__"} or (entries == old_entries and "__pycache__" not in old_entries
                                                         and "__pycache__" in entries):
            continue
        touched.append(f"{folder.relative_to(ROOT)}: now {sorted(entries ^ old_entries) or 'same entries'}")
    assert touched == [], f"the tests wrote into the source tree: {touched}"


POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _admin(url: str, *statements: str) -> None:
    """Run statements outside a transaction on the server of `url` (CREATE/DROP DATABASE)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test session's own, on TEST_POSTGRES_URL's server
    (created here, dropped at the end): two runs on one machine never clobber each other."""
    base = make_url(POSTGRES_URL)
    name = f"test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        _admin(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        _admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a fresh SQLite file, or the emptied PostgreSQL test database."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "store.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


async def empty_tables(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def company() -> Company:
    return load_company(Settings())
