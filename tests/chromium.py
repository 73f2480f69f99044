"""Headless Chromium for the browser tests: one place that finds it and launches it."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
TIMEOUT = 10_000  # ms, for each expected change on a page



@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium (a playwright Browser), or a skip (a failure under CI=true) where it is not installed.
    A plugin of every test session (tests/conftest.py): the browser tests only ask for it."""
    from playwright.async_api import async_playwright, expect  # the browser tests skip without playwright

    expect.set_options(timeout=TIMEOUT)
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        reason = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; it is required under CI=true")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()
