"""First-use costs paid at start-up, and a warning naming what stalled the event loop
(issue 8, item 13)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.lag import LagMonitor
from bot.locales import SUPPORTED_LOCALES


def _hog_the_loop() -> None:
    time.sleep(0.3)  # the stall under test: blocking work on the loop thread


async def test_a_stalled_loop_is_reported_with_what_ran(caplog: pytest.LogCaptureFixture) -> None:
    monitor = LagMonitor(threshold=0.1, interval=0.02)
    running = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0)  # let the monitor start its heartbeat
        _hog_the_loop()
        with caplog.at_level(logging.WARNING, logger="bot.lag"):
            async with asyncio.timeout(5):
                while not monitor.stalls:
                    await asyncio.sleep(0.01)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    stall = monitor.stalls[0]
    assert stall.seconds >= 0.2
    assert "_hog_the_loop" in stall.stack  # the stack of the loop thread during the stall
    assert any("event loop stalled" in r.message and "_hog_the_loop" in r.message for r in caplog.records)


async def test_a_busy_loop_without_stalls_is_not_reported() -> None:
    monitor = LagMonitor(threshold=0.1, interval=0.02)
    running = asyncio.create_task(monitor.run())
    try:
        for _ in range(20):  # short steps only
            time.sleep(0.01)
            await asyncio.sleep(0.01)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert monitor.stalls == []


def test_warm_up_builds_catalogs_and_time_zone_names_for_every_locale() -> None:
    from bot.i18n import translations
    from bot.startup import warm_up
    from services.timezones import _places

    _places.cache_clear()
    translations.cache_clear()
    warm_up()
    assert _places.cache_info().currsize == len(SUPPORTED_LOCALES)
    assert translations.cache_info().currsize == len(SUPPORTED_LOCALES)
    started = time.perf_counter()
    _places("ka")  # what a turn asking for a time zone costs now
    assert time.perf_counter() - started < 0.005
