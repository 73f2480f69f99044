"""The agents' console in headless Chromium, with a Telegram customer on the real
aiogram transport against the Bot API test server: the whole hand-over."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Service
from bot.config import Settings
from bot.i18n import Translator
from services.handoff import Role
from storage.agents import add_agent
from storage.models import utcnow
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer
from tests.test_console import PASSWORD, password_hash

pytestmark = pytest.mark.browser  # Chromium: the `browser` fixture of tests/chromium.py


try:
    from playwright.async_api import Browser, BrowserContext, Page, expect
except ImportError as missing:  # pragma: no cover - the test extra is not installed
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"Playwright is not installed ({missing}): pip install -e .[test]", allow_module_level=True)

USER = 5151
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def service(sqlite_url: str, api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=sqlite_url, port=0, telegram_bot_token=api.token,
                               telegram_api_base=api.base_url, telegram_rate_per_chat=0, media_dir=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()




async def open_page(browser: Browser, service: Service, problems: list[str]) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=f"http://127.0.0.1:{service.port}", locale="en-US")
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    return context, page


async def log_in(page: Page, login: str, password: str = PASSWORD) -> None:
    await page.goto("/console/login")
    await page.get_by_label("Login").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Queue")).to_be_visible()


async def test_an_agent_takes_over_a_telegram_customer_in_russian(browser: Browser, service: Service, api: FakeBotAPI) -> None:
    await add_agent(service.engine, login="root", name="Root", password_hash=password_hash(), role=Role.ADMIN, now=utcnow())
    problems: list[str] = []
    # The admin creates an agent on the admin page.
    admin_context, admin = await open_page(browser, service, problems)
    await log_in(admin, "root")
    await admin.get_by_role("link", name="Agents").click()
    form = admin.locator("#add-agent")
    await form.get_by_label("Login").fill("olga")
    await form.get_by_label("Name").fill("Olga")
    await form.get_by_label("Password").fill("olga's long password")
    await form.get_by_role("checkbox", name="Русский").check()
    await form.get_by_role("button", name="Add").click()
    await expect(admin.locator('tr[data-login="olga"]')).to_be_visible()
    await admin_context.close()

    # The agent logs in and watches the queue.
    context, page = await open_page(browser, service, problems)
    await log_in(page, "olga", "olga's long password")
    await expect(page.locator("body[data-live=ready]")).to_be_attached()
    await page.evaluate("window.notReloaded = true")

    # A Telegram customer asks for a person in Russian.
    ru = Translator("ru", "Asia/Shanghai")
    customer = Customer(api, service.engine, user_id=USER, language="ru")
    await customer.say("/start")
    waiting = await customer.say("Позовите оператора, пожалуйста")
    assert ru._("You are number %(position)d in the queue.", position=1) in waiting

    row = page.locator('tr[data-status="queued"]')
    await expect(row).to_have_count(1)  # appeared without a reload:
    assert await page.evaluate("window.notReloaded") is True
    await row.get_by_role("link").click()

    # Claim: the customer hears a person joined.
    await page.get_by_role("button", name="Claim").click()
    await expect(page.locator("#status")).to_contain_text("With Olga")
    await api.wait_until(lambda: any("Olga" in s["text"] for s in customer._sends()), timeout=10)
    joined = [s for s in customer._sends() if "Olga" in s["text"]][-1]
    assert "подключился оператор сервисной службы" in joined["text"]

    # A canned reply, chosen in English, reaches the customer in Russian.
    await page.locator('select[name="canned"]').select_option("greeting")
    await page.get_by_role("button", name="Send canned reply").click()
    greeting = service.company.canned.get("greeting").in_language("ru")
    await api.wait_until(lambda: any(s["text"] == greeting for s in customer._sends()), timeout=10)
    await expect(page.locator(".transcript li.agent").last).to_contain_text(greeting)
    await expect(page.locator(".transcript li.agent .delivery").last).to_have_text("sent")

    # A photo to the customer: checked, stored, sent to Telegram as a photo.
    await page.locator('input[name="file"]').set_input_files(
        files=[{"name": "manual.png", "mimeType": "image/png", "buffer": PNG}])
    await page.get_by_role("button", name="Send file").click()
    await api.wait_until(lambda: any(s["method"] == "sendPhoto" for s in api.sent_to(USER)), timeout=10)
    await expect(page.locator(".transcript li.agent img")).to_have_count(1)

    # The customer answers with a photo: it shows in the console.
    api.user_message(USER, "Вот фото", language_code="ru", photo=True)
    image = page.locator(".transcript li.customer img").last
    await expect(image).to_be_attached()
    fetched = await page.request.get(await image.get_attribute("src"))
    assert fetched.status == 200 and await fetched.body() == f"photo from {USER}".encode()

    # The customer answers; the bot stays silent and the console shows it live.
    before = len(customer._sends())
    api.user_message(USER, "Спасибо, у меня сломался кондиционер", language_code="ru")
    await expect(page.locator(".transcript li.customer").last).to_contain_text("сломался кондиционер")
    assert len(customer._sends()) == before

    # Resolve: the customer is back with the bot.
    await page.locator('select[name="resolution"]').select_option("answered")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#status")).to_contain_text("With the assistant")
    await api.wait_until(lambda: any("решена" in s["text"] for s in customer._sends()), timeout=10)
    customer.seen = len(customer._sends())
    assert ru._("How can I help you?") in await customer.say("/menu")
    await context.close()
    assert not problems, problems


@pytest.fixture
async def two_workers(postgres_url: str) -> AsyncIterator[tuple[Service, int]]:
    """The console's worker here; the web chat's in another process (`tests.chat_worker`), one PostgreSQL."""
    import asyncio
    import sys

    from storage.db import create_engine
    from tests.conftest import empty_tables

    engine = create_engine(postgres_url)
    await empty_tables(engine)
    await engine.dispose()
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.chat_worker", postgres_url, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent,
    )
    assert other.stdout is not None and other.stdin is not None
    console = Service(Settings(database_url=postgres_url, port=0, telegram_bot_token=None))
    try:
        line = (await asyncio.wait_for(other.stdout.readline(), 60)).decode()
        assert line.startswith("port "), line
        await console.start()
        yield console, int(line.split()[1])
    finally:
        await console.stop()
        other.stdin.write(b"stop\n")
        await other.stdin.drain()
        try:
            await asyncio.wait_for(other.wait(), 30)
        except TimeoutError:
            other.kill()
            await other.wait()


async def test_an_agent_talks_with_a_web_visitor_on_another_worker_process(browser: Browser, two_workers: tuple[Service, int]) -> None:
    console, chat_port = two_workers
    await add_agent(console.engine, login="ann", name="Ann", password_hash=password_hash(), role=Role.AGENT, now=utcnow(),
                    languages=["ru"])
    problems: list[str] = []
    context, page = await open_page(browser, console, problems)
    await log_in(page, "ann")
    await expect(page.locator("body[data-live=ready]")).to_be_attached()

    # The visitor, on the other process's web chat, asks for a person in Russian.
    visitor_context = await browser.new_context(base_url=f"http://127.0.0.1:{chat_port}", locale="ru-RU")
    visitor = await visitor_context.new_page()
    visitor.on("pageerror", lambda error: problems.append(f"visitor page error: {error}"))
    await visitor.goto("/")
    await expect(visitor.locator("#status")).to_be_hidden()
    box = visitor.locator("#text")
    await box.fill("Позовите оператора")
    await box.press("Enter")
    ru = Translator("ru", "Asia/Shanghai")
    position = ru._("You are number %(position)d in the queue.", position=1)
    await expect(visitor.locator(".msg.bot", has_text=position).last).to_be_visible()

    # It reaches this worker's console live (LISTEN/NOTIFY); the agent claims and answers.
    row = page.locator('tr[data-status="queued"]')
    await expect(row).to_have_count(1)
    await row.get_by_role("link").click()
    await page.get_by_role("button", name="Claim").click()
    await expect(page.locator("#status")).to_contain_text("With Ann")
    await expect(visitor.locator(".msg.bot", has_text="Ann").last).to_be_visible()
    await page.locator("form.reply textarea").fill("Здравствуйте, меня зовут Анна, слушаю вас.")
    await page.locator("form.reply").get_by_role("button", name="Send").click()
    await expect(visitor.locator(".msg.bot", has_text="меня зовут Анна").last).to_be_visible()

    # The visitor answers: the console shows it live, the bot stays silent.
    bot_lines = await visitor.locator(".msg.bot").count()
    await box.fill("Кондиционер не греет")
    await box.press("Enter")
    await expect(page.locator(".transcript li.customer").last).to_contain_text("Кондиционер не греет")
    assert await visitor.locator(".msg.bot").count() == bot_lines

    # Resolved: the visitor is back with the bot.
    await page.locator('select[name="resolution"]').select_option("answered")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#status")).to_contain_text("With the assistant")
    await expect(visitor.locator(".msg.bot", has_text="решена").last).to_be_visible()
    await visitor_context.close()
    await context.close()
    assert not problems, problems
