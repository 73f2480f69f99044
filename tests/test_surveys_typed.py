"""Typed "stop surveys" and "resume surveys" (issue 13: a "stop surveys" answer is honoured and
can be undone), in all five languages over the real Telegram transport (aiogram and the Bot API
test server), and typed in place of a survey's free-text answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.survey_jobs  # noqa: F401  (registers the survey jobs)
from bot.app import Service
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from bot.jobs import JobRunner
from services.surveys import SurveyStatus
from storage.models import Survey, SurveyOptOut
from tests.clock import ManualClock
from tests.memory_channel import Chat
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer
from tests.test_flow_typed import LANGUAGES
from tests.test_survey_window_reopens import repair_resolved

STOPPED = "Understood: we will not send you any more surveys. You can change your mind at any time."
RESUMED = "Thank you: we will ask you again how our service went."
TYPED = {
    "en": ("please stop sending me surveys", "you can send me surveys again"),
    "ru": ("больше не присылайте мне опросы", "снова присылайте опросы"),
    "zh-hans": ("不要再发调查了", "恢复调查吧"),
    "zh-hant": ("不要再發問卷了", "可以繼續發調查給我"),
    "ka": ("გამოკითხვები აღარ გამომიგზავნოთ", "ისევ გამომიგზავნეთ გამოკითხვები"),
}


async def _opted_out(engine: Any) -> bool:
    async with engine.connect() as conn:
        return await conn.scalar(select(SurveyOptOut.customer_id)) is not None


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_stop_and_resume_typed_over_telegram(service: Service, api: FakeBotAPI, language: str, engine: Any) -> None:  # noqa: F811
    t = Translator(LANGUAGES[language], "Asia/Shanghai")
    customer = Customer(api, engine, language=language)
    stop, resume = TYPED[language]
    assert t._(STOPPED) in await customer.say(stop)
    assert await _opted_out(engine)
    assert t._(RESUMED) in await customer.say(resume)
    assert not await _opted_out(engine)


# --- typed instead of a survey's free-text answer -------------------------------------------------

START = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def test_stop_typed_at_the_comment_question_is_no_comment(engine: AsyncEngine, dispatcher: Dispatcher,
                                                                 runner: JobRunner, clock: ManualClock) -> None:
    chat = Chat(dispatcher, engine, user_id="st1")
    await repair_resolved(chat, dispatcher, engine)
    clock.advance(days=3)
    await runner.run_due()
    assert "Question 1 of 3" in (await chat.collect())[-1].text
    await chat.press(next(c.id for c in chat.last[-1].choices if c.id.endswith(":5")))
    await chat.press(next(c.id for c in chat.last[0].choices if c.id.endswith(":yes")))
    assert "Anything else you would like to tell us?" in chat.text
    await chat.say("stop surveys")
    assert STOPPED in chat.text
    async with engine.connect() as conn:
        survey = (await conn.execute(select(Survey.status, Survey.answers).where(Survey.plan == "repair_3d"))).one()
    assert survey.status == SurveyStatus.SKIPPED and "comment" not in survey.answers
    assert await _opted_out(engine)
