"""Issue 10: conversations that hold up when customers type, change their minds and
make mistakes. One regression test per item, named after what it pins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n import Translator
from handlers.repair import REPAIR
from handlers.router import SERIAL_ACTIONS
from storage.models import Customer, Ticket
from tests.memory_channel import Chat
from tests.test_flow_warranty import PHONE, TODAY, clock, register, tickets  # noqa: F401 - clock: the fixed-instant fixture


def t_for(language: str) -> Translator:
    return Translator({"zh-hans": "zh_Hans", "zh-hant": "zh_Hant"}.get(language, language), "Asia/Shanghai")


# --- 1. a serial number in free text ------------------------------------------------------

FIRST_MESSAGES = {
    "en": "My air conditioner HA2403000123 is leaking water",
    "zh-hans": "空调漏水了，序列号 HA2403000123",
    "zh-hant": "冷氣漏水了，序號 HA2403000123",
    "ka": "კონდიციონერიდან წყალი ჟონავს, სერიული ნომერი HA2403000123",
    "ru": "Кондиционер течёт, серийный номер HA2403000123",
}


@pytest.mark.parametrize("language", list(FIRST_MESSAGES))
async def test_a_fault_with_a_serial_starts_the_repair_and_a_serial_alone_offers_both(
    new_chat: Callable[..., Chat], language: str
) -> None:
    t = t_for(language)
    chat = new_chat(language=None)  # a new customer's first message: the language comes from the text
    await chat.say(FIRST_MESSAGES[language])  # a fault: the repair starts with what it says (issue 16)
    assert "HA2403000123" in chat.text and t._("I noted from your message:") in chat.text
    assert t._(REPAIR.slot("model").prompt) in chat.text  # the line is known from the serial
    await chat.say("/start")
    await chat.say("HA2403000123")  # just the serial, after /start
    offered = chat.last_choices()
    assert t._(SERIAL_ACTIONS["repair"]) in offered and t._(SERIAL_ACTIONS["warranty"]) in offered


async def test_serial_in_free_text_starts_the_repair_with_line_and_serial(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.say("HA2403000123")
    assert "Household air conditioner" in chat.text
    await chat.tap("Report a repair")
    assert "I noted from your message" in chat.text and "HA2403000123" in chat.text
    assert "Which model" in chat.text  # the line is known from the serial


@pytest.mark.parametrize("forged", ["sn:repair", "sn:repair:HAxyz", "sn:bake:HA2403000123", "sn:warranty:ZZ2403000123"])
async def test_a_forged_serial_button_is_refused(chat: Chat, engine: AsyncEngine, forged: str) -> None:
    await chat.say("/start")
    await chat.press(forged)
    assert "earlier message" in chat.text and await tickets(engine) == []


async def test_serial_in_free_text_checks_the_warranty(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "HA2403000125", "household_ac", "KFR-35GW", TODAY - timedelta(days=30))
    await chat.say("HA2403000125")
    assert "Wall-mounted split air conditioner, 3.5 kW" in chat.text  # registered: the model is named
    await chat.tap("Check warranty")
    await chat.contact(PHONE)  # the dealer recorded this phone: their own contact proves the unit theirs
    assert "Warranty of Wall-mounted split air conditioner, 3.5 kW" in chat.text
    await chat.say("is HA2403000125 still in warranty?")  # asked in words: answered at once (issue 16)
    assert "Warranty of Wall-mounted split air conditioner, 3.5 kW" in chat.text


# --- 2. the model decides the components ------------------------------------------------------


async def test_expired_lcd_monitor_is_out_of_warranty_with_the_visit_fee(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "MN2401000333", "monitor", "LM-2717", date(2024, 2, 1))
    await chat.say("/start")
    await chat.tap("Check warranty")
    await chat.say("MN2401000333")
    await chat.contact(PHONE)
    assert "LCD monitor: warranty ended on" in chat.text and "CRT" not in chat.text
    assert "out of warranty" in chat.text and "visit is free" not in chat.text
    answer = await chat.report_repair("monitor", model="LM-2717", serial="MN2401000333", fault="Dark screen after a minute")
    assert "Shall we book this paid visit?" in answer and await tickets(engine) == []
    await chat.tap("Yes, book the paid visit")
    [ticket] = await tickets(engine)
    assert ticket.warranty["in_warranty"] is False and ticket.warranty["paid_visit_agreed_at"]


async def test_crt_monitor_keeps_its_three_years(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "MN2401000334", "monitor", "CM-1793", date(2024, 2, 1))
    await chat.say("/start")
    await chat.tap("Check warranty")
    await chat.say("MN2401000334")
    await chat.contact(PHONE)
    assert "CRT monitor: covered until" in chat.text and "LCD" not in chat.text


def test_every_models_components_are_its_lines_and_never_both_monitor_kinds(company: Any) -> None:
    for line in company.catalog.lines:
        policy = company.warranty.lines[line.id]  # every line has a warranty policy
        known = {c.component for c in policy.components}
        for model in line.models:
            has = set(company.components_of(line.id, model.code) or known)
            assert has and has <= known, (line.id, model.code)
            assert not {"crt_monitor", "lcd_monitor"} <= has, (line.id, model.code)
            if line.id == "monitor":
                kind = "lcd_monitor" if "LCD" in model.names["en"] else "crt_monitor"
                assert has == {kind}, model.code


def test_a_model_naming_an_unknown_component_is_refused(tmp_path: Any) -> None:
    import shutil

    from bot.company import CompanyDataError, load_company
    from bot.config import PROJECT_ROOT, Settings

    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", data)
    path = data / "products.yaml"
    path.write_text(path.read_text().replace("components: [crt_monitor]", "components: [crt_tube]"))
    with pytest.raises(CompanyDataError, match=r"products.yaml: lines\[4\].models\[3\].components\[0\]: 'crt_tube'"):
        load_company(Settings(data_dir=data))


# --- 3. the registered unit decides the model ---------------------------------------------------


async def test_registered_serial_corrects_the_chosen_model(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "HA2403000126", "household_ac", "KFR-35GW", TODAY - timedelta(days=30))
    answer = await chat.report_repair("household_ac", model="KFR-26GW", serial="HA2403000126")
    assert "registered as Wall-mounted split air conditioner, 3.5 kW (KFR-35GW)" in "\n".join(r.text for r in chat.replies)
    assert "is registered" in answer
    [ticket] = await tickets(engine)
    assert (ticket.product_line, ticket.model) == ("household_ac", "KFR-35GW")


# --- 4. complaints promise a response ------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hant", "ka", "ru"])
async def test_complaint_confirmation_promises_a_response_not_a_repair(new_chat: Callable[..., Chat], engine: AsyncEngine, language: str) -> None:
    t = t_for(language)
    chat = new_chat(language=language)
    # A customer abroad (Georgian phone): the repair class that promises a fix time.
    answer = await chat.report_repair("household_ac", fault="It does not cool at all", phone="+995 555 12 34 56")
    number = next(word for word in answer.split() if word.startswith("R-"))
    await chat.tap(t._("📝 File a complaint"))
    await chat.press("complaint.category:late_visit")
    await chat.say("Nobody came on the agreed day")
    await chat.say(number.strip(".,:"))
    await chat.press("complaint.confirm:submit")
    def fixed_part(msgid: str) -> str:  # the longest fixed part of a sentence around its time
        return max(t._(msgid).split("%(time)s"), key=len).strip()

    assert fixed_part("We commit to fixing the fault by %(time)s.") not in chat.text
    assert fixed_part("An engineer can be with you by %(time)s; we will agree the exact time with you.") not in chat.text
    assert fixed_part("A person will contact you by %(time)s.") in chat.text
    complaint = (await tickets(engine))[-1]
    assert complaint.kind == "complaint" and complaint.fix_due is None and complaint.onsite_due is None


# --- 5. why first, then when ------------------------------------------------------------------


async def test_warranty_handover_says_why_before_when(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Check warranty")
    await chat.say("HA2403999999")
    text = chat.text
    assert text.index("cannot find the serial number") < text.index("A person will contact you by")


# --- 6. changing one's mind mid-form --------------------------------------------------------------


async def fill_to_description(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.press("repair.model:KFR-35GW")
    await chat.say("HA2403000123")
    assert "What is wrong?" in chat.text


async def test_language_change_mid_form_repeats_the_question(chat: Chat) -> None:
    await fill_to_description(chat)
    await chat.say("/language")
    await chat.press("lang:ru")
    ru = t_for("ru")
    assert ru._("What is wrong? Please describe the fault in a few words.") in chat.text
    await chat.say("Течёт вода из внутреннего блока")
    await chat.press("repair.files:skip")
    assert ru._("Where should the engineer come? Share your location or type the address.") in chat.text
    await chat.say("Тбилиси, проспект Руставели 12")
    await chat.say("+995 555 12 34 56")
    assert "KFR-35GW" in chat.text or "3,5" in chat.text and "HA2403000123" in chat.text  # nothing lost


async def test_language_change_at_the_paid_visit_question_asks_it_again_with_the_price(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "NB2301000011", "notebook", "NB-T14", date(2023, 2, 1))
    await chat.report_repair("notebook", serial="NB2301000011", fault="The screen stays dark")
    await chat.say("/language")
    await chat.press("lang:zh_Hans")
    zh = t_for("zh-hans")
    assert zh._("Shall we book this paid visit? Nothing is booked until you say yes.") in chat.text and "50.00" in chat.text
    await chat.press("repair_paid:yes")
    assert len(await tickets(engine)) == 1


async def test_help_and_timezone_mid_form_repeat_the_question(chat: Chat) -> None:
    await fill_to_description(chat)
    await chat.say("/help")
    assert "/back" in chat.text and "What is wrong?" in chat.text
    await chat.say("/timezone")
    assert "Which time zone" in chat.text
    await chat.say("Tbilisi")
    assert "Done: I will give you times for" in chat.text and "What is wrong?" in chat.text
    await chat.say("The compressor is very loud")
    assert "You can send photos" in chat.text


# --- 7. old navigation buttons ----------------------------------------------------------------


async def test_stale_navigation_buttons_are_refused(chat: Chat) -> None:
    await fill_to_description(chat)
    serial_keyboard = next(r for r in reversed(chat.replies) if "serial number?" in r.text)
    start_over = next(c.id for c in serial_keyboard.choices if c.label == "Start over")
    back = next(c.id for c in serial_keyboard.choices if c.label == "« Back")
    await chat.say("It drips water")
    await chat.press("repair.files:skip")
    await chat.say("12 Rustaveli Avenue, Tbilisi")
    assert "Which phone number" in chat.text
    for stale in (start_over, back, "nav:cancel"):
        await chat.press(stale)
        assert "earlier question" in chat.text and "Which phone number" in chat.text
    await chat.say("+995 555 12 34 56")
    assert "HA2403000123" in chat.text and "It drips water" in chat.text  # nothing was wiped


# --- 8. Book a visit does not leave the chat stuck ---------------------------------------------------


async def test_book_a_visit_leaves_start_and_the_bot_working(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("Book a visit")
    assert "What should the engineer come for?" in chat.text
    await chat.tap("A repair")
    assert "Which product" in chat.text  # a visit for a repair: its form starts
    await chat.say("/start")
    assert "service assistant" in chat.text
    await chat.say("hello?")
    assert "service assistant" in chat.text
    answer = await chat.report_repair("household_ac", fault="It drips water")
    assert "is registered" in answer and "Choose a time window" in answer
    await chat.say("/start")
    await chat.tap("Book a visit")  # the open repair's windows, not a new form
    assert "Choose a time window" in chat.text
    kinds = [(t.kind, t.status) for t in await tickets(engine)]
    assert kinds == [("repair", "open")]


# --- 9. /back and /restart outside a form ------------------------------------------------------------


async def test_back_and_restart_outside_a_form_are_known(chat: Chat) -> None:
    await chat.say("/start")
    await chat.say("/back")
    assert "do not know the command" not in chat.text and "no earlier question" in chat.text
    await chat.say("/restart")
    assert "do not know the command" not in chat.text and "service assistant" in chat.text


# --- 11. one serial normaliser ----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["ha 2312 000888", "НА2312000888", "ＨＡ２３１２０００８８８"])
async def test_serial_typed_with_spaces_or_look_alikes_works_in_both_flows(chat: Chat, engine: AsyncEngine, typed: str) -> None:
    await register(engine, "HA2312000888", "household_ac", "KFR-35GW", TODAY - timedelta(days=30))
    await chat.say("/start")
    await chat.tap("Check warranty")
    await chat.say(typed)
    await chat.contact(PHONE)
    assert "Warranty of" in chat.text and "HA2312000888" in chat.text
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.press("repair.model:KFR-35GW")
    await chat.say(typed)
    assert "What is wrong?" in chat.text


# --- 12. product words -------------------------------------------------------------------------------


async def test_product_step_matches_whole_words_and_synonyms_and_asks_when_ambiguous(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.say("e")
    assert "choose the product" in chat.text
    await chat.say("air")
    assert "Which of these do you mean?" in chat.text
    assert [c for c in chat.last_choices() if "«" not in c and c not in ("Start over", "Cancel")] == [
        "Household air conditioner", "Light commercial air conditioner", "Air-source water heater"]
    await chat.say("laptop")
    assert "Which model" in chat.text and "14-inch notebook" in chat.last_choices()


async def test_model_step_understands_a_typed_name_or_code(chat: Chat) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.say("floor-standing")
    assert "Which of these do you mean?" in chat.text
    assert [c for c in chat.last_choices() if "Floor" in c] == ["Floor-standing air conditioner, 5.1 kW", "Floor-standing air conditioner, 7.2 kW"]
    await chat.say("kfr 72lw")
    assert "serial number?" in chat.text
    await chat.press("nav:back:repair.serial")
    await chat.say("3.5 kW")
    await chat.tap("Skip")
    await chat.say("It drips water")
    await chat.press("nav:cancel:repair.files")
    assert "Nothing was saved" in chat.text


# --- 13. mistakes at text questions -----------------------------------------------------------------


async def test_sticker_emoji_and_dont_know_answers(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.tap("Report a repair")
    await chat.tap("Household air conditioner")
    await chat.say("I don't know the model")
    assert "I don't know" in chat.last_choices() and "Which model" in chat.text
    await chat.tap("I don't know")
    await chat.say("HA2403000123")
    await chat.say("")  # a sticker arrives as a message without text
    assert "answer this question with text" in chat.text and "characters" not in chat.text
    await chat.say("😡😡😡😡😡")
    assert "in words" in chat.text
    await chat.say("It drips")
    assert "You can send photos" in chat.text
    await chat.press("repair.files:skip")
    await chat.say("12 Rustaveli Avenue, Tbilisi")
    await chat.say("+995 555 12 34 56")
    await chat.press(chat.last[0].choices[0].id)
    await chat.press(chat.last[0].choices[0].id)
    await chat.press("repair.confirm:submit")
    [ticket] = await tickets(engine)
    assert ticket.model is None and ticket.description == "It drips"


async def test_too_short_uses_the_plural_rule() -> None:
    ru = t_for("ru")
    one = ru.n("That is too short: please write at least %(count)d character.",
               "That is too short: please write at least %(count)d characters.", 1)
    five = ru.n("That is too short: please write at least %(count)d character.",
                "That is too short: please write at least %(count)d characters.", 5)
    assert "1 символа" in one and "5 символов" in five


async def test_a_photo_at_the_menu_is_kept_for_the_next_request(chat: Chat, engine: AsyncEngine) -> None:
    await chat.say("/start")
    await chat.photo("file-at-menu")
    assert "keep" in chat.text
    await chat.tap("Report a repair")
    assert "Files: 1 file" in chat.text
    await chat.tap("Household air conditioner")
    await chat.press("repair.model:KFR-35GW")
    await chat.press("repair.serial:skip")
    await chat.say("The fan rattles")
    assert "Where should the engineer come?" in chat.text  # the files question is answered already
    await chat.say("12 Rustaveli Avenue, Tbilisi")
    await chat.say("+995 555 12 34 56")
    await chat.press(chat.last[0].choices[0].id)
    await chat.press(chat.last[0].choices[0].id)
    await chat.press("repair.confirm:submit")
    [ticket] = await tickets(engine)
    assert [f["ref"] for f in ticket.details["attachments"]] == ["file-at-menu"]


# --- 14. the price stays in the repeated question ----------------------------------------------------


async def test_paid_visit_question_repeats_the_price(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "NB2301000010", "notebook", "NB-T14", date(2023, 2, 1))
    await chat.report_repair("notebook", serial="NB2301000010", fault="The screen stays dark")
    assert "CN¥50.00" in chat.text
    await chat.say("how much will it cost?")
    assert "Please answer with the buttons" in chat.text and "CN¥50.00" in chat.text


async def _customer(engine: AsyncEngine) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(Customer.__table__))).one()


_ = Ticket
