"""Which time zone a customer is in: the zones their phone number allows, or a city they type.

Place names come from Babel's CLDR data (the zones' example cities in every
language), so "Денвер", "丹佛", "denver" and "America/Denver" all find America/Denver.
"""

from __future__ import annotations

import unicodedata
import zoneinfo
from datetime import datetime
from functools import lru_cache

import phonenumbers
from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location
from phonenumbers import timezone as phone_timezone

from services.contact import phone_time_zone

# The canonical Area/City zones: no Etc/, no aliases such as US/Eastern or Asia/Chongqing.
_AREAS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
_ALIASES = get_global("zone_aliases")
ZONES = frozenset(
    z for z in zoneinfo.available_timezones() if z.split("/", 1)[0] in _AREAS and z not in _ALIASES
)


def zones_for_phone(e164: str, now: datetime) -> list[str]:
    """The zones the number's country or area spans, west to east at `now` (empty if unknown)."""
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return []
    known = [z for z in zones if z in ZONES]
    return sorted(known, key=lambda z: (now.astimezone(zoneinfo.ZoneInfo(z)).utcoffset(), z))


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("_", " ")
    return " ".join(text.replace("-", " ").split())


@lru_cache(maxsize=8)
def _places(locale: str) -> dict[str, str]:
    """Spoken name -> zone, for `locale` and English: cities, countries with a single
    zone, and the zone ids themselves."""
    index: dict[str, str] = {}
    for language in ("en", locale):
        babel_locale = Locale.parse(language)
        for zone in sorted(ZONES):
            city = get_timezone_location(zone, locale=babel_locale, return_city=True)
            index.setdefault(_key(city), zone)
        for territory, zones in get_global("territory_zones").items():
            name = babel_locale.territories.get(territory)
            if name and len(zones) == 1 and zones[0] in ZONES:
                index.setdefault(_key(name), zones[0])
    for zone in sorted(ZONES):
        index.setdefault(_key(zone), zone)
        index.setdefault(_key(zone.rsplit("/", 1)[1]), zone)
    return index


def zone_for_text(text: str, locale: str) -> str | None:
    """The zone a customer means by `text` (a city or a zone id), or None."""
    key = _key(text.strip(" .,!?。，"))
    if not key or len(key) > 64:
        return None
    return _places(locale).get(key)


def known_zone(name: str | None) -> str | None:
    """The canonical zone `name` stands for, if it is an IANA zone we know (a browser's
    report is not trusted blindly); else None."""
    if not name or len(name) > 64:
        return None
    zone = _ALIASES.get(name, name)
    return zone if zone in ZONES else None


def effective_zone(known: str | None, hint: str | None, phone: str | None, company: str) -> str:
    """Where to give times: the zone the customer told us (or we learnt from their place),
    else the one their device reports, else their phone's country's if it has one zone,
    else the company's."""
    return known or known_zone(hint) or (phone_time_zone(phone) if phone else None) or company
