"""Ticket kinds, statuses and readable numbers (pure rules)."""

from __future__ import annotations

import re

PREFIX = {"repair": "R", "complaint": "C", "person": "H", "warranty": "W", "visit": "V"}
OPEN_STATUSES = ("open", "queued", "assigned")
NUMBER_RE = re.compile(r"\b([RCHWV])-(\d{4})-(\d{6})\b", re.IGNORECASE)


def format_number(kind: str, year: int, sequence: int) -> str:
    """`R-2026-000042`: kind letter, year, running number within that year."""
    return f"{PREFIX[kind]}-{year:04d}-{sequence:06d}"


def find_number(text: str) -> str | None:
    """A ticket number written anywhere in `text`, normalised to upper case."""
    match = NUMBER_RE.search(text)
    return match.group(0).upper() if match else None
