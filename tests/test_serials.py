"""Serial numbers `LLYYMMNNNNNN`: parsing, cleaning, finding them in free text."""

from __future__ import annotations

from datetime import date

import pytest

from bot.company import load_catalog
from services.serials import find_serial, parse_serial


def test_the_documented_example() -> None:
    info = parse_serial("HA2403000123")
    assert (info.serial, info.prefix, info.manufactured, info.sequence) == ("HA2403000123", "HA", date(2024, 3, 1), 123)


@pytest.mark.parametrize("typed", ["ha2403000123", " HA-2403-000123 ", "HA 2403 000123"])
def test_what_people_type_is_cleaned(typed: str) -> None:
    assert parse_serial(typed).serial == "HA2403000123"


@pytest.mark.parametrize(
    ("serial", "reason"),
    [("HA2413000123", "month"), ("HA2400000123", "month"), ("HA240300012", "format"), ("HA24030001234", "format"),
     ("HA24O3000123", "format"), ("2403000123HA", "format"), ("", "format")],
)
def test_rejects(serial: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_serial(serial)


def test_every_product_line_prefix_parses() -> None:
    catalog = load_catalog()
    for line in catalog.lines:
        info = parse_serial(f"{line.serial_prefix}9912999999")
        assert catalog.line_for_serial_prefix(info.prefix) is line and info.manufactured == date(2099, 12, 1)


def test_found_in_free_text_but_not_inside_longer_tokens() -> None:
    assert find_serial("my unit ha2403000123 leaks").serial == "HA2403000123"
    assert find_serial("order XHA2403000123 and HA24030001234") is None
    assert find_serial("bad month HA2413000123 then good PC2311000042").serial == "PC2311000042"


@pytest.mark.parametrize(
    "typed",
    ["HA 2312 000888", "НА2312000888", "на-2312-000888", "ΗΑ2312000888", "ＨＡ２３１２０００８８８", "HA–2312–000888"],
)
def test_one_normaliser_for_spaces_dashes_case_and_look_alikes(typed: str) -> None:
    assert parse_serial(typed).serial == "HA2312000888"
    assert find_serial(f"my unit {typed} is broken").serial == "HA2312000888"


def test_a_letter_o_in_the_digits_stays_a_mistake() -> None:
    with pytest.raises(ValueError, match="format"):
        parse_serial("HA24O3000123")
    assert find_serial("call +995 555 123 456 or 2403000123") is None
    assert parse_serial("ha 2312 000888").serial == "HA2312000888"  # a whole answer may have it all


def test_the_sales_import_uses_the_same_normaliser() -> None:
    from services.sales_records import RecordParser
    from tests.test_sales_import import COLUMNS

    values = dict(zip(COLUMNS, ["НА 2403-000123", "KFR-26GW", "2024-04-02", "INV-1", "Shop", "", "", ""]))
    record = RecordParser(load_catalog(), date(2026, 12, 1), "CN").parse(values)
    assert (record.serial, record.product_line) == ("HA2403000123", "household_ac")
