"""The supervisors' reports page in headless Chromium: the early warning, server-rendered SVG
charts that load, CSV exports that read back to the page's tables, and an agent refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.app import Service
from bot.config import Settings
from handlers.report_jobs import check_warnings
from services.handoff import Role
from services.reports import Span, Table
from storage.agents import add_agent
from storage.models import Customer, Survey, Ticket, utcnow
from storage.reports import report
from tests.test_console import PASSWORD, password_hash

pytestmark = pytest.mark.browser

try:
    from playwright.async_api import Browser, expect
except ImportError as missing:  # pragma: no cover - the test extra is not installed
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"Playwright is not installed ({missing}): pip install -e .[test]", allow_module_level=True)

SCREENSHOT = Path(os.environ.get("SURVEYS_SCREENSHOT", "/work/wt/notes/surveys-report.png"))


@pytest.fixture
async def service(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=sqlite_url, port=0, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


async def seed(service: Service) -> None:
    """Two weeks of tickets: one model's fault recurring, promises kept and missed, surveys, complaints."""
    now = utcnow()
    async with service.engine.begin() as conn:
        customer = await conn.scalar(insert(Customer).values(locale="en", created_at=now).returning(Customer.id))
        models = ["KFR-35GW"] * 5 + ["KFR-50LW"] * 2 + ["RSJ-200"] * 2
        lines = {"KFR-35GW": "household_ac", "KFR-50LW": "household_ac", "RSJ-200": "water_heater"}
        for n, model in enumerate(models):
            opened = now - timedelta(days=n % 6 + 1, hours=n)
            await conn.execute(insert(Ticket).values(
                number=f"R-2026-{800000 + n}", kind="repair", status="resolved", customer_id=customer, locale="en",
                product_line=lines[model], model=model, category="leak" if model == "KFR-35GW" or n % 3 else "noise",
                details={"sla": {"class": "city" if n % 2 else "within_300km"}}, created_at=opened, updated_at=now,
                first_response_due=opened + timedelta(hours=1), first_response_at=opened + timedelta(minutes=40 if n % 4 else 80),
            ))
        for n, status in enumerate(("resolved", "resolved", "closed", "queued")):
            await conn.execute(insert(Ticket).values(
                number=f"C-2026-{800000 + n}", kind="complaint", status=status, customer_id=customer, locale="en",
                resolution="verified" if status == "closed" else None, details={}, created_at=now - timedelta(days=2),
                updated_at=now - timedelta(days=1),
            ))
        first = await conn.scalar(select(Ticket.id).order_by(Ticket.id))
        for n, (plan, status, rating) in enumerate([
            ("repair_3d", "answered", "5"), ("repair_3d", "answered", "4"), ("repair_3d", "problem", "2"),
            ("repair_3d", "expired", None), ("complaint_3d", "answered", "4"), ("head_office_7d", "answered", "3"),
            ("repair_3d", "undeliverable", None),
        ]):
            await conn.execute(insert(Survey).values(
                ticket_id=first + n, customer_id=customer, plan=plan, level="first", round=0, status=status,
                due_at=now - timedelta(days=1, hours=n), question=0, answers={"rating": rating} if rating else {},
                note="wechat_window_closed" if status == "undeliverable" else None, created_at=now,
            ))


async def test_reports_page(browser: Browser, service: Service) -> None:
    await seed(service)
    async with service.engine.begin() as conn:  # what the daily job does: supervisors are alerted
        assert len(await check_warnings(conn, utcnow())) == 1
    await add_agent(service.engine, login="sup", name="Sun", password_hash=password_hash(), role=Role.SUPERVISOR, now=utcnow())
    await add_agent(service.engine, login="ag", name="Ann", password_hash=password_hash(), role=Role.AGENT, now=utcnow())
    problems: list[str] = []
    context = await browser.new_context(base_url=f"http://127.0.0.1:{service.port}", locale="en-US",
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))

    # An agent is refused the page (and its exports).
    await page.goto("/console/login")
    await page.get_by_label("Login").fill("ag")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    await expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    assert (await page.request.get("/console/reports")).status == 403
    assert (await page.request.get("/console/reports/by_model.csv")).status == 403
    await page.get_by_role("button", name="Log out").click()
    problems.clear()  # the 403s above are logged as console errors by design

    # A supervisor opens the reports.
    await page.get_by_label("Login").fill("sup")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Supervisor").click()
    alert = page.locator("#early-warnings li")
    await expect(alert).to_have_count(1)
    await expect(alert).to_contain_text("KFR-35GW")
    await page.get_by_role("link", name="Reports").click()
    await expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    await expect(page.locator("#notices li")).to_contain_text("Early warning: KFR-35GW (month)")
    warnings = page.locator("#warnings li")
    await expect(warnings).to_have_count(1)
    await expect(warnings).to_contain_text("KFR-35GW")
    await expect(page.locator("#by_model tbody tr").first).to_contain_text("KFR-35GW")
    await expect(page.locator("#complaints tbody")).to_contain_text("1")
    await expect(page.locator("#awaiting li")).to_have_count(2)
    await expect(page.locator("#unsent li")).to_have_count(1)

    # The charts are SVG rendered on the server, and they load.
    images = page.locator("#charts img")
    await expect(images).to_have_count(3)
    await page.wait_for_function("Array.from(document.querySelectorAll('#charts img')).every(i => i.complete && i.naturalWidth > 0)")
    svg = await page.request.get("/console/reports/chart/volume.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in await svg.body()

    # Each table's CSV reads back to the table the page shows.
    expected = await report(service.engine, Span.WEEKLY, utcnow().replace(second=0, microsecond=0), service.console.report_thresholds)
    for table in expected.tables:
        response = await page.request.get(f"/console/reports/{table.key}.csv")
        assert response.status == 200 and "attachment" in response.headers["content-disposition"]
        again = Table.from_csv(table.key, table.title, (await response.body()).decode("utf-8-sig"))
        assert again.rows == table.rows, table.key
        cells = await page.locator(f"#{table.key} tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
        if table.rows:
            assert [tuple(row) for row in cells] == list(table.rows), table.key
    assert (await page.request.get("/console/reports/nothing.csv")).status == 404

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert problems == []
    await context.close()
