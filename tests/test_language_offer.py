"""Typed messages in another language (issue 16): two in a row bring one polite offer to
switch, in that language, with buttons; and what a customer waiting for a person may still
ask the bot."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.language import written_in
from bot.i18n import Translator, locale_names
from handlers.language_offer import OFFER, YES
from services.language_offer import Streak, observe, offered, to_offer
from tests.memory_channel import Chat
from tests.test_flow_typed import LANGUAGES, dispatcher, t_for  # noqa: F401  (fixture)
from tests.test_flow_warranty import tickets

# (the channel's language, two messages in another, that language)
WRITING = [
    ("en", ("здравствуйте", "кондиционер течёт"), "ru"),
    ("ru", ("hello, is anyone there", "my air conditioner is leaking"), "en"),
    ("zh-hans", ("გამარჯობა", "კონდიციონერი წყალს ჟონავს"), "ka"),
    ("ka", ("你好", "空调漏水了"), "zh_Hans"),
    ("zh-hans", ("你們好", "冷氣漏水了，這個問題要怎麼處理"), "zh_Hant"),
]


@pytest.mark.parametrize(("language", "typed", "other"), WRITING)
async def test_two_messages_in_another_language_bring_one_offer(
    new_chat: Callable[..., Chat], language: str, typed: tuple[str, str], other: str,
) -> None:
    chat = new_chat(language=language)
    offer = Translator(other, "Asia/Shanghai")
    await chat.say(typed[0])
    assert offer._(OFFER) not in chat.text  # one message is not yet "keeps writing"
    await chat.say(typed[1])
    assert chat.last[-1].text == offer._(OFFER)  # after the answer, in the language they write
    assert offer._(OFFER) != Translator(LANGUAGES[language], "Asia/Shanghai")._(OFFER)
    assert [c.id for c in chat.last[-1].choices] == [f"lang:{other}", f"lang:{LANGUAGES[language]}"]
    assert chat.last[-1].choices[1].label == locale_names()[LANGUAGES[language]]
    await chat.tap(offer._(YES))
    assert offer._("Done: I will write to you in English from now on.") in chat.text
    await chat.say(typed[0])
    assert offer._(OFFER) not in chat.text  # now their language: nothing to offer


@pytest.mark.parametrize(("language", "typed", "other"), WRITING[:4])
async def test_declined_it_is_not_offered_again(
    new_chat: Callable[..., Chat], language: str, typed: tuple[str, str], other: str,
) -> None:
    chat = new_chat(language=language)
    offer = Translator(other, "Asia/Shanghai")
    await chat.say(typed[0])
    await chat.say(typed[1])
    await chat.tap(locale_names()[LANGUAGES[language]])  # no, keep this one
    assert t_for(language)._("Done: I will write to you in English from now on.") in chat.text
    for text in (*typed, *typed):
        await chat.say(text)
        assert offer._(OFFER) not in chat.text


async def test_a_message_in_their_own_language_breaks_the_row(new_chat: Callable[..., Chat]) -> None:
    chat = new_chat(language="en")
    offer = Translator("ru", "Asia/Shanghai")
    for text in ("здравствуйте", "hello, is anyone there", "спасибо", "HA2403000123"):
        await chat.say(text)
        assert offer._(OFFER) not in chat.text, text
    await chat.say("кондиционер течёт")  # the serial number told no language: two in a row now
    assert chat.last[-1].text == offer._(OFFER)
    await chat.say("/cancel")
    for text in ("спасибо", "здравствуйте", "кондиционер течёт"):
        await chat.say(text)
        assert offer._(OFFER) not in chat.text  # offered once, not again


def test_the_row_and_the_offer() -> None:
    row = observe(Streak(), "ru", "en")
    assert row == Streak("ru", 1) and to_offer(row, set()) is None
    row = observe(observe(row, None, "en"), "ru", "en")  # no hint between: still in a row
    assert to_offer(row, set()) == "ru" and to_offer(row, {"ru"}) is None
    assert observe(row, "en", "en") == Streak() and observe(row, "ka", "en") == Streak("ka", 1)
    assert Streak.parse(row.stored()) == row and Streak.parse("junk") == Streak() and offered("ru,ka") == {"ru", "ka"}


@pytest.mark.parametrize(("text", "current", "written"), [
    ("кондиционер течёт", "en", "ru"),
    ("my aircon is leaking", "ru", "en"),
    ("HA2403000123", "ru", None),  # a serial number tells no language
    ("ok", "ru", None),
    ("KFR-35GW空调滴水", "en", "zh_Hans"),
    ("你好", "zh_Hant", "zh_Hant"),  # the same in both scripts: theirs
    ("這個冷氣壞了", "zh_Hans", "zh_Hant"),
    ("这个空调坏了", "zh_Hant", "zh_Hans"),
    ("კონდიციონერი ჟონავს", "ru", "ka"),
])
def test_the_language_a_message_is_written_in(text: str, current: str, written: str | None) -> None:
    assert written_in(text, current) == written


# --- waiting for a person ------------------------------------------------------------------------

WAITING = {
    "en": ("operator", "my tickets", "cancel", "it is still dripping, please hurry"),
    "zh-hans": ("转人工", "我的工单", "取消", "还在滴水，麻烦快点"),
    "zh-hant": ("轉人工", "我的工單", "取消", "還在滴水，麻煩快一點"),
    "ka": ("ოპერატორი", "ჩემი მოთხოვნები", "გააუქმე", "ისევ წვეთავს, გთხოვთ იჩქარეთ"),
    "ru": ("оператор", "мои заявки", "отмена", "всё ещё капает, побыстрее пожалуйста"),
}


@pytest.mark.parametrize("language", list(WAITING))
async def test_while_waiting_for_a_person_the_bot_still_answers_plain_requests(
    new_chat: Callable[..., Chat], engine: AsyncEngine, language: str,
) -> None:
    person, my_tickets, cancel, story = WAITING[language]
    t = t_for(language)
    chat = new_chat(language=language)
    await chat.say(person)
    [ticket] = await tickets(engine)
    number = chat.text.split("H-", 1)[1][:11]
    added = t._("Added to your request %(number)s. A person will answer here.", number=f"H-{number}")
    await chat.say(story)  # for the person
    assert added in chat.text
    await chat.say(my_tickets)  # for the bot: the list, not added to the request
    assert added not in chat.text and f"H-{number}" in chat.text
    await chat.say(story)
    assert added in chat.text  # still waiting
    await chat.say(cancel)
    assert t._("You are back with the assistant. Write /agent whenever you want a person again.") in chat.text
    await chat.say(story)
    assert added not in chat.text
