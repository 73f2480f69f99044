"""Typed messages in the web chat (issue 16): the issue's phrases in all five languages."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Service
from bot.i18n import Translator
from handlers.menu import GREETING
from handlers.repair import REPAIR
from tests.test_flow_typed import LEAKING, PERSON
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
