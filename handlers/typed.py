"""Typed messages: what the customer wants, with the details they gave prefilled.

At the menu a recognised intent starts its flow ("кондиционер течёт": a repair with
the product and the fault already noted); when unsure the bot asks with buttons.
In the middle of a question only a plain "a person, please" or "cancel" acts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.events import Choice, Kind
from bot.core.turn import Turn
from bot.i18n import N_
from bot.nlu import Understood, understand
from handlers import complaint, menu, repair, survey, tickets, warranty
from services.intents import Intent, acts_in_form
from services.timezones import effective_zone

log = logging.getLogger(__name__)

# Intents answered by a menu entry (handlers/menu.py ENTRIES, and /mydata).
ENTRY = {
    Intent.REPAIR: "repair", Intent.COMPLAINT: "complaint", Intent.WARRANTY: "warranty", Intent.VISIT: "visit",
    Intent.TICKETS: "tickets", Intent.PERSON: "person", Intent.LANGUAGE: "language", Intent.MY_DATA: tickets.MY_FILE,
}
ASKED_BY_DEFAULT = ("repair", "complaint")  # "did you mean" when nothing points anywhere
MAX_OFFERED = 3  # besides "talk to a person", always offered
MIN_DESCRIPTION = 5  # as the repair form's fault question
# What a customer waiting for a person may still ask the bot (the rest is added to their request).
WHILE_WAITING = frozenset({Intent.CANCEL, Intent.PERSON, Intent.TICKETS, Intent.MY_DATA, Intent.LANGUAGE})


def _today(turn: Turn) -> date:
    customer = turn.customer
    zone = effective_zone(customer.timezone, customer.timezone_hint, customer.phone, turn.company.timezone)
    return turn.now.astimezone(ZoneInfo(zone)).date()


def understand_text(turn: Turn) -> Understood:
    company = turn.company
    understood = understand(company.intents, company.products, turn.event.text, turn.customer.locale,
                            today=_today(turn), default_region=company.phone_region)
    log.info("typed message: %s", understood.recognition.explain())
    return understood


def command_in_form(turn: Turn) -> str | None:
    """`person` or `cancel` when the customer typed just that in the middle of a question."""
    if turn.event.kind is not Kind.TEXT:
        return None
    recognition = turn.company.intents.recognise(turn.event.text)
    if not acts_in_form(recognition):
        return None
    log.info("typed in a form: %s", recognition.explain())
    return "person" if recognition.intent is Intent.PERSON else "cancel"


def command_while_waiting(turn: Turn) -> Intent | None:
    """What a customer waiting for a person asked the bot itself, typed plainly ("cancel", "my
    tickets"); None for the rest, which is for the person ("still dripping, please hurry")."""
    if turn.event.kind is not Kind.TEXT:
        return None
    recognition = turn.company.intents.recognise(turn.event.text)
    if not acts_in_form(recognition, WHILE_WAITING):
        return None
    log.info("typed while waiting for a person: %s", recognition.explain())
    return recognition.intent


def repair_prefill(turn: Turn, understood: Understood) -> dict[str, Any]:
    """What the repair form need not ask again."""
    details, text = understood.details, " ".join(turn.event.text.split())
    found: dict[str, Any] = {
        "product_line": details.product_line, "model": details.model, "serial": details.serial, "phone": details.phone,
    }
    if details.address and len(details.address) >= MIN_DESCRIPTION:  # as the address question takes it
        found["place"] = {"address": details.address[:300]}
    if understood.recognition.fault and len(text) >= MIN_DESCRIPTION:
        found["description"] = text[:2000]
    if details.day:  # "come tomorrow morning": the visit offer after the form starts there
        found[repair.VISIT_WHEN] = [details.day.isoformat(), details.part.value if details.part else None]
    return {**turn.slots.get("prefill", {}), **{k: v for k, v in found.items() if v}}


async def act(turn: Turn, understood: Understood, menu_entry: Callable[[Turn, str], Awaitable[None]]) -> None:
    """Start what the customer asked for."""
    intent, details = understood.intent, understood.details
    if intent is Intent.REPAIR:
        await repair.begin(turn, repair_prefill(turn, understood))
    elif intent is Intent.COMPLAINT:
        await complaint.begin(turn)
    elif intent is Intent.WARRANTY and details.serial:
        await warranty.check_serial(turn, details.serial)
    elif intent in ENTRY:
        await menu_entry(turn, ENTRY[intent])
    elif intent is Intent.STOP_SURVEYS:
        await survey.stop(turn)
    elif intent is Intent.RESUME_SURVEYS:
        await survey.resume(turn)
    elif intent is Intent.THANKS:
        menu.show_menu(turn, turn.t._("You are welcome! Is there anything else I can do for you?"))
    elif intent is Intent.CANCEL:
        menu.show_menu(turn, turn.t._("There is nothing to cancel. How can I help you?"))
    else:
        menu.greet(turn)


def ask_which(turn: Turn, understood: Understood) -> None:
    """"Did you mean ...?" with the likely entries as buttons, a person always among them."""
    offered = [ENTRY[i] for i in understood.recognition.ranked() if i in ENTRY and ENTRY[i] in menu.ENTRIES]
    offered = [e for e in dict.fromkeys([*offered, *ASKED_BY_DEFAULT]) if e != "person"][:MAX_OFFERED]
    choices = [Choice(f"menu:{entry}", turn.t._(menu.ENTRIES[entry])) for entry in [*offered, "person"]]
    prefill = turn.slots.get("prefill")
    turn.goto("", {"prefill": prefill} if prefill else {})  # keeps what they told us for the form
    turn.say(turn.t._(NOT_SURE), choices)


NOT_SURE = N_("I am not sure I understood. Did you mean:")
