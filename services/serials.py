"""Serial numbers of the sample company: `LLYYMMNNNNNN`.

LL is the product line's two-letter prefix (data/products.yaml), YYMM the
manufacturing year and month (20YY), NNNNNN a running number. For example
`HA2403000123` is a household air conditioner made in March 2024. The same
string is printed as the warranty-card barcode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

SERIAL_RE = re.compile(r"^([A-Z]{2})(\d{2})(\d{2})(\d{6})$")
# In free text: the same shape, standing alone, any case.
_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2}\d{10})(?![A-Za-z0-9])")


@dataclass(frozen=True, slots=True)
class SerialInfo:
    serial: str
    prefix: str
    manufactured: date  # first day of the manufacturing month
    sequence: int


def clean(text: str) -> str:
    """Upper case, without the spaces and dashes people type inside serials."""
    return re.sub(r"[\s\-]", "", text).upper()


def parse_serial(text: str) -> SerialInfo:
    """Parse a serial; ValueError says what is wrong with it."""
    serial = clean(text)
    match = SERIAL_RE.match(serial)
    if not match:
        raise ValueError("format")
    prefix, year, month, sequence = match.groups()
    if not 1 <= int(month) <= 12:
        raise ValueError("month")
    return SerialInfo(serial, prefix, date(2000 + int(year), int(month), 1), int(sequence))


def find_serial(text: str) -> SerialInfo | None:
    """The first well-formed serial written anywhere in `text`."""
    for candidate in _IN_TEXT.findall(text):
        try:
            return parse_serial(candidate)
        except ValueError:
            continue
    return None
