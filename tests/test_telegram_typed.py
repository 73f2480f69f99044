"""Typed messages over the real Telegram transport (issue 16): the issue's phrases in
all five languages reach their flow through aiogram and the Bot API test server."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Service
from bot.i18n import Translator
from handlers.language_offer import OFFER, YES
from handlers.menu import GREETING
from handlers.repair import REPAIR
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer
from tests.test_flow_typed import LANGUAGES, LEAKING, PERSON, assert_sensible, customer_rows


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_typed_fault_and_person_over_telegram(service: Service, api: FakeBotAPI, language: str, engine: Any) -> None:  # noqa: F811
    t = Translator(LANGUAGES[language], "Asia/Shanghai")
    customer = Customer(api, engine, language=language)
    answer = await customer.say(LEAKING[language])
    assert t._("I noted from your message:") in answer and t._(REPAIR.slot("model").prompt) in answer
    assert t._(GREETING) not in answer
    answer = await customer.say(PERSON[language])  # in the middle of the form: a person still
    assert "R-" in answer or "C-" in answer or "H-" in answer, answer


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_the_held_out_set_over_telegram(service: Service, api: FakeBotAPI, language: str, engine: Any) -> None:  # noqa: F811
    """Every third phrase of the held-out set, each from a new customer, through aiogram."""
    t = Translator(LANGUAGES[language], "Asia/Shanghai")
    for i, row in enumerate(customer_rows(LANGUAGES[language], every=3)):
        customer = Customer(api, engine, user_id=5000 + i, language=language)
        assert_sensible(row, await customer.say(row["text"]), t)


async def test_the_offer_to_switch_language_over_telegram(service: Service, api: FakeBotAPI, engine: Any) -> None:  # noqa: F811
    ru = Translator("ru", "Asia/Shanghai")
    customer = Customer(api, engine, language="en")
    assert ru._(OFFER) not in await customer.say("здравствуйте")
    assert ru._(OFFER) in await customer.say("кондиционер течёт")
    assert ru._("Done: I will write to you in English from now on.") in await customer.tap(ru._(YES))
