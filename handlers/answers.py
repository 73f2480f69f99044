"""Answers several flows ask for, parsed the same way everywhere."""

from __future__ import annotations

from bot.core.events import Kind
from bot.core.forms import Invalid, text_answer
from bot.core.turn import Turn
from bot.i18n import N_
from services.contact import example_number, normalize_phone, region_for_locale


def phone_region(turn: Turn) -> str:
    return region_for_locale(turn.customer.locale, turn.company.phone_region)


def phone_answer(turn: Turn) -> str:
    """A shared contact or a typed number, in E.164; Invalid with an example if it is not valid."""
    event = turn.event
    if event.kind is Kind.CONTACT and event.phone:
        raw = event.phone if event.phone.startswith("+") else "+" + event.phone  # Telegram omits the "+"
    else:
        raw = text_answer(turn, max_len=40)
    try:
        return normalize_phone(raw, phone_region(turn))
    except ValueError:
        raise Invalid(
            N_("That does not look like a valid phone number. Please include the country code, e.g. %(example)s."),
            example=example_number(phone_region(turn)),
        ) from None
