"""Typed messages in the web chat (issue 16): the issue's phrases in all five languages."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Service
from bot.i18n import Translator
from handlers.language_offer import OFFER, YES
from handlers.menu import GREETING
from handlers.repair import REPAIR
from tests.test_flow_typed import LEAKING, PERSON, assert_sensible, customer_rows
from tests.test_webchat_protocol import LOCALES, opened, service  # noqa: F401  (fixture)

LANGUAGE = {"en": "en", "zh_Hans": "zh-hans", "zh_Hant": "zh-hant", "ka": "ka", "ru": "ru"}


@pytest.mark.parametrize("locale", list(LOCALES))
async def test_typed_fault_and_person_in_the_web_chat(service: Service, engine: Any, locale: str) -> None:  # noqa: F811
    t = Translator(locale, "Asia/Shanghai")
    async with opened(service, LOCALES[locale]) as visitor:
        answer = await visitor.say(PERSON[LANGUAGE[locale]])
        assert t._(GREETING) not in answer and "H-" in answer or "R-" in answer, answer
        await visitor.say("/start")
        answer = await visitor.say(LEAKING[LANGUAGE[locale]])
        assert t._("I noted from your message:") in answer and t._(REPAIR.slot("model").prompt) in answer


@pytest.mark.parametrize("locale", list(LOCALES))
async def test_the_held_out_set_in_the_web_chat(service: Service, engine: Any, locale: str) -> None:  # noqa: F811
    """Every third phrase of the held-out set, each from a new visitor, over the socket."""
    t = Translator(locale, "Asia/Shanghai")
    for row in customer_rows(locale, every=3):
        async with opened(service, LOCALES[locale]) as visitor:
            assert_sensible(row, await visitor.say(row["text"]), t)


async def test_the_offer_to_switch_language_in_the_web_chat(service: Service, engine: Any) -> None:  # noqa: F811
    """A visitor whose first message was Georgian (the web chat's language then) writes Chinese:
    offered once, switched by the button."""
    zh = Translator("zh_Hans", "Asia/Shanghai")
    async with opened(service, LOCALES["ka"]) as visitor:
        assert "გამარჯობა" in await visitor.say("გამარჯობა")
        assert zh._(OFFER) not in await visitor.say("你好")
        assert zh._(OFFER) in await visitor.say("空调漏水了")
        assert zh._("Done: I will write to you in English from now on.") in await visitor.tap(zh._(YES))
        assert zh._(OFFER) not in await visitor.say("谢谢")
