"""Check warranty: by serial number, typed or chosen from the customer's products.

A registered unit is linked to the customer asking only on proof (services.ownership):
the dealer's record names a phone the customer proved is theirs. Otherwise the
claim is recorded for a person to confirm and the answer by serial is still
given, without the owner's data (the purchase date). The answer
lists every component with its end date, the return / exchange window and what
to do next. Out of warranty it says what is charged; nothing paid is booked
without the customer's yes (domain.md §3.5).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.events import Choice, Kind
from bot.core.forms import NAV_CANCEL, Invalid
from bot.core.turn import Turn
from bot.i18n import N_
from handlers.answers import phone_answer
from handlers.handoff import open_queued
from handlers.menu import show_menu
from services.ownership import PhoneCheck, check_phone, tries_left
from services.serials import parse_serial, read_serial
from services.warranty import NoStartDate
from services.warranty_check import ProductRecord, WarrantyAnswer, check
from storage.products import LinkOutcome, LinkResult

ASK, PHONE = "warranty.serial", "warranty.phone"

COMPONENTS = {
    "whole_unit": N_("whole unit"), "compressor": N_("compressor"), "spare_parts": N_("spare parts (free replacement)"),
    "main_unit": N_("main unit"), "water_tank": N_("water tank (replacement)"),
    "mainboard": N_("mainboard"), "cpu": N_("processor"), "memory": N_("memory"), "hard_disk": N_("hard disk"),
    "power_supply": N_("power supply"), "graphics_card": N_("graphics card"), "network_card": N_("network card"),
    "sound_card": N_("sound card"), "video_capture_card": N_("video capture card"),
    "floppy_drive": N_("floppy drive"), "optical_drive": N_("optical drive"), "cpu_fan": N_("processor fan"),
    "graphics_card_fan": N_("graphics card fan"), "keyboard": N_("keyboard"), "mouse": N_("mouse"),
    "speakers": N_("speakers"), "bundled_documents": N_("bundled documents"), "crt_monitor_base": N_("CRT monitor base"),
    "power_cord": N_("power cord"), "headset": N_("headset"), "software": N_("software faults (on site)"),
    "software_service": N_("software service (carry-in)"), "crt_monitor": N_("CRT monitor"),
    "lcd_monitor": N_("LCD monitor"), "notebook": N_("notebook"), "battery": N_("battery"),
    "software_upgrades": N_("software upgrades"), "all_equipment": N_("all equipment"),
}
BASIS = {
    "invoice": N_("The warranty counts from the invoice date, %(date)s."),
    "manufacture": N_("We have no invoice on record, so the warranty counts from the manufacturing month, %(date)s."),
    "acceptance": N_("The warranty counts from the final acceptance, %(date)s."),
}
WINDOWS = {
    "return": N_("Until %(date)s you may return or exchange a faulty unit, or have it repaired, as you choose."),
    "exchange": N_("Until %(date)s you may exchange a faulty unit or have it repaired."),
}
REASONS = {
    "expired": N_("This product is out of warranty: its warranty has ended."),
    "not_started": N_("The warranty of this product has not started yet."),
    "user_caused": N_("A fault caused by use is not covered by the warranty."),
    "disaster": N_("A fault caused by a natural disaster or an accident is not covered by the warranty."),
    "excluded": N_("This part is not covered by the warranty."),
}


async def begin(turn: Turn) -> None:
    turn.goto(ASK)
    await _ask(turn)


async def check_serial(turn: Turn, serial: str) -> None:
    """The warranty of `serial`, as if typed at the question (e.g. found in a free-text message)."""
    turn.goto(ASK)
    await _answer(turn, serial)


async def ask_again(turn: Turn) -> None:
    """The current question again (after a language change, /help ...)."""
    if turn.state == PHONE:
        t = turn.t
        turn.say(t._("To confirm that this unit is yours, please share the phone number you gave when you bought it."), request="phone", request_label=t._("📱 Share my phone number"))
        turn.say(t._("Or choose:"), [Choice(NAV_CANCEL, t._("Cancel"))])
    else:
        await _ask(turn)


async def _ask(turn: Turn, note: str | None = None) -> None:
    t = turn.t
    mine = [
        Choice(f"{ASK}:{p.serial}", f"{product_name(turn, p)} · {p.serial}")
        for p in (await turn.store.customer_products())[:8]
    ]
    text = t._("Which product? Type its serial number (two letters and ten digits, on the rating plate and the warranty card).")
    if mine:
        text = t._("Which product? Choose one of yours, or type another serial number.")
    turn.say("\n".join(filter(None, [note, text])), [*mine, Choice(NAV_CANCEL, t._("Cancel"))])


async def handle(turn: Turn) -> None:
    event = turn.event
    if event.kind is Kind.CHOICE and event.choice == NAV_CANCEL:
        turn.chosen_label = turn.t._("Cancel")
        show_menu(turn)
        return
    if turn.state == PHONE:
        await _phone_given(turn)
        return
    if event.kind is Kind.CHOICE:
        if not (event.choice or "").startswith(ASK + ":"):
            await _ask(turn, turn.t._("That button belongs to an earlier question. Here is the current one:"))
            return
        serial = (event.choice or "").split(":", 1)[1]
    else:
        found = read_serial(event.text) if event.kind is Kind.TEXT else None
        if found is None:
            await _ask(turn, _why_not_a_serial(turn))
            return
        serial = found.serial
    await _answer(turn, serial)


def _why_not_a_serial(turn: Turn) -> str:
    t = turn.t
    if turn.event.kind is not Kind.TEXT:
        return t._("Please answer this question with text.")
    try:
        parse_serial(turn.event.text)
    except ValueError as error:
        if str(error) == "month":
            return t._("The month in this serial number does not exist (positions 5 and 6 must be 01 to 12).")
    return t._("A serial number has two letters and ten digits, like HA2403000123. It is on the rating plate and the warranty card.")


async def _answer(turn: Turn, serial: str) -> None:
    result, product = await turn.store.claim_product(serial)
    t = turn.t
    if result.outcome is LinkOutcome.UNKNOWN_SERIAL:
        number, when = await _to_person(turn, serial, reason="unknown_serial")
        _tell(turn, t._("I cannot find the serial number %(serial)s in our records. I have opened request %(number)s: please send a photo of your invoice here, and a person will register your product.", serial=serial, number=number), when)
        return
    assert product is not None
    if result.outcome is LinkOutcome.NEEDS_PROOF and result.recorded_phone:
        _ask_phone(turn, serial, 0)
        return
    if result.outcome in (LinkOutcome.NEEDS_PROOF, LinkOutcome.OWNED_BY_OTHER):
        await _claim(turn, result, product)
        return
    await _show(turn, product, owner=True)


async def _show(
    turn: Turn, product: ProductRecord, owner: bool, note: str | None = None, number: str | None = None,
) -> None:
    """The warranty answer; `owner` False: by serial only, without the purchase date.
    `number`: the request already opened for a person (a claim), else one is opened if needed."""
    answer = await _position(turn, product)
    if answer is None:
        if note:
            turn.say(note)
        when = ""
        if number is None:
            number, when = await _to_person(turn, product.serial, reason="no_start_date")
        why = turn.t._("Our records do not yet show from which day the warranty of %(serial)s counts (for project equipment: the final acceptance). I have opened request %(number)s: a person will check it with you.", serial=product.serial, number=number)
        _tell(turn, why, when)
        return
    show_menu(turn, "\n\n".join(filter(None, [render(turn, product, answer, owner=owner), note])))


def _ask_phone(turn: Turn, serial: str, mismatches: int, note: str | None = None) -> None:
    t = turn.t
    turn.goto(PHONE, {"serial": serial, "mismatches": mismatches})
    ask = t._("To confirm that this unit is yours, please share the phone number you gave when you bought it.")
    turn.say("\n".join(filter(None, [note, ask])), request="phone", request_label=t._("📱 Share my phone number"))
    turn.say(t._("Or choose:"), [Choice(NAV_CANCEL, t._("Cancel"))])


async def _claim(turn: Turn, result: LinkResult, product: ProductRecord, phone: str | None = None) -> None:
    """Not proven theirs: a person confirms (the claim is on the ticket), the answer is by serial."""
    matches = None if phone is None else phone == result.recorded_phone
    ticket, when = await open_queued(
        turn, "warranty", serial=product.serial, product_id=product.id,
        details={"serial": product.serial, "reason": "ownership_claim", "owner": result.owner_customer_id},
    )
    await turn.store.record_claim(product.id, ticket.id, phone, matches)
    note = turn.t._("I have not added %(serial)s to your products: a person will confirm that it is yours (request %(number)s).", serial=product.serial, number=ticket.number)
    await _show(turn, product, owner=False, note=f"{note}\n{when}", number=ticket.number)


async def _phone_given(turn: Turn) -> None:
    try:
        phone = phone_answer(turn)
    except Invalid as problem:
        turn.say(turn.t._(problem.message, **problem.values))
        return
    serial, mismatches = turn.slots.get("serial", ""), int(turn.slots.get("mismatches", 0))
    proven = turn.event.kind is Kind.CONTACT  # the channel's proof: the sender's own contact
    if proven:
        await turn.store.verify_phone(phone)
        turn.customer.phone = phone
        turn.join_offer = await turn.store.other_file_with_phone(phone)
    result, product = await turn.store.claim_product(serial)
    turn.goto(ASK)
    if product is None:  # deleted meanwhile: start again
        await _answer(turn, serial)
        return
    if result.outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_YOURS):
        await _show(turn, product, owner=True)
        return
    checked = check_phone(result.recorded_phone, phone, proven)
    if checked is PhoneCheck.MISMATCH and result.outcome is LinkOutcome.NEEDS_PROOF and tries_left(mismatches + 1):
        # A typo: nothing is stored, they may try again (issue 10, item 10).
        _ask_phone(turn, serial, mismatches + 1, turn.t._("That is not the phone number recorded for %(serial)s. Please check it and try again.", serial=serial))
        return
    await _claim(turn, result, product, phone)


async def _to_person(turn: Turn, serial: str, **details: Any) -> tuple[str, str]:
    """A warranty question queued for a person: its number and when they will answer."""
    ticket, when = await open_queued(turn, "warranty", details={"serial": serial, **details}, serial=serial)
    return ticket.number, when


def _tell(turn: Turn, why: str, when: str) -> None:
    """Why a person takes over first, then when they will answer: one message, in that order."""
    turn.say(f"{why}\n{when}".strip())


def _today(turn: Turn) -> date:
    return turn.now.astimezone(turn.t.tz).date()


async def _position(turn: Turn, product: ProductRecord) -> WarrantyAnswer | None:
    """The product's warranty today; None when the registry lacks the date it counts from."""
    try:
        components = turn.company.components_of(product.product_line, product.model)
        return check(turn.company.warranty, product, _today(turn), await turn.store.product_downtime(product.id), components)
    except NoStartDate:  # e.g. project equipment not yet accepted
        return None


def product_name(turn: Turn, product: ProductRecord) -> str:
    """The model's own name, which names the product ("27-inch LCD monitor"); a model
    known only by its code is named with its line ("Monitor XY-1")."""
    line = turn.company.catalog.line(product.product_line)
    model = line.model(product.model or "")
    if model and model.names:
        return model.name_in(turn.customer.locale)
    return f"{line.name_in(turn.customer.locale)} {product.model or ''}".strip()


def render(turn: Turn, product: ProductRecord, answer: WarrantyAnswer, owner: bool = True) -> str:
    """The warranty answer, one fact a line, dates in the customer's language.

    `owner` False (not proven theirs): the coverage by serial, without the purchase date."""
    t = turn.t
    lines = [t._("Warranty of %(product)s, serial %(serial)s:", product=product_name(turn, product), serial=product.serial)]
    if owner:
        lines.append(t._(BASIS[answer.basis], date=t.date(answer.start, "long")))
    groups: dict[tuple[bool, date | None], list[str]] = defaultdict(list)
    policy = turn.company.warranty.lines.get(product.product_line)
    named = {c.component: c.name_in(turn.customer.locale) for c in policy.components} if policy else {}
    for component in answer.verdict.components:
        label = named.get(component.component) or t._(COMPONENTS.get(component.component, component.component))
        groups[(component.covered, component.end)].append(label)
    for (covered, end), names in sorted(groups.items(), key=lambda g: (not g[0][0], g[0][1] or date.max)):
        parts = t.join(names)
        if covered and end is None:
            lines.append("✅ " + t._("%(parts)s: covered for life", parts=parts))
        elif covered and end is not None:
            lines.append("✅ " + t._("%(parts)s: covered until %(date)s", parts=parts, date=t.date(end, "long")))
        elif end is not None and end < answer.verdict.on_date:  # `end` is the last covered day
            lines.append("❌ " + t._("%(parts)s: warranty ended on %(date)s", parts=parts, date=t.date(end, "long")))
        else:  # not started yet, or void (the reason follows)
            lines.append("❌ " + t._("%(parts)s: not covered", parts=parts))
    verdict = answer.verdict
    if answer.window_until and answer.window in WINDOWS:
        lines.append(t._(WINDOWS[answer.window], date=t.date(answer.window_until, "long")))
    elif answer.window == "repair" and verdict.in_warranty:
        lines.append(t._("The days for a return or an exchange are over; a faulty unit is now repaired under the warranty."))
    if verdict.in_warranty:
        lines.append(t._("An on-site visit is free. Please have the invoice and the warranty card ready for the engineer."))
    else:
        charges = verdict.charges
        assert charges is not None and verdict.reason is not None
        fee = t.money(charges.onsite_visit_fee, charges.currency)
        lines.append(t._(REASONS[verdict.reason]))
        lines.append(t.n(
            "Out of warranty, parts are charged at cost and an on-site visit costs %(fee)s; help by phone stays free, and a part we replace carries %(count)d month of warranty. We never start paid work without your yes.",
            "Out of warranty, parts are charged at cost and an on-site visit costs %(fee)s; help by phone stays free, and a part we replace carries %(count)d months of warranty. We never start paid work without your yes.",
            charges.replaced_part_warranty.amount, fee=fee,
        ))
    return "\n".join(lines)


async def verdict_for_repair(turn: Turn, serial: str | None, phone: str | None = None) -> tuple[dict[str, Any], str]:
    """For a new repair ticket: the fields to store and what to tell the customer.

    A unit not proven the customer's gets the verdict by serial and a pending claim
    (`warranty["claim"]`; `record_repair_claim` records it once the ticket exists)."""
    t = turn.t
    if not serial:
        return {}, t._("Without a serial number, a person will check the warranty from your invoice.")
    result, product = await turn.store.claim_product(serial)
    if product is None:
        fields: dict[str, Any] = {"warranty": {"outcome": result.outcome.value}}
        return fields, t._("We could not confirm this serial number in our records; a person will check the warranty from your invoice.")
    claim = None
    if result.outcome in (LinkOutcome.NEEDS_PROOF, LinkOutcome.OWNED_BY_OTHER):
        claim = {"phone_matches": None if phone is None else phone == result.recorded_phone}
    fields, note = await _repair_verdict(turn, product)
    if claim is not None:
        fields["warranty"]["claim"] = claim
        note += "\n" + t._("A person will confirm that this unit is yours before it is added to your products.")
    return fields, note


async def record_repair_claim(turn: Turn, ticket_id: int, fields: dict[str, Any], phone: str | None) -> None:
    claim = fields.get("warranty", {}).get("claim")
    if claim is not None:
        await turn.store.record_claim(fields["product_id"], ticket_id, phone, claim["phone_matches"])


async def _repair_verdict(turn: Turn, product: ProductRecord) -> tuple[dict[str, Any], str]:
    t = turn.t
    answer = await _position(turn, product)
    fields: dict[str, Any]
    if answer is None:
        fields = {"product_id": product.id, "warranty": {"outcome": "no_start_date"}}
        return fields, t._("Our records do not yet show from which day this unit's warranty counts; a person will check it from your papers.")
    verdict = answer.verdict
    fields = {
        "product_id": product.id,
        "warranty": {"in_warranty": verdict.in_warranty, "reason": verdict.reason, "start": answer.start.isoformat(),
                     "basis": answer.basis, "window": answer.window, "on": verdict.on_date.isoformat()},
    }
    if verdict.in_warranty:
        return fields, t._("Your product is in warranty: the visit is free.")
    charges = verdict.charges
    assert charges is not None
    fee = [str(charges.onsite_visit_fee), charges.currency]  # kept: the question may be asked again
    fields["warranty"]["visit_fee"] = fee
    return fields, paid_visit_note(turn, fee)


def paid_visit_note(turn: Turn, fee: list[str]) -> str:
    """What an out-of-warranty visit costs; `fee`: [amount, currency] as `verdict_for_repair` keeps it."""
    amount, currency = fee
    shown = turn.t.money(Decimal(amount), currency)
    return turn.t._("Your product is out of warranty: the visit costs %(fee)s and parts are charged at cost. The engineer will ask for your yes before any paid work.", fee=shown)
