"""Issue 10 over the real aiogram transport against the Bot API test server: the
bot's commands in Telegram's "/" menu, and a chat that stays usable after Book a visit."""

from __future__ import annotations

from typing import Any

from bot.app import Service
from bot.i18n import Translator
from handlers.menu import ENTRIES, GREETING
from handlers.repair import REPAIR
from handlers.router import COMMANDS
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer


async def test_commands_are_registered_per_language(service: Service, api: FakeBotAPI) -> None:
    await api.wait_until(lambda: ("default", "ru") in api.commands)
    listed = {key: {c["command"]: c["description"] for c in commands} for key, commands in api.commands.items()}
    assert set(listed) == {("default", ""), ("default", "ka"), ("default", "ru"), ("default", "zh")}
    for (_scope, code), commands in listed.items():
        locale = {"": "en", "zh": "zh_Hans"}.get(code, code)
        t = Translator(locale, "Asia/Shanghai")
        assert commands == {name: t._(description) for name, description in COMMANDS.items()}
    assert {"back", "restart", "help", "start", "language"} <= set(listed[("default", "")])
    assert listed[("default", "ru")]["back"] != listed[("default", "")]["back"]  # translated


async def test_back_and_restart_outside_a_form_over_telegram(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    await customer.say("/start")
    assert "do not know the command" not in await customer.say("/back")
    assert GREETING[:20] in await customer.say("/restart")


async def test_start_after_book_a_visit_is_not_stuck(service: Service, api: FakeBotAPI, engine: Any) -> None:
    t = Translator("en", "Asia/Shanghai")
    customer = Customer(api, engine)
    await customer.say("/start")
    # No repair yet: what the engineer should come for, then what needs repairing (issues 12, 13).
    assert t._("What should the engineer come for?") in await customer.tap(t._(ENTRIES["visit"]))
    assert t._(REPAIR.slot("product_line").prompt) in await customer.tap(t._("🛠 A repair"))
    greeting = await customer.say("/start")
    assert t._(GREETING) in greeting
    assert "Added to your request" not in await customer.say("hello?")
    assert t._(REPAIR.slot("product_line").prompt) in await customer.tap(t._(ENTRIES["repair"]))
    assert t._(REPAIR.slot("model").prompt) in await customer.say("laptop")
