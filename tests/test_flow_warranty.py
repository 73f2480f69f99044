"""Check warranty in the chat, and the verdict a repair ticket records (domain.md §3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import load_catalog
from bot.i18n import Translator
from services.periods import Period, coverage_end
from storage.models import Customer, Product, ProductClaim, Ticket, utcnow
from tests.memory_channel import Chat

# A fixed instant: the answers count days from today in Shanghai, and a date read from the
# wall clock at import would flip at midnight there (while the tests run).
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TODAY = NOW.date()


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


CATALOG = load_catalog()


PHONE = "+8613800138000"  # the buyer's phone in the dealers' records, unless a test says otherwise


async def register(engine: AsyncEngine, serial: str, line: str, model: str, invoice: date | None, **extra: Any) -> int:
    assert CATALOG.line(line).model(model), f"{model} is not a model of {line} in data/products.yaml"
    made = date(2000 + int(serial[2:4]), int(serial[4:6]), 1)
    extra.setdefault("customer_phone", PHONE)
    async with engine.begin() as conn:
        return await conn.scalar(insert(Product).values(
            serial=serial, product_line=line, model=model, invoice_date=invoice, manufactured=made,
            created_at=utcnow(), updated_at=utcnow(), **extra,
        ).returning(Product.id))


async def ask(chat: Chat, serial: str, proof: str | None = PHONE) -> str:
    """Check the warranty of `serial`; asked for the phone, share `proof` as one's own contact."""
    await chat.say("/start")
    await chat.press("menu:warranty")
    await chat.say(serial)
    if proof and any(reply.request == "phone" for reply in chat.last):
        await chat.contact(proof)
    return chat.text


async def tickets(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return (await conn.execute(select(Ticket.__table__).order_by(Ticket.id))).all()


@pytest.mark.parametrize("language", ["en", "ru", "ka", "zh-hans", "zh-hant"])
async def test_in_warranty_answer_in_every_language(new_chat: Callable[..., Chat], engine: AsyncEngine, language: str) -> None:
    invoice = TODAY - timedelta(days=400)
    await register(engine, "HA2403000123", "household_ac", "KFR-35GW", invoice)
    answer = await ask(new_chat(language=language), "my unit is HA2403000123")
    t = Translator({"zh-hans": "zh_Hans", "zh-hant": "zh_Hant"}.get(language, language), "Asia/Shanghai")
    six_years = coverage_end(invoice, Period(amount=6, unit="years"))
    assert t.date(invoice, "long") in answer and t.date(six_years, "long") in answer  # 001 §1.2: 6 years
    assert t._("%(parts)s: covered for life", parts=t._("spare parts (free replacement)")) in answer
    assert t._("An on-site visit is free. Please have the invoice and the warranty card ready for the engineer.") in answer


# Written out by hand (not through Translator), so a fault in the date formatting shows.
INVOICE_AND_END = {
    "en": ("January 15, 2024", "January 14, 2030"),
    "ru": ("15 января 2024\u202fг.", "14 января 2030\u202fг."),
    "ka": ("15 იანვარი, 2024", "14 იანვარი, 2030"),
    "zh-hans": ("2024年1月15日", "2030年1月14日"),
    "zh-hant": ("2024年1月15日", "2030年1月14日"),
}


@pytest.mark.parametrize("language", list(INVOICE_AND_END))
async def test_warranty_dates_read_as_a_native_reader_expects(new_chat: Callable[..., Chat], engine: AsyncEngine, language: str) -> None:
    await register(engine, "HA2401000321", "household_ac", "KFR-35GW", date(2024, 1, 15))
    answer = await ask(new_chat(language=language), "HA2401000321")
    invoice, six_years_on = INVOICE_AND_END[language]  # 001 §1.2: the whole unit, 6 years
    assert invoice in answer and six_years_on in answer


@pytest.mark.parametrize(("days_ago", "window", "last_day"), [(0, "return", 6), (6, "return", 6), (7, "exchange", 19), (19, "exchange", 19), (20, None, None)])
async def test_return_and_exchange_windows(chat: Chat, engine: AsyncEngine, days_ago: int, window: str | None, last_day: int | None) -> None:
    invoice = TODAY - timedelta(days=days_ago)  # the sale day is day 1
    await register(engine, "PC2511000042", "computer", "TC-D520", invoice)
    answer = await ask(chat, "PC2511000042")
    if window is None:  # day 21 on: repair (domain.md §3.3)
        assert "Until " not in answer and "now repaired under the warranty" in answer
    else:
        phrase = "return or exchange" if window == "return" else "exchange a faulty unit"
        assert f"Until {chat_day(invoice + timedelta(days=last_day))} you may {phrase}" in answer


def chat_day(day: date) -> str:
    return Translator("en", "Asia/Shanghai").date(day, "long")


async def test_out_of_warranty_says_what_is_charged(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "NB2301000007", "notebook", "NB-T14", date(2023, 2, 1))
    answer = await ask(chat, "NB2301000007")
    assert "out of warranty" in answer and "CN¥50.00" in answer and "3 months of warranty" in answer
    assert "without your yes" in answer and "free" in answer  # phone help stays free
    assert "repaired under the warranty" not in answer


async def test_the_answer_offers_the_next_steps(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "HA2403000124", "household_ac", "KFR-35GW", TODAY - timedelta(days=30))
    await ask(chat, "HA2403000124")
    offered = chat.last_choices()
    for step in ("Report a repair", "Book a visit", "Talk to a person"):
        assert any(step in label for label in offered), offered


async def test_unknown_serial_goes_to_a_person(chat: Chat, engine: AsyncEngine) -> None:
    answer = await ask(chat, "HA2403999999")
    assert "cannot find the serial number HA2403999999" in answer and "photo of your invoice" in answer
    [ticket] = await tickets(engine)
    assert (ticket.kind, ticket.status, ticket.serial) == ("warranty", "queued", "HA2403999999")
    await chat.say("here is the invoice")
    assert "Added to your request W-" in chat.text


async def claims(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return (await conn.execute(select(ProductClaim.__table__).order_by(ProductClaim.id))).all()


async def test_someone_elses_unit_is_not_handed_over(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    owner, other = new_chat("owner"), new_chat("other")
    invoice = TODAY - timedelta(days=30)
    product = await register(engine, "WH2405000001", "air_water_heater", "KFRS-3.5/150L", invoice)
    await ask(owner, "WH2405000001")
    answer = await ask(other, "WH2405000001", proof="+8613900000000")
    # The answer by serial is for anyone; the owner's purchase date is not shown, nothing moves.
    assert "covered until" in answer and "a person will confirm that it is yours" in answer
    assert chat_day(invoice) not in answer and "registered to another customer" not in answer
    [ticket] = await tickets(engine)
    async with engine.connect() as conn:
        owner_id = await conn.scalar(select(Product.customer_id).where(Product.id == product))
    assert ticket.details["owner"] == owner_id and ticket.customer_id != owner_id  # both sides recorded
    [claim] = await claims(engine)
    assert (claim.product_id, claim.customer_id, claim.ticket_id, claim.status) == (product, ticket.customer_id, ticket.id, "pending")


async def test_a_dealer_recorded_phone_is_confirmed_first(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "MN2406000003", "monitor", "LM-2419", TODAY - timedelta(days=90))
    stranger = new_chat("stranger")
    assert "share the phone number" in await ask(stranger, "MN2406000003", proof=None)
    await stranger.contact("+86 139 0000 0000")  # their own number, not the record's
    assert "not the phone number recorded" in stranger.text
    buyer = new_chat("buyer")
    assert "share the phone number" in await ask(buyer, "MN2406000003", proof=None)
    await buyer.contact("8613800138000")  # Telegram sends it without the "+"
    assert "Warranty of" in buyer.text and "MN2406000003" in buyer.text and "invoice date" in buyer.text
    assert await claims(engine) == []


async def test_regression_a_typed_phone_is_a_claim_for_a_person_not_proof(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    """Issue 9.1: the dealer's phone, typed by anybody, linked the unit to them."""
    product = await register(engine, "HA2403000123", "household_ac", "KFR-35GW", TODAY - timedelta(days=90))
    intruder = new_chat("intruder")
    await ask(intruder, "HA2403000123", proof=None)
    await intruder.say("+86 138 0013 8000")
    assert "covered until" in intruder.text and "a person will confirm that it is yours" in intruder.text
    [claim] = await claims(engine)
    assert (claim.product_id, claim.phone, claim.phone_matches, claim.status) == (product, PHONE, True, "pending")
    await intruder.say("/mydata")
    assert "HA2403000123" not in intruder.text and "Phone: —" in intruder.text
    async with engine.connect() as conn:
        assert await conn.scalar(select(Product.customer_id).where(Product.id == product)) is None
    owner = new_chat("owner")  # the real owner still proves it and gets it
    await ask(owner, "HA2403000123")
    assert "invoice date" in owner.text and "another customer" not in owner.text


async def test_regression_a_serial_without_a_recorded_phone_is_not_enough(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    product = await register(engine, "HA2403000125", "household_ac", "KFR-35GW", TODAY - timedelta(days=90), customer_phone=None)
    chat = new_chat("visitor")
    answer = await ask(chat, "HA2403000125")
    assert "covered until" in answer and "a person will confirm that it is yours" in answer
    [claim] = await claims(engine)
    assert (claim.product_id, claim.phone, claim.status) == (product, None, "pending")


async def test_regression_one_typo_in_the_phone_may_be_corrected(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    """Issue 10.10: a typo told them the unit is someone else's, with no second try, and
    saved the mistyped phone to their file."""
    await register(engine, "MN2406000006", "monitor", "LM-2419", TODAY - timedelta(days=90))
    chat = new_chat("buyer")
    await ask(chat, "MN2406000006", proof=None)
    await chat.say("+86 138 0013 8001")  # one digit wrong
    assert "not the phone number recorded for MN2406000006" in chat.text and "try again" in chat.text
    assert await tickets(engine) == [] and await claims(engine) == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(Customer.phone, Customer.verified_phone))).one() == (None, None)
    await chat.contact("+8613800138000")  # now right, and their own contact
    assert "Warranty of" in chat.text and "invoice date" in chat.text


async def test_after_three_wrong_numbers_a_person_checks_it(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "MN2406000007", "monitor", "LM-2419", TODAY - timedelta(days=90))
    chat = new_chat("guesser")
    await ask(chat, "MN2406000007", proof=None)
    for wrong in ("+86 139 0000 0001", "+86 139 0000 0002"):
        await chat.say(wrong)
        assert "try again" in chat.text
    await chat.say("+86 139 0000 0003")
    assert "a person will confirm that it is yours" in chat.text
    [claim] = await claims(engine)
    assert (claim.phone, claim.phone_matches) == ("+8613900000003", False)


async def test_my_products_are_offered_as_buttons(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "LS2401000005", "laser", "CJG-1390", TODAY - timedelta(days=10))
    await ask(chat, "LS2401000005")
    await chat.press("menu:warranty")
    assert any("LS2401000005" in label for label in chat.last_choices())
    await chat.tap("LS2401000005")
    assert "software upgrades: covered for life" in chat.text


async def test_downtime_over_20_days_restarts_the_warranty(chat: Chat, engine: AsyncEngine) -> None:
    invoice = TODAY - timedelta(days=200)
    product = await register(engine, "NB2504000011", "notebook", "NB-T14", invoice)
    await ask(chat, "NB2504000011")
    [customer] = await _customer_ids(engine)
    down = TODAY - timedelta(days=100)
    async with engine.begin() as conn:  # two repairs of its own fault: 12 + 10 days out of use
        for number, start, days in (("R-2026-900001", down, 12), ("R-2026-900002", down + timedelta(days=30), 10)):
            await conn.execute(insert(Ticket).values(
                number=number, kind="repair", status="resolved", customer_id=customer, locale="en",
                product_id=product, out_of_use_from=start, working_again_on=start + timedelta(days=days), own_fault=True,
                created_at=utcnow(), updated_at=utcnow(),
            ))
    await chat.press("menu:warranty")
    await chat.tap("NB2504000011")
    restarted = down + timedelta(days=30 + 10)  # the day it worked again after passing 20 days
    assert f"notebook: covered until {chat_day(coverage_end(restarted, Period(amount=1, unit='years')))}" in chat.text


async def _customer_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Customer.id))).scalars())


async def test_a_repair_records_the_verdict_and_says_the_visit_is_free(chat: Chat, engine: AsyncEngine) -> None:
    product = await register(engine, "HA2403000777", "household_ac", "KFR-35GW", TODAY - timedelta(days=50))
    answer = await chat.report_repair("household_ac", model="KFR-35GW", serial="HA2403000777", fault="The outdoor unit rattles")
    assert "in warranty: the visit is free" in answer
    [ticket] = await tickets(engine)
    assert ticket.product_id == product and ticket.warranty["in_warranty"] is True


async def test_an_out_of_warranty_repair_is_booked_only_after_the_customers_yes(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "NB2301000008", "notebook", "NB-T14", date(2023, 2, 1))
    answer = await chat.report_repair("notebook", serial="NB2301000008", fault="The screen stays dark")
    assert "out of warranty: the visit costs CN¥50.00" in answer and "Shall we book this paid visit?" in answer
    assert await tickets(engine) == []  # nothing booked yet
    await chat.say("ok")  # not an answer to the question: asked again, still nothing booked
    assert "Please answer with the buttons" in chat.text and await tickets(engine) == []
    await chat.press("repair_paid:yes")
    assert "is registered" in chat.text and "Choose a time window" in chat.text
    await chat.press(chat.last[0].choices[0].id)  # the first window
    [ticket] = await tickets(engine)
    assert ticket.kind == "repair" and ticket.warranty["in_warranty"] is False
    assert ticket.warranty["paid_visit_agreed_at"] and ticket.visit_date is not None


@pytest.mark.parametrize("answer", ["cancel", "person"])
async def test_no_to_a_paid_visit_books_nothing(chat: Chat, engine: AsyncEngine, answer: str) -> None:
    await register(engine, "NB2301000009", "notebook", "NB-T14", date(2023, 2, 1))
    await chat.report_repair("notebook", serial="NB2301000009", fault="The screen stays dark")
    await chat.press("nav:cancel" if answer == "cancel" else "repair_paid:person")
    found = await tickets(engine)
    if answer == "cancel":
        assert "Nothing was saved" in chat.text and found == []
    else:  # a person talks it over first: queued with what was said, no visit booked
        [ticket] = found
        assert "asked a person to take over" in chat.text
        assert (ticket.kind, ticket.status, ticket.visit_date) == ("repair", "queued", None)
        assert ticket.details["awaiting"] == "paid_visit_consent" and ticket.serial == "NB2301000009"


async def test_project_equipment_without_an_acceptance_date_goes_to_a_person(chat: Chat, engine: AsyncEngine) -> None:
    await register(engine, "IT2405000001", "it_project", "SRV-2U", TODAY - timedelta(days=30))
    answer = await ask(chat, "IT2405000001")
    assert "final acceptance" in answer and "a person will check it" in answer
    [ticket] = await tickets(engine)
    assert (ticket.kind, ticket.status, ticket.details["reason"]) == ("warranty", "queued", "no_start_date")
    answer = await chat.report_repair("it_project", serial="IT2405000001", fault="The server does not boot")
    assert "is registered" in answer and "a person will check it from your papers" in answer
    repair = (await tickets(engine))[-1]
    assert repair.kind == "repair" and repair.warranty == {"outcome": "no_start_date"}


async def test_the_own_contact_given_in_the_repair_form_confirms_a_dealer_recorded_unit(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    product = await register(engine, "MN2406000004", "monitor", "LM-2419", TODAY - timedelta(days=90))
    buyer = new_chat("buyer")
    await buyer.report_repair("monitor", serial="MN2406000004", phone="+86 138 0013 8000")  # typed: a claim
    [claim] = await claims(engine)
    assert (claim.product_id, claim.phone_matches, claim.ticket_id) == (product, True, (await tickets(engine))[0].id)
    answer = await buyer.report_repair("monitor", serial="MN2406000004", phone="+86 138 0013 8000", proof=True)
    assert "in warranty: the visit is free" in answer and "confirm that this unit is yours" not in answer
    ticket = (await tickets(engine))[-1]
    assert ticket.product_id == product and ticket.warranty["in_warranty"] is True and "claim" not in ticket.warranty
    async with engine.connect() as conn:
        assert await conn.scalar(select(Product.customer_id).where(Product.id == product)) == ticket.customer_id


async def test_a_unit_recorded_for_another_phone_is_a_claim_for_the_person(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    product = await register(engine, "MN2406000005", "monitor", "LM-2419", TODAY - timedelta(days=90))
    stranger = new_chat("stranger")
    answer = await stranger.report_repair("monitor", serial="MN2406000005", phone="+86 139 0000 0000")
    assert "in warranty: the visit is free" in answer and "confirm that this unit is yours" in answer
    [ticket] = await tickets(engine)
    assert ticket.warranty["claim"] == {"phone_matches": False} and ticket.product_id == product
    [claim] = await claims(engine)
    assert (claim.ticket_id, claim.phone, claim.phone_matches, claim.status) == (ticket.id, "+8613900000000", False, "pending")


async def test_a_claim_on_a_unit_without_a_start_date_opens_one_request(new_chat: Callable[..., Chat], engine: AsyncEngine) -> None:
    await register(engine, "IT2405000002", "it_project", "SRV-2U", TODAY - timedelta(days=30), customer_phone=None)
    answer = await ask(new_chat("visitor"), "IT2405000002")
    assert "a person will confirm that it is yours" in answer and "final acceptance" in answer
    [ticket] = await tickets(engine)
    assert ticket.details["reason"] == "ownership_claim" and ticket.number in answer
