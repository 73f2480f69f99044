"""`aftersales demo` gives a newcomer a way into the agents' console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import DEMO_LOGIN, demo_admin
from bot.config import Settings
from bot.console.auth import LoginRefused, log_in
from storage.db import create_engine


async def _log_in(url: str, password: str) -> object:
    engine = create_engine(url)
    try:
        return await log_in(engine, DEMO_LOGIN, password, datetime.now(UTC), timedelta(hours=1))
    finally:
        await engine.dispose()


def test_the_demo_creates_one_admin_whose_printed_password_logs_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(database_url=url)
    password = demo_admin(settings)
    assert password and len(password) >= 12
    import asyncio

    assert not isinstance(asyncio.run(_log_in(url, password)), LoginRefused)
    assert isinstance(asyncio.run(_log_in(url, password + "x")), LoginRefused)
    assert demo_admin(settings) is None  # a store with an agent gets no second one


def test_the_demo_registers_the_sample_units_once_so_the_warranty_check_can_be_tried(tmp_path: Path) -> None:
    import asyncio
    import csv

    from sqlalchemy import select

    from bot.cli import SAMPLE_SALES, demo_sales
    from storage.models import Product

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(database_url=url)
    demo_admin(settings)  # migrates, as `aftersales demo` does first
    with (settings.data_dir / SAMPLE_SALES).open(encoding="utf-8") as sample:
        serials = {row["serial"] for row in csv.DictReader(sample)}
    assert "HA2403000123" in serials and len(serials) >= 8
    assert demo_sales(settings) == len(serials)  # every sample row is valid against data/
    assert demo_sales(settings) == 0  # a registry with units is left alone

    async def registered() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.scalars(select(Product.serial)))
        finally:
            await engine.dispose()

    assert asyncio.run(registered()) == serials
