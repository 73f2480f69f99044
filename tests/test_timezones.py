"""Finding a customer's time zone from a typed place or a phone number (services/timezones.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.timezones import ZONES, zone_for_text, zones_for_phone

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "locale", "zone"),
    [
        ("Denver", "en", "America/Denver"),
        ("  new york! ", "en", "America/New_York"),
        ("Денвер", "ru", "America/Denver"),
        ("Москва", "ru", "Europe/Moscow"),
        ("Грузия", "ru", "Asia/Tbilisi"),  # a country with one zone
        ("თბილისი", "ka", "Asia/Tbilisi"),
        ("上海", "zh_Hans", "Asia/Shanghai"),  # not the alias Asia/Chongqing
        ("東京", "zh_Hant", "Asia/Tokyo"),
        ("America/Los_Angeles", "ka", "America/Los_Angeles"),
        ("Tbilisi", "zh_Hans", "Asia/Tbilisi"),  # English names work in every language
    ],
)
def test_places_in_every_language(text: str, locale: str, zone: str) -> None:
    assert zone_for_text(text, locale) == zone


@pytest.mark.parametrize("text", ["", "   ", "Atlantis", "x" * 500, "'; DROP TABLE customers; --", "US/Eastern", "Etc/GMT+5"])
def test_nonsense_and_aliases_find_nothing(text: str) -> None:
    assert zone_for_text(text, "en") is None


def test_phone_zones_west_to_east() -> None:
    russia = zones_for_phone("+79161234567", NOW)
    assert russia[0] in ("Europe/Bucharest", "Europe/Kaliningrad") and russia[-1] in ("Asia/Kamchatka", "Asia/Anadyr")
    assert "Europe/Moscow" in russia and "Asia/Vladivostok" in russia
    assert zones_for_phone("+8613800138000", NOW) == ["Asia/Shanghai"]
    assert zones_for_phone("not a number", NOW) == []
    assert all(zone in ZONES for zone in russia)
