"""Typed messages through the dispatcher (issue 16): the right flow, details prefilled,
"did you mean" when unsure, and a form never thrown away by an answer."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from handlers.menu import ENTRIES, GREETING
from handlers.repair import REPAIR
from handlers.router import route
from handlers.typed import NOT_SURE
from tests.memory_channel import Chat
from tests.test_flow_warranty import tickets

LANGUAGES = {"en": "en", "zh-hans": "zh_Hans", "zh-hant": "zh_Hant", "ka": "ka", "ru": "ru"}
LEAKING = {
    "en": "my air conditioner is leaking water",
    "zh-hans": "空调漏水了",
    "zh-hant": "冷氣漏水了",
    "ka": "კონდიციონერი წყალს ჟონავს",
    "ru": "кондиционер течёт",
}
PERSON = {
    "en": "operator",
    "zh-hans": "转人工客服",
    "zh-hant": "轉人工客服",
    "ka": "ოპერატორთან დამაკავშირეთ",
    "ru": "хочу поговорить с человеком",
}


@pytest.fixture
async def dispatcher(engine: AsyncEngine, company: Company) -> AsyncIterator[Dispatcher]:
    """The core on a fixed clock: Thursday 3 December 2026, 11:00 in Shanghai."""
    core = Dispatcher(engine, company, route, clock=lambda: datetime(2026, 12, 3, 3, 0, tzinfo=UTC))
    yield core
    await core.close()


def t_for(language: str) -> Translator:
    return Translator(LANGUAGES[language], "Asia/Shanghai")


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_a_typed_fault_starts_the_repair_with_product_and_fault(new_chat: Callable[..., Chat], language: str) -> None:
    t = t_for(language)
    chat = new_chat(language=language)
    await chat.say(LEAKING[language])
    assert t._("I noted from your message:") in chat.text and LEAKING[language] in chat.text  # the fault
    assert t._(REPAIR.slot("model").prompt) in chat.text  # the product is known: next, the model
    assert t._(GREETING) not in chat.text


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_asking_for_a_person_hands_over(new_chat: Callable[..., Chat], engine: AsyncEngine, language: str) -> None:
    chat = new_chat(language=language)
    await chat.say(PERSON[language])
    assert [(ticket.kind, ticket.status) for ticket in await tickets(engine)] == [("person", "queued")]


async def test_details_of_one_message_are_not_asked_again(chat: Chat) -> None:
    await chat.say("my aircon KFR-35GW is dripping water, call me on +44 7911 123456 tomorrow morning")
    assert "I noted from your message" in chat.text and "+447911123456" in chat.text
    assert "Wall-mounted split air conditioner, 3.5 kW" in chat.text or "KFR-35GW" in chat.text
    assert "serial number" in chat.text.lower()  # the next question: model, fault, phone and day are known
    await chat.tap("Skip")  # serial
    await chat.tap("Skip")  # files
    await chat.say("12 Nanjing Road, Shanghai")
    summary = chat.text  # nothing more to ask: the summary to confirm
    assert "Is everything correct?" in summary, summary


async def test_unsure_asks_with_buttons_never_the_bare_greeting(chat: Chat) -> None:
    await chat.say("hm, about my thing from last week")
    t = t_for("en")
    assert t._(NOT_SURE) in chat.text and t._(GREETING) not in chat.text
    offered = chat.last_choices()
    assert t._(ENTRIES["person"]) in offered and t._(ENTRIES["repair"]) in offered
    await chat.tap("Talk to a person")
    assert "asked a person" in chat.text


async def test_small_talk(chat: Chat) -> None:
    await chat.say("hello")
    assert "service assistant" in chat.text
    await chat.say("thanks a lot, bye")
    assert "You are welcome" in chat.text


@pytest.mark.parametrize("answer", [
    "the operator panel is broken and it beeps",  # names an operator, but describes the fault
    "cancelled flights aside, the unit just stopped",
    "человек который приходил в прошлый раз сломал дверцу",
])
async def test_an_answer_in_a_form_is_never_taken_for_a_command(chat: Chat, engine: AsyncEngine, answer: str) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.tap("I don't know")
    await chat.tap("Skip")  # no serial
    await chat.say(answer)
    assert "photos" in chat.text  # the next question: the fault was taken as the answer
    assert await tickets(engine) == []  # nothing handed over


@pytest.mark.parametrize(("typed", "wanted"), [("operator please", "person"), ("отмена", "cancel"), ("取消", "cancel")])
async def test_a_person_or_cancel_typed_in_a_form_acts(chat: Chat, engine: AsyncEngine, typed: str, wanted: str) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.say(typed)
    if wanted == "person":
        assert [(ticket.kind, ticket.status) for ticket in await tickets(engine)] == [("person", "queued")]
    else:
        assert "Nothing was saved" in chat.text and await tickets(engine) == []


CUSTOMERS = Path(__file__).parent / "data" / "nlu_customers.csv"


def customer_rows(locale: str, every: int = 1) -> list[dict[str, str]]:
    """Rows of the held-out set in `locale` (every `every`th)."""
    rows = [row for row in csv.DictReader(CUSTOMERS.open(encoding="utf-8")) if row["locale"] == locale]
    return rows[::every]


def assert_sensible(row: dict[str, str], answer: str, t: Translator) -> None:
    """Never an error, never the bare greeting for a request; a repair starts (or is offered),
    a request for a person reaches one."""
    assert answer and t._("Sorry, something went wrong on our side.")[:20] not in answer, row
    if row["intent"] not in ("greeting", "other"):
        assert not answer.startswith(t._(GREETING)), (row, answer)
    if row["intent"] == "repair":
        offered = t._(NOT_SURE) in answer or bool(row["serial"] and row["serial"] in answer)  # asked, or "PC…: what to do?"
        assert offered or any(t._(slot.prompt) in answer for slot in REPAIR.slots), (row, answer)
    if row["intent"] == "person":
        assert "H-" in answer, (row, answer)  # the person ticket's number


async def test_every_phrase_of_the_evaluation_set_gets_a_sensible_answer(new_chat: Callable[..., Chat]) -> None:
    """Through the real dispatcher and store: never the bare greeting, never an error;
    a request for a person always reaches one."""
    rows = list(csv.DictReader((Path(__file__).parent / "data" / "nlu_eval.csv").open(encoding="utf-8")))
    channel_code = {v: k for k, v in LANGUAGES.items()}
    for i, row in enumerate(rows):
        t = t_for(channel_code[row["locale"]])
        chat = new_chat(user_id=f"eval{i}", language=channel_code[row["locale"]])
        await chat.say(row["text"])
        assert chat.text and t._("Sorry, something went wrong on our side.")[:20] not in chat.text, row
        if row["intent"] not in ("greeting", "other"):
            assert chat.text != t._(GREETING) and not chat.text.startswith(t._(GREETING)), row
        if row["intent"] == "person":
            assert "H-" in chat.text, row  # the person ticket's number


def offered_days(chat: Chat) -> set[tuple[date, bool]]:
    """(local day, starts in the morning) of every visit window the latest answer offers."""
    shanghai = ZoneInfo("Asia/Shanghai")
    starts = [datetime.fromtimestamp(int(c.id.split(":")[2].split("-")[0]) * 60, UTC).astimezone(shanghai)
              for c in chat.last[-1].choices if c.id.startswith("visit:pick:")]
    return {(s.date(), s.hour < 12) for s in starts}


@pytest.mark.parametrize(("language", "typed", "day", "morning"), [
    ("en", "friday morning", date(2026, 12, 4), True),
    ("ru", "в пятницу утром", date(2026, 12, 4), True),
    ("zh-hans", "周五上午", date(2026, 12, 4), True),
    ("zh-hant", "星期五上午", date(2026, 12, 4), True),
    ("ka", "პარასკევს დილით", date(2026, 12, 4), True),
    ("en", "on monday", date(2026, 12, 7), None),  # the whole day
])
async def test_a_typed_day_picks_the_visit_windows(
    new_chat: Callable[..., Chat], language: str, typed: str, day: date, morning: bool | None,
) -> None:
    """Thursday 3 December in Shanghai, where the customer's phone is: "Friday" is tomorrow."""
    chat = new_chat(language=language)
    await chat.report_repair("household_ac", phone="+86 138 0013 8000")  # then the engineer's windows are offered
    await chat.say(typed)
    offered = offered_days(chat)
    assert offered and {d for d, _ in offered} == {day}, chat.text
    if morning is not None:
        assert {m for _, m in offered} == {morning}


@pytest.mark.parametrize(("language", "typed", "address"), [
    ("zh-hans", "KFR-35GW空调漏水，明天上午来，地址浦东新区张江路100号，电话13812345678", "浦东新区张江路100号"),
    ("ru", "кондиционер KFR-35GW течёт, приходите в пятницу утром, ул. Ленина 5, кв. 12, телефон 8 912 345-67-89",
     "ул. Ленина 5, кв. 12"),
    ("ka", "კონდიციონერი KFR-35GW ჟონავს, ხვალ დილით მოდით, რუსთაველის გამზირი 12, 599 12 34 56", "რუსთაველის გამზირი 12"),
])
async def test_an_address_in_the_first_message_is_not_asked_again(
    new_chat: Callable[..., Chat], language: str, typed: str, address: str,
) -> None:
    t = t_for(language)
    chat = new_chat(language=language)
    await chat.say(typed)
    assert t._("I noted from your message:") in chat.text and address in chat.text, chat.text
    await chat.press("repair.serial:skip")
    await chat.press("repair.files:skip")
    summary = chat.text  # place and phone known: the summary to confirm
    assert t._(REPAIR.slot("place").prompt) not in summary and address in summary, summary
    await chat.press("repair.confirm:submit")
    assert "R-2026-" in chat.text  # registered (a street without a city names no service centre: a call, not windows)


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_the_held_out_set_gets_sensible_answers(new_chat: Callable[..., Chat], language: str) -> None:
    t = t_for(language)
    for i, row in enumerate(customer_rows(LANGUAGES[language])):
        chat = new_chat(user_id=f"held{i}", language=language)
        await chat.say(row["text"])
        assert_sensible(row, chat.text, t)


async def test_a_day_in_the_first_message_opens_the_visit_offer_there(new_chat: Callable[..., Chat]) -> None:
    chat = new_chat(language="en")
    await chat.say("my air conditioner KFR-35GW is leaking, please come on monday morning, phone +86 138 0013 8000")
    await chat.press("repair.serial:skip")
    await chat.press("repair.files:skip")
    await chat.say("Shanghai, Huaihai Road 1")
    await chat.press("repair.confirm:submit")
    assert offered_days(chat) == {(date(2026, 12, 7), True)}, chat.text  # Monday morning's windows, not tomorrow's
