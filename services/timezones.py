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
