"""Babel catalogs and a translator bound to one customer's locale and time zone.

Customer-facing strings are written `t._("...")` (or marked `N_("...")` where
they are defined ahead of time) and extracted by `aftersales catalog extract`.
Placeholders use the named %-style: `t._("Ticket %(number)s", number=n)`.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time, get_timezone_location
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

from bot.config import PROJECT_ROOT
from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural pair for extraction; shown later with `Translator.n`."""
    return singular, plural


def normalize_locale(code: str | None) -> str:
    return code if code in SUPPORTED_LOCALES else DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of `locale`: the compiled .mo if it is fresh, else the .po compiled in memory."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    po = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


class Translator:
    """Texts, dates and times for one customer."""

    def __init__(self, locale: str, timezone: str) -> None:
        self.locale = normalize_locale(locale)
        self.tz = ZoneInfo(timezone)
        self._catalog = translations(self.locale)

    def _(self, message: str, **values: Any) -> str:
        text = self._catalog.gettext(message)
        return _fill(text, values) if values else text

    def n(self, singular: str, plural: str, count: int, **values: Any) -> str:
        text = self._catalog.ngettext(singular, plural, count)
        return _fill(text, {"count": count, **values})

    def join(self, items: Sequence[str]) -> str:
        """"a, b and c" / "a、b和c" in the customer's language."""
        return format_list(list(items), locale=babel_locale(self.locale)) if items else ""

    def money(self, amount: Decimal | int, currency: str) -> str:
        """An amount in the company's currency, written the customer's way."""
        return format_currency(amount, currency, locale=babel_locale(self.locale))

    def date(self, value: date, format: str = "full") -> str:
        return format_date(value, format=format, locale=babel_locale(self.locale))

    def day(self, value: dt.date) -> str:
        """A short weekday and date, e.g. "Tue, Nov 24" / "11月24日周二"."""
        return format_skeleton("MMMEd", value, locale=babel_locale(self.locale))

    def time(self, value: time) -> str:
        return format_time(value, format="short", locale=babel_locale(self.locale))

    def when(self, value: datetime) -> str:
        """A deadline: weekday, date and time in the customer's zone, naming the zone's city."""
        locale = babel_locale(self.locale)
        day = format_skeleton("MMMEd", value, tzinfo=self.tz, locale=locale)
        clock = format_time(value, format="short", tzinfo=self.tz, locale=locale)
        return f"{day} {clock}{self.bracket(get_timezone_location(self.tz, locale=locale, return_city=True))}"

    def bracket(self, text: str) -> str:
        """" (text)" after a word, "（text）" in Chinese, where ASCII brackets look foreign."""
        return f"（{text}）" if self.locale.startswith("zh") else f" ({text})"

    def datetime(self, value: datetime, format: str = "medium") -> str:
        return format_datetime(value, format=format, tzinfo=self.tz, locale=babel_locale(self.locale))


def _fill(text: str, values: dict[str, Any]) -> str:
    """`text % values`, without a doubled full stop where a value ends with one
    and the sentence too (Russian dates: "1 февраля 2025 г." + ".")."""
    filled = text % values
    for value in values.values():
        if isinstance(value, str) and value.endswith(".") and value + "." in filled:
            filled = filled.replace(value + ".", value)
    return filled


def locale_names() -> dict[str, str]:
    """Each supported locale in its own language, for the language picker."""
    return {code: (babel_locale(code).get_display_name(code) or code).capitalize() for code in SUPPORTED_LOCALES}
