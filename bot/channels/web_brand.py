"""What the web chat says about the company: its name, logo and colours (data/company.yaml),
the agents' opening hours and, outside them, when a person will be back (data/teams.yaml)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from babel.dates import format_time, get_day_names, get_timezone_location

from bot.brand import Brand
from bot.company import Company
from bot.i18n import N_, Translator, babel_locale
from services.business_hours import BusinessHours, back_at

LOGO_URL = "/brand/logo"
AWAY = N_("Our team is away now. A person will be back %(time)s.")
HOURS = N_("People answer %(days)s, %(start)s–%(end)s%(zone)s")

# The look when data/company.yaml is absent (a test company): the page's own colours.
DEFAULT_COLOURS = {"primary": "#0A58CA", "on_primary": "#FFFFFF"}


def day_ranges(weekdays: frozenset[int]) -> list[tuple[int, int]]:
    """Consecutive weekdays as (first, last) pairs: {0,1,2,3,4,6} -> [(0, 4), (6, 6)]."""
    ranges: list[tuple[int, int]] = []
    for day in sorted(weekdays):
        if ranges and ranges[-1][1] == day - 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def hours_text(hours: BusinessHours, t: Translator) -> str:
    """"People answer Mon–Fri, 09:00–18:00 (Tbilisi)" in the customer's language."""
    locale = babel_locale(t.locale)
    names = get_day_names("abbreviated", locale=locale)
    days = t.join([names[a] if a == b else f"{names[a]}–{names[b]}" for a, b in day_ranges(hours.weekdays)])
    when = datetime(2026, 1, 5)  # any day: only the clock is formatted, in the team's zone
    start = format_time(datetime.combine(when, hours.start), format="short", locale=locale)
    end = format_time(datetime.combine(when, hours.end) if hours.end != time(0) else when, format="short", locale=locale)
    zone = t.bracket(get_timezone_location(hours.zone, locale=locale, return_city=True))
    return t._(HOURS, days=days, start=start, end=end, zone=zone)


def brand_frame(company: Company | None, locale: str, timezone: str, now: datetime) -> dict[str, Any]:
    """The company's look and the agents' presence, for the page's hello frame."""
    t = Translator(locale, timezone)
    brand: Brand | None = company.brand.brand if company and company.brand else None
    frame: dict[str, Any] = {
        "name": brand.name_in(locale) if brand else None,
        "logo": LOGO_URL if brand else None,
        "colours": brand.colours.model_dump() if brand else DEFAULT_COLOURS,
        "position": brand.position.value if brand else "right",
        "hours": None, "away": None,
    }
    teams = company.teams if company else None
    if teams is not None:
        team = teams.team_for(locale).business_hours
        frame["hours"] = hours_text(team, t)
        back = back_at(now, team, teams.holidays)
        if back is not None:
            frame["away"] = t._(AWAY, time=t.when(back))
    return frame
