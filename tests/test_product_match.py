"""Typed product names: whole words, synonyms per language, ambiguity asked."""

from __future__ import annotations

import pytest

from bot.company import load_catalog
from services.product_match import match_lines

CATALOG = load_catalog()
TERMS = {line.id: line.terms() for line in CATALOG.lines}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("e", []),  # not a substring match any more
        ("laptop", ["notebook"]),
        ("notebook", ["notebook"]),
        ("my laptop will not start", ["notebook"]),
        ("household", ["household_ac"]),
        ("air conditioner", ["household_ac"]),
        ("commercial air conditioner", ["light_commercial_ac"]),
        ("air", ["household_ac", "light_commercial_ac", "air_water_heater"]),
        ("ноутбук", ["notebook"]),
        ("кондиционер", ["household_ac"]),
        ("笔记本电脑", ["notebook"]),
        ("空调", ["household_ac"]),
        ("商用空调", ["light_commercial_ac"]),
        ("筆電", ["notebook"]),
        ("ლეპტოპი", ["notebook"]),
        ("banana", []),
    ],
)
def test_whole_words_and_synonyms_per_language(typed: str, meant: list[str]) -> None:
    assert sorted(match_lines(typed, TERMS)) == sorted(meant)


def test_no_synonym_means_two_lines() -> None:
    seen: dict[str, str] = {}
    for line in CATALOG.lines:
        for term in line.terms():
            key = term.casefold()
            assert seen.setdefault(key, line.id) == line.id, f"{term!r} is a term of {seen[key]} and {line.id}"
