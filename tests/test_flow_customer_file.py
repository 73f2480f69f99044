"""The customer's file, exported to them in the chat (/mydata, or from My tickets)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n import Translator
from tests.memory_channel import Chat
from tests.test_flow_warranty import ask, register


async def test_the_whole_file_and_nobody_elses(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "HA2403000123", "household_ac", "KFR-35GW", date(2025, 3, 8))
    await register(engine, "LS2406000777", "laser", "GF-1530", None, acceptance_date=date(2025, 7, 1),
                   customer_phone="+8613800138009")
    me, other = new_chat("me"), new_chat("other")
    await ask(me, "HA2403000123")  # their own contact proves the dealer's record: links the unit to me
    first = await me.report_repair("household_ac", serial="HA2403000123", location=(31.2304, 121.4737))
    await other.report_repair("laser", serial="LS2406000777", phone="+86 138 0013 8009", proof=True)
    mine_number = first.split("request ")[1].split(" ")[0]

    await me.say("/start")
    await me.press("menu:tickets")
    assert "menu:mydata" in [c.id for c in me.last[-1].choices]
    await me.press("menu:mydata")
    text = me.text
    t = Translator("en", "Asia/Shanghai")
    assert "Phone: +8613800138000\n" in text and "Time zone: Shanghai" in text and "Language: English" in text
    assert "Your product (1):" in text and "HA2403000123" in text and f"bought {t.date(date(2025, 3, 8), 'long')}" in text
    assert "Your ticket (1):" in text and mine_number in text
    assert "LS2406000777" not in text  # only my own

    await other.say("/mydata")
    assert "LS2406000777" in other.text and "accepted" in other.text and mine_number not in other.text


async def test_a_typed_phone_is_shown_as_not_confirmed(chat: Chat) -> None:
    await chat.report_repair("household_ac", phone="+86 138 0013 8000")  # typed, not their own contact
    await chat.say("/mydata")
    assert "Phone: +8613800138000 (not confirmed)" in chat.text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", ["Всё, что мы о вас храним:", "Часовой пояс: ещё не задан", "На ваше имя пока не зарегистрировано ни одного изделия."]),
        ("ka", ["ყველაფერი, რაც თქვენ შესახებ გვაქვს:", "თქვენზე ჯერ არცერთი პროდუქტი არ არის დარეგისტრირებული."]),
        ("zh-hans", ["我们保存的关于您的全部信息：", "时区：尚未设置"]),
        ("zh-hant", ["我們保存的關於您的全部資訊：", "時區：尚未設定"]),
    ],
)
async def test_an_empty_file_in_every_language(new_chat: Callable[..., Chat], language: str, expected: list[str]) -> None:
    chat = new_chat(language=language)
    await chat.say("/mydata")
    for part in expected:
        assert part in chat.text
