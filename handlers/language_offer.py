"""A polite offer to switch language, once, when a customer keeps writing in another of ours.

Said after the turn's own answer, in the language they write in, with two buttons: that
language, or the one we speak now (both `lang:` choices, handled like the language menu).
"""

from __future__ import annotations

import logging

from bot.core.events import Choice, Kind
from bot.core.language import written_in
from bot.core.turn import Turn
from bot.i18n import N_, Translator, locale_names
from services.language_offer import Streak, observe, offered, to_offer

log = logging.getLogger(__name__)

# Rendered in the language it offers: each catalog names its own language.
OFFER = N_("It looks like you are writing in English. Shall I answer you in English from now on?")
YES = N_("Yes, in English")


async def notice(turn: Turn, locale_before: str) -> None:
    """Count a typed message's language; offer the switch when it is due."""
    customer = turn.customer
    if turn.event.kind is not Kind.TEXT or customer.locale != locale_before:
        return  # not typed, or they changed the language in this very turn
    before = Streak.parse(customer.language_streak)
    streak = observe(before, written_in(turn.event.text, customer.locale), customer.locale)
    already = offered(customer.language_offered)
    language = to_offer(streak, already)
    changes: dict[str, str | None] = {}
    if streak != before:
        changes["language_streak"] = streak.stored()
    if language:
        changes["language_offered"] = ",".join(sorted(already | {language}))
        log.info("offering %s to a customer spoken to in %s: %d messages in a row", language, customer.locale, streak.count)
        t = Translator(language, customer.zone(turn.company.timezone))
        names = locale_names()
        turn.say(t._(OFFER), [Choice(f"lang:{language}", t._(YES)), Choice(f"lang:{customer.locale}", names[customer.locale])])
    if changes:
        await turn.store.update_customer(**changes)
        for name, value in changes.items():
            setattr(customer, name, value)
