"""When to offer another language: a customer who keeps writing in another of our languages.

Two typed messages in a row in the same other language (a message that tells no language,
"ok" or a serial number, neither counts nor breaks the row) bring one polite offer to switch,
with buttons; a language once offered is not offered again. Stored on the customer as
`language_streak` ("ru:2") and `language_offered` ("ru,ka").
"""

from __future__ import annotations

from dataclasses import dataclass

IN_A_ROW = 2  # messages in another language before the offer


@dataclass(frozen=True, slots=True)
class Streak:
    language: str | None = None
    count: int = 0

    @classmethod
    def parse(cls, stored: str | None) -> Streak:
        language, _, count = (stored or "").partition(":")
        return cls(language, int(count)) if language and count.isdigit() else cls()

    def stored(self) -> str | None:
        return f"{self.language}:{self.count}" if self.language else None


def observe(streak: Streak, written: str | None, current: str) -> Streak:
    """The row after a message written in `written` (None: the text does not tell) by a
    customer spoken to in `current`."""
    if written is None:
        return streak
    if written == current:
        return Streak()
    return Streak(written, streak.count + 1 if written == streak.language else 1)


def offered(stored: str | None) -> set[str]:
    return {code for code in (stored or "").split(",") if code}


def to_offer(streak: Streak, already: set[str]) -> str | None:
    """The language to offer now, if any."""
    if streak.language and streak.count >= IN_A_ROW and streak.language not in already:
        return streak.language
    return None
