"""Typed messages over the real Telegram transport (issue 16): the issue's phrases in
all five languages reach their flow through aiogram and the Bot API test server."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Service
from bot.i18n import Translator
from handlers.menu import GREETING
from handlers.repair import REPAIR
from tests.telegram_server import FakeBotAPI
from tests.test_flow_typed import LANGUAGES, LEAKING, PERSON
from tests.test_telegram_e2e import Customer, api, service  # noqa: F401  (fixtures)


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_typed_fault_and_person_over_telegram(service: Service, api: FakeBotAPI, language: str, engine: Any) -> None:  # noqa: F811
    t = Translator(LANGUAGES[language], "Asia/Shanghai")
    customer = Customer(api, engine, language=language)
    answer = await customer.say(LEAKING[language])
    assert t._("I noted from your message:") in answer and t._(REPAIR.slot("model").prompt) in answer
    assert t._(GREETING) not in answer
    answer = await customer.say(PERSON[language])  # in the middle of the form: a person still
    assert "R-" in answer or "C-" in answer or "H-" in answer, answer
