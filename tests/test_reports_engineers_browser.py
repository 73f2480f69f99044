"""The reports page's ratings per engineer in headless Chromium (issue 13: "average rating per
plan and per engineer"): surveys carry the engineer of the visit they ask about, the page names
them as data/engineers.yaml does, and the table's CSV reads back to what the page shows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from bot.app import Service
from bot.config import Settings
from services.handoff import Role
from services.reports import Table
from storage.agents import add_agent
from storage.models import Customer, Survey, Ticket, utcnow
from tests.test_console import PASSWORD, password_hash

pytestmark = pytest.mark.browser

try:
    from playwright.async_api import Browser, expect
except ImportError as missing:  # pragma: no cover - the test extra is not installed
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"Playwright is not installed ({missing}): pip install -e .[test]", allow_module_level=True)

SCREENSHOT = Path(os.environ.get("SURVEYS_ENGINEERS_SCREENSHOT", "/work/wt/notes/surveys-engineers.png"))


@pytest.fixture
async def service(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=sqlite_url, port=0, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


async def seed(service: Service) -> None:
    """Surveys of this week: Zhang Wei's visits rated 5, 4 and one unanswered, Li Na's 2, and a
    survey of a ticket no engineer visited (not in the engineers' table)."""
    now = utcnow()
    rows = [("zhang_wei", "answered", "5"), ("zhang_wei", "answered", "4"), ("zhang_wei", "expired", None),
            ("li_na", "problem", "2"), (None, "answered", "3")]
    async with service.engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", created_at=now).returning(Customer.id))
        for n, (engineer, status, rating) in enumerate(rows):
            ticket = await conn.scalar(insert(Ticket).values(
                number=f"V-2026-{900000 + n}", kind="visit", status="resolved", customer_id=customer, locale="en",
                product_line="household_ac", details={"visit_type": "installation"} if n < 2 else {},
                created_at=now - timedelta(days=5), updated_at=now - timedelta(days=4),
            ).returning(Ticket.id))
            await conn.execute(insert(Survey).values(
                ticket_id=ticket, customer_id=customer, plan="install_3d" if n < 2 else "repair_3d", level="first",
                round=0, status=status, due_at=now - timedelta(days=1, hours=n), question=0,
                answers={"rating": rating} if rating else {}, engineer=engineer, created_at=now,
            ))


async def test_ratings_per_engineer_on_the_reports_page(browser: Browser, service: Service) -> None:
    await seed(service)
    await add_agent(service.engine, login="sup", name="Sun", password_hash=password_hash(), role=Role.SUPERVISOR, now=utcnow())
    problems: list[str] = []
    context = await browser.new_context(base_url=f"http://127.0.0.1:{service.port}", locale="en-US",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    await page.goto("/console/login")
    await page.get_by_label("Login").fill("sup")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.goto("/console/reports")

    table = page.locator("#surveys_by_engineer")
    await expect(table.get_by_role("heading")).to_contain_text("Surveys per engineer")
    headers = await table.locator("thead th").all_text_contents()
    assert headers == ["engineer", "asked", "answered", "answer rate", "average rating"]
    cells = await table.locator("tbody tr").evaluate_all("rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
    assert cells == [["Li Na 李娜", "1", "1", "100%", "2.0"], ["Zhang Wei 张伟", "3", "2", "67%", "4.5"]]

    response = await page.request.get("/console/reports/surveys_by_engineer.csv")
    assert response.status == 200
    exported = Table.from_csv("surveys_by_engineer", "", (await response.body()).decode("utf-8-sig"))
    assert exported.headers == tuple(headers) and [list(row) for row in exported.rows] == cells

    await table.scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await table.screenshot(path=str(SCREENSHOT))
    assert problems == []
    await context.close()
