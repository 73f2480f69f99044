"""Report a repair: product, serial, fault, files, place, phone, visit window."""

from __future__ import annotations

import re
from typing import Any

from bot.core.events import Choice, Kind
from bot.core.forms import NAV_CANCEL, Form, Invalid, Slot, start, summary, text_answer, words_answer
from bot.core.turn import Turn
from bot.i18n import N_
from handlers import timezone, visit
from handlers.answers import phone_answer
from handlers.handoff import hand_over
from handlers.menu import menu_choices, show_menu
from handlers.promises import describe, promise, settle_time_zone
from handlers.warranty import paid_visit_note, record_repair_claim, verdict_for_repair
from services.contact import find_phone
from services.product_match import match_lines
from services.serials import find_serial, parse_serial, read_serial

# --- product -----------------------------------------------------------------


def _line_options(turn: Turn) -> list[tuple[str, str]]:
    return [(line.id, line.name_in(turn.customer.locale)) for line in turn.company.catalog.lines]


def _line_from_text(turn: Turn, text: str) -> str | None:
    info = find_serial(text)
    line = info and turn.company.catalog.line_for_serial_prefix(info.prefix)
    return line.id if line else None


def _parse_line(turn: Turn) -> str:
    text = text_answer(turn, max_len=200)
    found = _line_from_text(turn, text)
    if found:
        return found
    meant = match_lines(text, {line.id: line.terms() for line in turn.company.catalog.lines})
    if len(meant) == 1:
        return meant[0]
    if meant:
        raise Invalid(N_("Which of these do you mean?"), offer=tuple(meant))
    raise Invalid(N_("Please choose the product with one of the buttons."))


def _model_options(turn: Turn) -> list[tuple[str, str]]:
    line = turn.company.catalog.line(turn.slots["values"]["product_line"])
    return [(m.code, m.name_in(turn.customer.locale)) for m in line.models]


_MODEL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./+_-]{0,23}")


def _parse_model(turn: Turn) -> str:
    text = text_answer(turn, max_len=64)
    typed = normalize_code(text)
    for code, _label in _model_options(turn):
        if normalize_code(code) == typed:
            return code
    line = turn.company.catalog.line(turn.slots["values"]["product_line"])
    meant = match_lines(text, {m.code: m.names.values() for m in line.models})
    if len(meant) == 1:
        return meant[0]
    if meant:
        raise Invalid(N_("Which of these do you mean?"), offer=tuple(meant))
    if _MODEL_CODE.fullmatch(text) and any(ch.isdigit() for ch in text):
        return text  # a model we do not list is still worth recording as typed
    raise Invalid(N_("Please choose the model, type the code from the rating plate, or press “I don't know”."))


def normalize_code(text: str) -> str:
    """A model code as compared: case, spaces and dashes do not matter ("kfr 35gw" is KFR-35GW)."""
    return re.sub(r"[\s\-_]", "", text).casefold()


# --- serial --------------------------------------------------------------------


def _check_serial_line(turn: Turn, prefix: str) -> None:
    catalog = turn.company.catalog
    owner = catalog.line_for_serial_prefix(prefix)
    if owner is None:
        raise Invalid(N_("No product of ours has a serial number starting with %(prefix)s."), prefix=prefix)
    chosen = turn.slots.get("values", {}).get("product_line")  # none yet in free text before the form
    if chosen and owner.id != chosen:
        raise Invalid(
            N_("This serial number is of the product line “%(line)s”, not “%(chosen)s”. Please check it, or go back and change the product."),
            line=owner.name_in(turn.customer.locale),
            chosen=catalog.line(chosen).name_in(turn.customer.locale),
        )


def _parse_serial(turn: Turn) -> str:
    text = text_answer(turn, max_len=64)
    try:
        info = read_serial(text) or parse_serial(text)
    except ValueError as error:
        if str(error) == "month":
            raise Invalid(N_("The month in this serial number does not exist (positions 5 and 6 must be 01 to 12).")) from None
        raise Invalid(
            N_("A serial number has two letters and ten digits, like HA2403000123. It is on the rating plate and the warranty card.")
        ) from None
    _check_serial_line(turn, info.prefix)
    return info.serial


def _serial_from_text(turn: Turn, text: str) -> str | None:
    info = find_serial(text)
    if info is None:
        return None
    try:
        _check_serial_line(turn, info.prefix)
    except Invalid:
        return None
    return info.serial


async def _settle(turn: Turn, values: dict[str, Any]) -> None:
    """A registered serial decides the product line and model (the registry knows the
    unit); a different choice of the customer's is corrected, and they are told."""
    serial = values.get("serial")
    if not serial or values.get("_registered") == serial:
        return
    values["_registered"] = serial
    unit = await turn.store.registered_unit(serial)
    if unit is None:
        return
    line_id, model = unit
    line = turn.company.catalog.line(line_id)
    chosen = values.get("model")
    values["product_line"] = line_id
    if model is None:
        return
    values["model"] = model
    registered = line.model(model)
    shown = f"{registered.name_in(turn.customer.locale)} ({model})" if registered else model
    if chosen and normalize_code(chosen) != normalize_code(model):
        turn.say(turn.t._(
            "The serial number %(serial)s is registered as %(model)s, so I noted that model instead of %(chosen)s. "
            "If that is wrong, please check the serial number.",
            serial=serial, model=shown, chosen=chosen,
        ))
    elif not chosen:
        turn.say(turn.t._("The serial number %(serial)s is registered as %(model)s; I noted that model.", serial=serial, model=shown))


# --- place and phone -------------------------------------------------------------


def _parse_place(turn: Turn) -> dict[str, Any]:
    if turn.event.kind is Kind.LOCATION and turn.event.location:
        lat, lon = turn.event.location
        return {"lat": lat, "lon": lon}
    return {"address": text_answer(turn, max_len=300, min_len=5)}


def _show_place(turn: Turn, value: dict[str, Any]) -> str:
    if "address" in value:
        return str(value["address"])
    return turn.t._("shared location (%(lat).5f, %(lon).5f)", lat=value["lat"], lon=value["lon"])


PHONE_PROOF = "phone_proof"  # in the form's values (kept at submit, unlike "_" keys): the phone was their own contact


def _parse_phone(turn: Turn) -> str:
    phone = phone_answer(turn)
    turn.slots.setdefault("values", {})[PHONE_PROOF] = phone if turn.event.kind is Kind.CONTACT else None
    return phone


def _phone_from_text(turn: Turn, text: str) -> str | None:
    # Only numbers written with a country code: digits in a fault description
    # ("error 12, 3 times a day") must not become a phone number.
    return find_phone(text, "ZZ") if "+" in text else None


# --- the form ----------------------------------------------------------------------


async def _submit(turn: Turn, values: dict[str, Any]) -> None:
    when = visit.asked_when(turn.slots.get(VISIT_WHEN))  # a day (and part) typed in the first message
    place = values["place"]
    promised = promise(turn, values["product_line"], place, values["phone"])
    await settle_time_zone(turn, promised.placement, values["phone"])
    if values.get(PHONE_PROOF) == values["phone"]:  # their own contact: before the lookup, it links units
        await turn.store.verify_phone(values["phone"])
        turn.customer.phone = values["phone"]
        turn.join_offer = await turn.store.other_file_with_phone(values["phone"])
    elif not turn.customer.phone:  # a contact number only: it proves nothing (services.ownership)
        await turn.update_customer(phone=values["phone"])
    warranty_fields, warranty_note = await verdict_for_repair(turn, values.get("serial"), values["phone"])
    paid = warranty_fields.get("warranty", {}).get("in_warranty") is False
    if paid and not values.get(PAID_OK):
        _ask_consent(turn, values, warranty_fields["warranty"]["visit_fee"])
        return
    if paid:
        warranty_fields["warranty"]["paid_visit_agreed_at"] = turn.now.isoformat()
    ticket = await turn.store.open_ticket(
        "repair",
        "open",
        product_line=values["product_line"],
        model=values.get("model"),
        serial=values.get("serial"),
        description=values["description"],
        address=place.get("address"),
        latitude=place.get("lat"),
        longitude=place.get("lon"),
        phone=values["phone"],
        details={"attachments": values.get("files", []), **promised.details()},
        **promised.ticket_fields(),
        **warranty_fields,
    )
    turn.message_ticket_id = ticket.id
    await record_repair_claim(turn, ticket.id, warranty_fields, values["phone"])
    text = turn.t._("Thank you! Your repair request %(number)s is registered.", number=ticket.number)
    recorded = summary(turn, REPAIR)
    turn.goto("")
    told = f"{text}\n\n{recorded}\n\n{warranty_note}\n{describe(turn, promised.due)}"
    if turn.customer.timezone and promised.centre and await visit.offer(
            turn, ticket.id, values["product_line"], promised.centre, promised.due.on_site, note=told, day=when):
        return  # the customer now picks the engineer's window
    next_steps = turn.t._("An engineer will call you to confirm the visit. You can follow it under My tickets.")
    turn.say(f"{told}\n{next_steps}", menu_choices(turn))
    if not turn.customer.timezone:  # neither the place nor the phone told us
        timezone.ask(turn, promised.due)


# --- a paid visit needs the customer's yes (domain.md §3.5) --------------------------

PAID, PAID_OK = "repair_paid", "_paid_ok"
YES, PERSON = f"{PAID}:yes", f"{PAID}:person"


def _ask_consent(turn: Turn, values: dict[str, Any], fee: list[str]) -> None:
    """The price and the question; asked again the same way, in whatever language is current."""
    t = turn.t
    turn.goto(PAID, {"values": values, "fee": fee})
    question = t._("Shall we book this paid visit? Nothing is booked until you say yes.")
    turn.say("\n\n".join(filter(None, [paid_visit_note(turn, fee) if fee else "", question])), [
        Choice(YES, t._("✅ Yes, book the paid visit")),
        Choice(PERSON, t._("👤 Talk to a person first")),
        Choice(NAV_CANCEL, t._("Cancel")),
    ])


async def consent(turn: Turn) -> None:
    """The answer to the paid-visit question."""
    choice = turn.event.choice if turn.event.kind is Kind.CHOICE else None
    values = turn.slots.get("values", {})
    if choice == YES:
        turn.chosen_label = turn.t._("✅ Yes, book the paid visit")
        await _submit(turn, {**values, PAID_OK: True})
    elif choice == PERSON:  # queued with what they told us, but no visit booked
        turn.chosen_label = turn.t._("👤 Talk to a person first")
        await hand_over(
            turn, "repair", details={"awaiting": "paid_visit_consent", "request": values},
            product_line=values["product_line"], model=values.get("model"), serial=values.get("serial"),
            description=values["description"], phone=values["phone"],
        )
    elif choice == NAV_CANCEL:
        turn.chosen_label = turn.t._("Cancel")
        show_menu(turn, turn.t._("Cancelled. Nothing was saved."))
    else:
        turn.say(turn.t._("Please answer with the buttons: yes, a person, or cancel."))
        ask_consent_again(turn)


def ask_consent_again(turn: Turn) -> None:
    _ask_consent(turn, turn.slots.get("values", {}), turn.slots.get("fee", []))


REPAIR = Form(
    name="repair",
    title=N_("Repair request"),
    slots=(
        Slot("product_line", N_("Which product needs a repair?"), _parse_line, _line_options,
             extract=_line_from_text),
        Slot("model", N_("Which model is it? Choose it or type the model code from the rating plate."),
             _parse_model, _model_options, optional=True, skip_label=N_("I don't know")),
        Slot("serial", N_("What is the serial number? It has two letters and ten digits, like HA2403000123, and is on the rating plate and the warranty card."),
             _parse_serial, optional=True, extract=_serial_from_text),
        Slot("description", N_("What is wrong? Please describe the fault in a few words."),
             lambda turn: words_answer(turn, max_len=2000, min_len=5)),
        Slot("files", N_("You can send photos, a video, a voice message or documents of the fault. Press Done when finished, or Skip."),
             optional=True, collects_media=True,
             show=lambda turn, files: turn.t.n("%(count)d file", "%(count)d files", len(files))),
        Slot("place", N_("Where should the engineer come? Share your location or type the address."),
             _parse_place, request="location", show=_show_place),
        Slot("phone", N_("Which phone number can the engineer call? Share your contact or type the number."),
             _parse_phone, request="phone", extract=_phone_from_text,
             typed_prompt=N_("Which phone number can the engineer call? Please type the number.")),
    ),
    labels={
        "product_line": N_("Product"),
        "model": N_("Model"),
        "serial": N_("Serial number"),
        "description": N_("Fault"),
        "files": N_("Files"),
        "place": N_("Address"),
        "phone": N_("Phone"),
    },
    submit=_submit,
    settle=_settle,
)


VISIT_WHEN = "visit_when"  # slot: [day, part of day] the customer asked the engineer to come


async def begin(turn: Turn, prefill: dict[str, Any] | None = None) -> None:
    prefill = prefill or turn.slots.get("prefill") or {}
    await start(turn, REPAIR, prefill=prefill)
    if prefill.get(VISIT_WHEN):
        turn.slots[VISIT_WHEN] = prefill[VISIT_WHEN]
