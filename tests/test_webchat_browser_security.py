"""Issue 9 in headless Chromium: the Content-Security-Policy holds (no inline script
runs, the page itself breaks none of it), a page of another origin on the same site
cannot open the visitor's socket, and "forget this device" ends the chat."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.app import Service
from bot.config import Settings

pytestmark = pytest.mark.browser  # Chromium: the `browser` fixture of tests/chromium.py

try:
    from playwright.async_api import Browser, Page, expect
except ImportError as missing:  # pragma: no cover - the test extra is not installed
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"Playwright is not installed ({missing}): pip install -e .[test]", allow_module_level=True)



@pytest.fixture
async def service(sqlite_url: str) -> AsyncIterator[Service]:
    service = Service(Settings(database_url=sqlite_url, host="127.0.0.1", port=0, telegram_bot_token=None))
    await service.start()
    yield service
    await service.stop()




@pytest.fixture
async def page(browser: Browser, service: Service) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=f"http://127.0.0.1:{service.port}", locale="en-US", timezone_id="Europe/Moscow",
    )
    page = await context.new_page()
    yield page
    await context.close()


async def open_chat(page: Page) -> list[str]:
    """Open the chat; the console errors and CSP violations seen meanwhile are returned (live list)."""
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto("/")
    await expect(page.locator("#status")).to_be_hidden()
    await expect(page.locator(".msg.bot", has_text="service assistant").last).to_be_visible()
    return problems


async def test_the_csp_lets_the_page_work_and_stops_inline_script(page: Page) -> None:
    problems = await open_chat(page)
    assert problems == []  # the page itself needs nothing the policy forbids
    ran = await page.evaluate("""() => new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (e) => resolve(["blocked", e.violatedDirective]));
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
        setTimeout(() => resolve([window.injected ? "ran" : "silent", ""]), 2000);
    })""")
    assert ran[0] == "blocked" and ran[1].startswith("script-src")
    assert await page.evaluate("() => window.injected") is None


ATTACKER = """<!doctype html><title>attacker</title><script>
  const ws = new WebSocket("ws://127.0.0.1:%(port)d/ws");
  ws.onmessage = (event) => { document.title = "stolen:" + event.data.slice(0, 40); };
  ws.onerror = () => { document.title = "refused"; };
  ws.onclose = () => { if (!document.title.startsWith("stolen")) document.title = "refused"; };
</script>"""


@pytest.fixture
async def attacker(service: Service) -> AsyncIterator[str]:
    """A page on another origin of the same site (127.0.0.1, another port): cookies for
    127.0.0.1 go along with its requests, as for a sibling subdomain."""
    app = web.Application()

    async def evil(_request: web.Request) -> web.Response:
        return web.Response(text=ATTACKER % {"port": service.port}, content_type="text/html")

    app.router.add_get("/", evil)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_regression_another_origin_cannot_open_the_visitors_socket(page: Page, attacker: str) -> None:
    await open_chat(page)  # the victim has a chat, and its cookie
    await page.goto(attacker)
    await expect(page).to_have_title("refused")


async def test_forget_this_device_starts_an_empty_chat(page: Page, service: Service) -> None:
    seen: list[Any] = []
    handle = service.core.handle

    async def spy(event: Any) -> None:
        seen.append(event)
        await handle(event)

    service.core.handle = spy  # type: ignore[method-assign]
    await open_chat(page)
    assert seen[0].timezone_hint == "Europe/Moscow"  # the browser's zone came with the first frame
    box = page.locator("#text")
    await box.fill("my secret address")
    await box.press("Enter")
    await expect(page.locator(".msg.mine", has_text="my secret address")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Forget this device").click()
    await expect(page.locator(".msg.bot", has_text="service assistant").last).to_be_visible()
    await expect(page.locator(".msg.mine", has_text="my secret address")).to_have_count(0)
    assert len({e.user_id for e in seen}) == 2  # a new visitor after the reload
