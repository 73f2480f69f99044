"""Serial numbers of the sample company: `LLYYMMNNNNNN`.

LL is the product line's two-letter prefix (data/products.yaml), YYMM the
manufacturing year and month (20YY), NNNNNN a running number. For example
`HA2403000123` is a household air conditioner made in March 2024. The same
string is printed as the warranty-card barcode.

`normalize` is the one place that turns what people type into that form: the
forms, the warranty check, the product registry and the sales import all go
through it (via `parse_serial` / `find_serial` / `clean`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

SERIAL_RE = re.compile(r"^([A-Z]{2})(\d{2})(\d{2})(\d{6})$")

# Cyrillic and Greek capitals that look like Latin ones (typed on a Russian or Greek
# keyboard layout, or pasted). Only letters: a digit-shaped letter such as O for 0
# stays a mistake the customer is told about.
_FOREIGN = "АВЕКМНОРСТУХ" "ІЈЅ" "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"  # Cyrillic, Greek
_LATIN = "ABEKMHOPCTYX" "IJS" "ABEZHIKMNOPTYX"
_LOOK_ALIKES = str.maketrans(_FOREIGN + _FOREIGN.lower(), _LATIN + _LATIN.lower())
# Spaces and every kind of dash people put between the parts.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\uff0d_]")
# In free text: two letters and ten digits, standing alone, with spaces or dashes
# between the digits ("HA 2403 000123", "ha-2403-000123"); a space after the letters
# only when they are capitals ("or 2403000123" is a word and a number).
_DASH = r"\-\u2010-\u2015\u2212"
_IN_TEXT = re.compile(
    rf"(?<![A-Za-z0-9])((?:[A-Z]{{2}}[ {_DASH}]?|[A-Za-z]{{2}}[{_DASH}]?)(?:\d[ {_DASH}]?){{9}}\d)(?![A-Za-z0-9])"
)


@dataclass(frozen=True, slots=True)
class SerialInfo:
    serial: str
    prefix: str
    manufactured: date  # first day of the manufacturing month
    sequence: int


def _fold(text: str) -> str:
    """Full-width forms to ASCII (NFKC), look-alike letters to Latin."""
    return unicodedata.normalize("NFKC", text).translate(_LOOK_ALIKES)


def normalize(text: str) -> str:
    """A typed serial in its printed form: no spaces or dashes, upper case, Latin letters."""
    return _SEPARATORS.sub("", _fold(text)).upper()


clean = normalize  # the registry's name for it


def parse_serial(text: str) -> SerialInfo:
    """Parse a serial; ValueError says what is wrong with it."""
    serial = normalize(text)
    match = SERIAL_RE.match(serial)
    if not match:
        raise ValueError("format")
    prefix, year, month, sequence = match.groups()
    if not 1 <= int(month) <= 12:
        raise ValueError("month")
    return SerialInfo(serial, prefix, date(2000 + int(year), int(month), 1), int(sequence))


def find_serial(text: str) -> SerialInfo | None:
    """The first well-formed serial written anywhere in `text`."""
    for candidate in _IN_TEXT.findall(_fold(text)):
        try:
            return parse_serial(candidate)
        except ValueError:
            continue
    return None


def read_serial(text: str) -> SerialInfo | None:
    """A serial typed as the answer to a question: the whole answer ("ha 2312 000888"),
    else one written within it ("it is HA2312000888")."""
    try:
        return parse_serial(text)
    except ValueError:
        return find_serial(text)
