"""The customer's time zone, asked when neither their location nor their phone tells it
(a country with several zones, an address we cannot place), or changed with /timezone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_gmt, get_timezone_location

from bot.core.events import Choice, Kind
from bot.core.turn import Turn
from bot.i18n import Translator, babel_locale
from handlers.promises import describe
from services.sla import DueTimes
from services.timezones import ZONES, zone_for_text, zones_for_phone

STATE = "timezone"
MAX_CHOICES = 12
KEEP = "tz:keep"


def place_name(zone: str, locale: str, now: datetime) -> str:
    """"Denver (GMT-07:00)" in the customer's language; the offset in force at `now`."""
    where = babel_locale(locale)
    city = get_timezone_location(zone, locale=where, return_city=True)
    offset = get_timezone_gmt(now.astimezone(ZoneInfo(zone)), width="short", locale=where)
    return city + Translator(locale, zone).bracket(offset)


def ask(turn: Turn, due: DueTimes | None = None, back_to: tuple[str, dict[str, Any]] | None = None) -> None:
    """Ask which zone they are in; `due`: a promise to tell again in their own time;
    `back_to`: the (state, slots) of the question to return to afterwards."""
    saved: dict[str, Any] = {}
    if due:
        saved["due"] = [d.isoformat() if d else None for d in (due.first_response, due.on_site, due.fixed)]
    if back_to and back_to[0] == STATE:  # asked again while asking: keep where we came from
        saved = dict(back_to[1])
    elif back_to and back_to[0]:
        saved["back_to"] = {"state": back_to[0], "slots": back_to[1]}
    turn.goto(STATE, saved)
    _question(turn)


def ask_again(turn: Turn) -> None:
    _question(turn)


def _question(turn: Turn) -> None:
    phone = turn.customer.phone
    current = turn.t.tz.key  # the zone times are given in now (known, or the best guess)
    # The current zone is offered once, as "Keep ..."
    zones = [zone for zone in zones_for_phone(phone, turn.now) if zone != current][:MAX_CHOICES] if phone else []
    choices = [Choice(f"tz:{zone}", place_name(zone, turn.customer.locale, turn.now)) for zone in zones]
    choices.append(Choice(KEEP, turn.t._("Keep %(place)s", place=place_name(current, turn.customer.locale, turn.now))))
    turn.say(
        turn.t._(
            "Which time zone are you in? Choose it below or type your city. "
            "Until you tell me, I give times for %(place)s.",
            place=place_name(current, turn.customer.locale, turn.now),
        ),
        choices,
    )


async def handle(turn: Turn) -> str | None:
    """The answer; once the zone is set, the text saying so, with the conversation back
    where /timezone interrupted it (the caller asks that question again)."""
    event = turn.event
    zone: str | None = None
    if event.kind is Kind.CHOICE and event.choice == KEEP:
        zone = turn.t.tz.key
    elif event.kind is Kind.CHOICE and (event.choice or "").startswith("tz:"):
        picked = (event.choice or "")[3:]
        zone = picked if picked in ZONES else None
    elif event.kind is Kind.TEXT:
        zone = zone_for_text(event.text, turn.customer.locale)
        if zone is None:
            turn.say(turn.t._("I do not know the place “%(text)s”. Please type a bigger city near you, or choose below.", text=event.text[:60]))
    if zone is None:
        _question(turn)
        return None
    if event.kind is Kind.CHOICE:
        turn.chosen_label = place_name(zone, turn.customer.locale, turn.now)
    due = _saved_due(turn)
    await turn.update_customer(timezone=zone)  # turn.t now speaks in that zone
    text = turn.t._(
        "Done: I will give you times for %(place)s. It is %(time)s there now.",
        place=place_name(zone, turn.customer.locale, turn.now), time=turn.t.time(turn.now.astimezone(turn.t.tz).time()),
    )
    if due:
        text += "\n\n" + describe(turn, due)
    back = turn.slots.get("back_to") or {}
    turn.goto(back.get("state", ""), back.get("slots") or {})
    return text


def _saved_due(turn: Turn) -> DueTimes | None:
    saved = turn.slots.get("due")
    if not saved:
        return None
    first, on_site, fixed = (datetime.fromisoformat(d) if d else None for d in saved)
    return DueTimes(first, on_site, fixed)
