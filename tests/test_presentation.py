"""Issue 10, items 15-20: how answers look -- keyboards, labels, lists, money,
dates, plurals and the zone times are given in. Each test is named after what it pins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from bot.company import Company
from bot.core.dispatcher import Dispatcher
from bot.core.events import Event, Kind
from bot.i18n import Translator
from handlers.router import route
from handlers.warranty import product_name
from services.warranty_check import ProductRecord
from storage.models import OutboxRow
from tests.memory_channel import Chat
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer, settings
from tests.test_flow_warranty import TODAY, ask, clock, register  # noqa: F401 - clock: the fixed-instant fixture

# --- 15: the share button goes when the form moves on --------------------------------


@pytest.fixture
async def telegram(db_url: str, engine: AsyncEngine) -> AsyncIterator[FakeBotAPI]:
    """The whole service (aiogram polling, outbox sender) against the Bot API test server."""
    async with FakeBotAPI() as api:
        service = Service(settings(db_url, api))
        await service.start()
        try:
            yield api
        finally:
            await service.stop()


def _markups(api: FakeBotAPI, since: int) -> list[Any]:
    return [s.get("reply_markup") for s in api.sent_to(4242)[since:] if s["method"] == "sendMessage"]


async def _to_the_location_step(customer: Customer) -> None:
    await customer.say("/start")
    await customer.tap("🛠")
    await customer.tap_first()  # product
    await customer.tap_first()  # model
    await customer.tap("Skip")  # serial
    await customer.say("Water drips from the indoor unit")
    await customer.tap("Skip")  # files


async def test_share_keyboard_is_removed_when_the_form_moves_on(telegram: FakeBotAPI, engine: AsyncEngine) -> None:
    api = telegram
    customer = Customer(api, engine)
    await _to_the_location_step(customer)
    assert customer._sends()[-2]["reply_markup"]["keyboard"][0][0]["request_location"] is True
    await customer.say("Shanghai, Huaihai Road 1")  # typed, not shared: the location button still shows
    # The phone question brings its own share button, which replaces the location one.
    assert customer._sends()[-2]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    before = len(api.sent_to(4242))
    assert "Is everything correct?" in await customer.say("+86 138 0013 8000")
    question, buttons = _markups(api, before)
    assert question == {"remove_keyboard": True}  # the text alone takes the share button away ...
    assert buttons["inline_keyboard"]  # ... and the days follow under it
    before = len(api.sent_to(4242))
    await customer.tap_first()
    await customer.say("/start")
    assert all("remove_keyboard" not in (m or {}) for m in _markups(api, before))  # nothing left to remove


async def test_share_keyboard_is_removed_when_the_customer_cancels_or_restarts(telegram: FakeBotAPI, engine: AsyncEngine) -> None:
    api = telegram
    customer = Customer(api, engine)
    await _to_the_location_step(customer)
    before = len(api.sent_to(4242))
    assert "Cancelled" in await customer.tap("Cancel")
    assert _markups(api, before)[0] == {"remove_keyboard": True}  # "Cancelled", before the menu
    await customer.tap("🛠")
    await customer.tap_first()
    await customer.tap_first()
    await customer.tap("Skip")
    await customer.say("Water drips from the indoor unit")
    await customer.tap("Skip")
    before = len(api.sent_to(4242))
    await customer.say("/start")  # a command in the middle of the location step
    assert _markups(api, before)[0] == {"remove_keyboard": True}
    assert _markups(api, before)[-1]["inline_keyboard"]  # the menu


# --- 16: /timezone offers each zone once --------------------------------------------------


async def test_timezone_question_offers_no_zone_twice(chat: Chat) -> None:
    await chat.report_repair("household_ac", address="Shanghai, Huaihai Road 1", phone="+86 138 0013 8000")
    await chat.say("/timezone")
    labels = chat.last_choices()
    assert len(labels) == 1 and labels[0].startswith("Keep Shanghai")  # China has one zone: the current one


# --- 17: labels, lists and money ----------------------------------------------------------


def test_product_labels_repeat_no_words(company: Company) -> None:
    for line in company.catalog.lines:
        for model in line.models:
            product = ProductRecord(id=1, serial="XX0000000000", product_line=line.id, model=model.code,
                                    invoice_date=None, manufactured=date(2024, 1, 1), acceptance_date=None)
            for locale in ("en", "ru", "ka", "zh_Hans", "zh_Hant"):
                turn: Any = SimpleNamespace(company=company, customer=SimpleNamespace(locale=locale))
                name = product_name(turn, product)
                words = [w.strip(",").casefold() for w in name.split()]
                assert len(words) == len(set(words)), name
                assert name.count(line.name_in(locale)) <= 1, name
    heater: Any = SimpleNamespace(company=company, customer=SimpleNamespace(locale="en"))
    water = ProductRecord(id=1, serial="WH2403000001", product_line="air_water_heater", model="KFRS-3.5/150L",
                          invoice_date=None, manufactured=date(2024, 3, 1), acceptance_date=None)
    assert product_name(heater, water) == "Air-source water heater, 150 L tank"


async def test_parts_lists_are_joined_in_the_readers_language(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "PC2403000777", "computer", "TC-D310", TODAY - timedelta(days=100))
    answer = await ask(new_chat(language="zh-hans"), "PC2403000777")
    assert "、" in answer and "主板, " not in answer and ", " not in answer.split("\n", 2)[2]
    await register(engine, "PC2403000778", "computer", "TC-D310", TODAY - timedelta(days=100))
    answer = await ask(new_chat("u2", language="en"), "PC2403000778")
    assert ", and " in answer  # English lists end with "and"


@pytest.fixture
def lari_company(company: Company) -> Company:
    settings = company.warranty.settings.model_copy(update={"currency": "GEL"})
    return replace(company, warranty=company.warranty.model_copy(update={"settings": settings}))


async def test_fee_is_in_the_companys_currency_written_the_readers_way(engine: AsyncEngine, lari_company: Company) -> None:
    core = Dispatcher(engine, lari_company, route)
    try:
        await register(engine, "HA1901000123", "household_ac", "KFR-35GW", date(2019, 1, 20))
        answer = await ask(Chat(core, engine, language="ka"), "HA1901000123")
        assert "50,00\xa0₾" in answer and "CN¥" not in answer and "CNY" not in answer
        await register(engine, "HA1901000124", "household_ac", "KFR-35GW", date(2019, 1, 20))
        answer = await ask(Chat(core, engine, user_id="u2", language="en"), "HA1901000124")
        assert "GEL50.00" in answer
    finally:
        await core.close()


def test_the_currency_of_fees_is_required_in_the_warranty_file(tmp_path: Any) -> None:
    from pathlib import Path

    from services.warranty_config import load_config

    text = (Path(__file__).parent.parent / "data" / "warranty.yaml").read_text(encoding="utf-8")
    path = tmp_path / "warranty.yaml"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("  currency:")), encoding="utf-8")
    with pytest.raises(ValueError, match=r"warranty\.yaml: settings\.currency: missing"):
        load_config(path)


# --- 18: the pressed language button shows what was chosen ------------------------------


async def test_pressed_language_button_shows_the_chosen_language(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/language")
    await chat._send(kind=Kind.CHOICE, choice="lang:ru", origin_message_id="41", origin_text="Choose your language:")
    async with engine.connect() as conn:
        payloads = (await conn.execute(select(OutboxRow.payload).order_by(OutboxRow.id))).scalars().all()
    edit = next(p for p in payloads if p.get("replaces") == "41")
    assert edit["text"] == "Choose your language:\n\n✓ Русский"


# --- 19 (core): times in the zone the customer is most likely in ---------------------------

MOSCOW_EVENING = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 20:00 in Moscow, 01:00 the next day in Shanghai


@pytest.fixture
async def evening_core(engine: AsyncEngine, company: Company) -> AsyncIterator[Dispatcher]:
    core = Dispatcher(engine, company, route, clock=lambda: MOSCOW_EVENING)
    yield core
    await core.close()


async def test_a_reported_time_zone_is_kept_and_used_for_times(evening_core: Dispatcher, engine: AsyncEngine) -> None:
    chat = Chat(evening_core, engine, language="ru")
    await chat._send(kind=Kind.COMMAND, command="start", text="/start", timezone_hint="Europe/Moscow")
    await chat.say("/timezone")  # no hint this time: the stored one counts
    assert "Оставить: Москва" in chat.last_choices()[-1]
    await chat._send(kind=Kind.COMMAND, command="start", text="/start", timezone_hint="Not/AZone")
    await chat.say("/timezone")
    assert "Москва" in chat.last_choices()[-1]  # a zone we do not know is ignored


def test_event_carries_the_time_zone_hint_last() -> None:
    # The web chat (another branch) fills it by keyword; the core reads it.
    event = Event(channel="web", user_id="v", chat_id="v", kind=Kind.TEXT, timezone_hint="Europe/Moscow")
    assert event.timezone_hint == "Europe/Moscow" and list(Event.__dataclass_fields__)[-1] == "timezone_hint"


# --- 20: dates, plurals and the end of a warranty -------------------------------------------


async def test_russian_date_at_the_end_of_a_sentence_has_one_full_stop(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "HA2403000123", "household_ac", "KFR-35GW", date(2025, 2, 1))
    answer = await ask(new_chat(language="ru"), "HA2403000123")
    assert "1 февраля 2025\u202fг." in answer and "г.." not in answer


def test_translator_collapses_only_a_doubled_full_stop() -> None:
    t = Translator("ru", "Europe/Moscow")
    assert t._("The warranty counts from the invoice date, %(date)s.", date="1 февраля 2025 г.").endswith("2025 г.")
    en = Translator("en", "Europe/Moscow")
    assert en._("Name: %(name)s", name="Dr. J. Smith Jr..") == "Name: Dr. J. Smith Jr.."  # no sentence stop after it


async def test_ticket_list_header_has_plural_forms(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press("menu:person")
    await chat.press("menu:tickets")
    assert chat.text.startswith("Your ticket:\n") and "latest 1" not in chat.text
    ru = Translator("ru", "Europe/Moscow")
    header = ("Your ticket:", "Your latest %(count)d tickets:")
    assert [ru.n(*header, n) for n in (1, 3, 21)] == [
        "Ваши последние заявки (1):", "Ваши последние заявки (3):", "Ваши последние заявки (21):"]
    months = ru.n(
        "Out of warranty, parts are charged at cost and an on-site visit costs %(fee)s; help by phone stays free, and a part we replace carries %(count)d month of warranty. We never start paid work without your yes.",
        "Out of warranty, parts are charged at cost and an on-site visit costs %(fee)s; help by phone stays free, and a part we replace carries %(count)d months of warranty. We never start paid work without your yes.",
        3, fee="50")
    assert "сроком 3 месяца." in months


async def test_warranty_end_is_the_last_covered_day_and_a_future_end_is_not_called_ended(
    new_chat: Callable[..., Chat], engine: AsyncEngine,
) -> None:
    # 27" LCD bought 2024-02-01: the LCD panel's 1 year ends on 2025-01-31, its last covered day.
    await register(engine, "MN2401000333", "monitor", "LM-2717", date(2024, 2, 1))
    answer = await ask(new_chat(language="en"), "MN2401000333")
    assert "warranty ended on January 31, 2025" in answer and "since January 31" not in answer
    await register(engine, "HA2403000999", "household_ac", "KFR-35GW", TODAY + timedelta(days=30))
    answer = await ask(new_chat("u2", language="en"), "HA2403000999")
    assert "❌" in answer and "warranty ended" not in answer  # not started: no end date under ❌


def test_chinese_place_names_use_full_width_brackets() -> None:
    from handlers.timezone import place_name

    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert place_name("Asia/Shanghai", "zh_Hans", now) == "上海（+0800）"
    assert place_name("Asia/Taipei", "zh_Hant", now) == "台北（+0800）"
    assert place_name("Europe/Moscow", "ru", now) == "Москва (+0300)"
