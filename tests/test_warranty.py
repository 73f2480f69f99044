"""Warranty rules, table-driven from domain.md §3 through the shipped data/warranty.yaml."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.company import load_catalog
from services.downtime import DowntimeRecord, effective_start, restarts
from services.periods import LIFETIME, Period, add_months, add_period, coverage_end, remaining_days
from services.serials import parse_serial
from services.warranty import (
    WarrantySettings,
    evaluate,
    load_config,
    load_policies,
    load_settings,
    remedies,
    replaced_part_end,
    three_guarantees_window,
    warranty_start,
)

WARRANTY_YAML = Path(__file__).resolve().parent.parent / "data" / "warranty.yaml"
CONFIG = load_config(WARRANTY_YAML)
POLICIES = CONFIG.lines
SETTINGS = CONFIG.settings
LINE_IDS = {
    "household_ac", "light_commercial_ac", "air_water_heater", "computer",
    "monitor", "notebook", "laser", "it_project",
}
MAIN_PARTS = ("mainboard", "cpu", "memory", "hard_disk", "power_supply", "graphics_card",
              "network_card", "sound_card", "video_capture_card")
MINOR_PARTS = ("floppy_drive", "optical_drive", "cpu_fan", "graphics_card_fan", "keyboard", "mouse", "speakers")
ACCESSORIES = ("bundled_documents", "crt_monitor_base", "power_cord", "headset")

# domain.md §3.1, one row per (line, component): period, service, replacement only.
TABLE_3_1 = [
    ("household_ac", "whole_unit", "6 years", "on_site", False),
    ("household_ac", "compressor", "6 years", "on_site", False),
    ("household_ac", "spare_parts", "lifetime", "on_site", True),
    ("light_commercial_ac", "whole_unit", "6 years", "on_site", False),
    ("air_water_heater", "main_unit", "5 years", "on_site", False),
    ("air_water_heater", "water_tank", "8 years", "on_site", True),
    *[("computer", part, "3 years", "on_site", False) for part in MAIN_PARTS],
    *[("computer", part, "1 year", "on_site", False) for part in MINOR_PARTS],
    *[("computer", part, "3 months", "on_site", False) for part in ACCESSORIES],
    ("computer", "software", "3 years", "on_site", False),
    ("computer", "software_service", "lifetime", "carry_in", False),
    ("monitor", "crt_monitor", "3 years", "on_site", False),
    ("monitor", "lcd_monitor", "1 year", "on_site", False),
    ("notebook", "notebook", "1 year", "on_site", False),
    ("notebook", "battery", "6 months", "carry_in", False),
    ("laser", "software_upgrades", "lifetime", "carry_in", False),
    ("it_project", "all_equipment", "3 years", "on_site", False),
]

# Last covered day for a warranty starting 2024-01-15 (inclusive counting).
START = date(2024, 1, 15)
LAST_DAY = {
    "8 years": date(2032, 1, 14), "6 years": date(2030, 1, 14), "5 years": date(2029, 1, 14),
    "3 years": date(2027, 1, 14), "1 year": date(2025, 1, 14), "6 months": date(2024, 7, 14),
    "3 months": date(2024, 4, 14), "lifetime": None,
}


# --- §3.1 the table -----------------------------------------------------------

def test_shipped_file_has_exactly_the_product_lines() -> None:
    assert set(POLICIES) == LINE_IDS
    assert {line.id for line in load_catalog().lines} == LINE_IDS  # the catalogue has the same lines


def test_shipped_file_has_exactly_the_components_of_the_table() -> None:
    expected: dict[str, set[str]] = {}
    for line, component, *_ in TABLE_3_1:
        expected.setdefault(line, set()).add(component)
    assert {line: {c.component for c in p.components} for line, p in POLICIES.items()} == expected


@pytest.mark.parametrize(("line", "component", "period", "service", "replacement_only"), TABLE_3_1)
def test_table_3_1_row(line: str, component: str, period: str, service: str, replacement_only: bool) -> None:
    policy = POLICIES[line].component(component)
    assert str(policy.period) == period
    assert policy.service == service
    assert policy.replacement_only is replacement_only


@pytest.mark.parametrize(("line", "component", "period", "service", "replacement_only"), TABLE_3_1)
def test_table_3_1_row_covers_through_its_last_day(
    line: str, component: str, period: str, service: str, replacement_only: bool
) -> None:
    last = LAST_DAY[period]
    verdict = evaluate(POLICIES[line], START, last or date(2999, 12, 31), component=component)
    assert verdict.in_warranty and verdict.component(component).end == last
    if last is not None:
        after = evaluate(POLICIES[line], START, last + timedelta(days=1), component=component)
        assert not after.in_warranty and after.reason == "expired"


@pytest.mark.parametrize("line", sorted(LINE_IDS))
def test_start_basis(line: str) -> None:
    assert POLICIES[line].start_basis == ("acceptance" if line == "it_project" else "invoice")


@pytest.mark.parametrize("line", sorted(LINE_IDS))
@pytest.mark.parametrize("excluded", ["gift", "bundled_material", "third_party_part"])
def test_exclusions_on_every_line(line: str, excluded: str) -> None:
    assert excluded in POLICIES[line].exclusions
    verdict = evaluate(POLICIES[line], START, START, component=excluded)
    assert not verdict.in_warranty and verdict.reason == "excluded"
    assert verdict.charges is not None


def test_settings_defaults_in_file_and_code() -> None:
    for settings in (SETTINGS, WarrantySettings(), load_settings(WARRANTY_YAML)):
        assert settings.return_until_day == 7
        assert settings.exchange_until_day == 20
        assert settings.extension_downtime_days == 20
        assert settings.replaced_part_months == 3
        assert settings.onsite_fee == Decimal(50)


# --- periods ------------------------------------------------------------------

@pytest.mark.parametrize(("start", "period", "anniversary"), [
    (date(2024, 1, 31), Period(amount=1, unit="months"), date(2024, 2, 29)),
    (date(2023, 1, 31), Period(amount=1, unit="months"), date(2023, 2, 28)),
    (date(2024, 2, 29), Period(amount=1, unit="years"), date(2025, 2, 28)),
    (date(2024, 2, 29), Period(amount=4, unit="years"), date(2028, 2, 29)),
    (date(2024, 8, 31), Period(amount=6, unit="months"), date(2025, 2, 28)),
    (date(2024, 12, 15), Period(amount=3, unit="months"), date(2025, 3, 15)),
    (date(2024, 1, 1), Period(amount=90, unit="days"), date(2024, 3, 31)),
    (date(2024, 1, 1), LIFETIME, None),
])
def test_add_period(start: date, period: Period, anniversary: date | None) -> None:
    assert add_period(start, period) == anniversary


def test_coverage_is_inclusive_of_the_end_day() -> None:
    one_year = Period(amount=1, unit="years")
    assert coverage_end(date(2024, 3, 15), one_year) == date(2025, 3, 14)
    notebook = POLICIES["notebook"]
    assert evaluate(notebook, date(2024, 3, 15), date(2025, 3, 14), component="notebook").in_warranty
    assert not evaluate(notebook, date(2024, 3, 15), date(2025, 3, 15), component="notebook").in_warranty
    assert evaluate(notebook, date(2024, 3, 15), date(2024, 3, 15), component="notebook").in_warranty


@pytest.mark.parametrize("text", ["6 years", "1 year", "3 months", "1 month", "90 days", "lifetime"])
def test_period_text_round_trips(text: str) -> None:
    assert str(Period.model_validate(text)) == text


@pytest.mark.parametrize("bad", ["6 yeras", "six years", "0 years", "-1 days", ""])
def test_period_text_rejects_nonsense(bad: str) -> None:
    with pytest.raises(ValueError):
        Period.model_validate(bad)


def test_lifetime_takes_no_amount() -> None:
    with pytest.raises(ValueError):
        Period(amount=3, unit="lifetime")


# --- §3.2 start ---------------------------------------------------------------

def test_start_from_invoice_even_with_serial() -> None:
    made = parse_serial("HA2403000123").manufactured
    assert warranty_start(date(2024, 5, 6), made, None, POLICIES["household_ac"]) == (date(2024, 5, 6), "invoice")


def test_start_from_manufacturing_month_without_invoice() -> None:
    start, basis = warranty_start(None, parse_serial("PC2311000042").manufactured, None, POLICIES["computer"])
    assert (start, basis) == (date(2023, 11, 1), "manufacture")


def test_start_needs_invoice_or_serial() -> None:
    with pytest.raises(ValueError, match="invoice date or the serial"):
        warranty_start(None, None, None, POLICIES["computer"])


def test_project_starts_at_acceptance_not_invoice() -> None:
    it = POLICIES["it_project"]
    assert warranty_start(date(2024, 1, 2), None, date(2024, 6, 30), it) == (date(2024, 6, 30), "acceptance")
    with pytest.raises(ValueError, match="acceptance"):
        warranty_start(date(2024, 1, 2), date(2024, 1, 1), None, it)


# --- §3.3 three guarantees ----------------------------------------------------

SALE = date(2024, 1, 28)  # day 1; day 7 = Feb 3, day 20 = Feb 16


@pytest.mark.parametrize(("on_date", "window"), [
    (SALE - timedelta(days=1), None),
    (SALE, "return"),                       # day 1
    (date(2024, 2, 3), "return"),           # day 7
    (date(2024, 2, 4), "exchange"),         # day 8
    (date(2024, 2, 16), "exchange"),        # day 20
    (date(2024, 2, 17), "repair"),          # day 21
    (date(2026, 1, 1), "repair"),
])
def test_three_guarantees_boundaries(on_date: date, window: str | None) -> None:
    assert three_guarantees_window(SALE, on_date, SETTINGS) == window


def test_three_guarantees_exchange_bound_is_a_setting() -> None:
    fifteen = WarrantySettings(exchange_until_day=15)
    assert three_guarantees_window(SALE, SALE + timedelta(days=14), fifteen) == "exchange"  # day 15
    assert three_guarantees_window(SALE, SALE + timedelta(days=15), fifteen) == "repair"    # day 16


def test_remedies_per_window() -> None:
    assert remedies("return") == ("return", "exchange", "repair")
    assert remedies("exchange") == ("exchange", "repair")
    assert remedies("repair") == ("repair",)
    assert remedies(None) == ()


def test_settings_reject_return_after_exchange() -> None:
    with pytest.raises(ValueError):
        WarrantySettings(return_until_day=21, exchange_until_day=20)


# --- §3.4 downtime extension --------------------------------------------------

AC_START = date(2024, 1, 1)


def ac_end(start: date) -> date | None:
    return coverage_end(start, Period(amount=6, unit="years"))


def test_19_days_do_not_restart() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 20))]  # 19 days
    assert effective_start(AC_START, records, ac_end, SETTINGS) == AC_START


def test_exactly_20_days_do_not_restart() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 11)),
               DowntimeRecord(date(2024, 5, 1), date(2024, 5, 11))]
    assert effective_start(AC_START, records, ac_end, SETTINGS) == AC_START


def test_21_days_in_two_tickets_restart_from_working_again_day() -> None:
    records = [(date(2024, 5, 1), date(2024, 5, 12), True),   # 11 days, second ticket
               (date(2024, 3, 1), date(2024, 3, 11), True)]   # 10 days, first ticket
    assert effective_start(AC_START, records, ac_end, SETTINGS) == date(2024, 5, 12)


def test_overlapping_tickets_count_each_day_once() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 15)),
               DowntimeRecord(date(2024, 3, 10), date(2024, 3, 20))]  # union: 19 days
    assert restarts(AC_START, records, ac_end, SETTINGS) == ()


def test_user_caused_and_unfinished_downtime_do_not_count() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 31), own_fault=False),
               DowntimeRecord(date(2024, 4, 1), None)]
    assert restarts(AC_START, records, ac_end, SETTINGS) == ()


def test_count_resets_after_a_restart() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 22)),   # 21 -> restart 3-22
               DowntimeRecord(date(2024, 6, 1), date(2024, 6, 16)),   # 15 after restart: no
               DowntimeRecord(date(2024, 7, 1), date(2024, 7, 7))]    # 15 + 6 = 21 -> restart 7-7
    assert restarts(AC_START, records, ac_end, SETTINGS) == (date(2024, 3, 22), date(2024, 7, 7))


def test_downtime_after_the_warranty_does_not_count() -> None:
    records = [DowntimeRecord(date(2030, 2, 1), date(2030, 3, 1))]
    assert restarts(AC_START, records, ac_end, SETTINGS) == ()


def test_downtime_threshold_is_a_setting() -> None:
    records = [DowntimeRecord(date(2024, 3, 1), date(2024, 3, 17))]  # 16 days
    assert restarts(AC_START, records, ac_end, WarrantySettings(extension_downtime_days=15)) == (date(2024, 3, 17),)


def test_bad_downtime_record() -> None:
    with pytest.raises(ValueError, match="working again before"):
        restarts(AC_START, [DowntimeRecord(date(2024, 3, 2), date(2024, 3, 1))], ac_end, SETTINGS)


def test_evaluate_applies_the_restart() -> None:
    ac = POLICIES["household_ac"]
    downtime = [DowntimeRecord(date(2029, 6, 1), date(2029, 6, 22))]  # 21 days in year 6
    on = date(2031, 1, 1)
    assert not evaluate(ac, AC_START, on, component="whole_unit").in_warranty
    verdict = evaluate(ac, AC_START, on, component="whole_unit", downtime=downtime)
    assert verdict.in_warranty
    assert verdict.component("whole_unit").start == date(2029, 6, 22)
    assert verdict.component("whole_unit").end == date(2035, 6, 21)


# --- §3.5 verdict and out-of-warranty terms ---------------------------------

def test_in_warranty_verdict() -> None:
    verdict = evaluate(POLICIES["computer"], date(2024, 1, 1), date(2025, 6, 1), cause="product")
    assert verdict.in_warranty and verdict.reason is None and verdict.charges is None
    assert verdict.requires_proof_of_purchase
    assert verdict.component("mainboard").covered and verdict.component("mainboard").service == "on_site"
    assert not verdict.component("keyboard").covered  # 1 year is over
    assert verdict.component("software_service").end is None


def test_out_of_warranty_terms() -> None:
    verdict = evaluate(POLICIES["computer"], date(2020, 1, 1), date(2024, 1, 1))
    assert not verdict.in_warranty and verdict.reason == "expired"
    terms = verdict.charges
    assert terms is not None
    assert terms.parts == "at_cost"
    assert terms.onsite_visit_fee == Decimal(50)
    assert terms.carry_in_service_fee == 0
    assert terms.phone_support_fee == 0
    assert terms.replaced_part_warranty == Period(amount=3, unit="months")
    assert terms.requires_customer_consent is True
    assert not verdict.requires_proof_of_purchase


@pytest.mark.parametrize(("cause", "reason"), [("user", "user_caused"), ("disaster", "disaster")])
def test_user_or_disaster_within_the_period(cause: str, reason: str) -> None:
    verdict = evaluate(POLICIES["household_ac"], date(2024, 1, 1), date(2024, 6, 1), cause=cause)  # type: ignore[arg-type]
    assert not verdict.in_warranty and verdict.reason == reason
    assert all(not c.covered and c.in_period for c in verdict.components)
    assert verdict.charges is not None and verdict.charges.requires_customer_consent


def test_expired_wins_over_cause() -> None:
    verdict = evaluate(POLICIES["monitor"], date(2020, 1, 1), date(2024, 1, 1), cause="user")
    assert verdict.reason == "expired"


def test_unknown_cause_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown cause"):
        evaluate(POLICIES["monitor"], START, START, cause="users")  # type: ignore[arg-type]


def test_unknown_component_is_rejected() -> None:
    with pytest.raises(ValueError, match="no component 'fan'"):
        evaluate(POLICIES["monitor"], START, START, component="fan")


def test_lifetime_spare_parts_outlive_the_unit() -> None:
    verdict = evaluate(POLICIES["household_ac"], date(2010, 1, 1), date(2024, 1, 1))
    assert not verdict.in_warranty and verdict.reason == "expired"
    spare = verdict.component("spare_parts")
    assert spare.covered and spare.replacement_only and spare.end is None
    assert evaluate(POLICIES["household_ac"], date(2010, 1, 1), date(2024, 1, 1), component="spare_parts").in_warranty


def test_before_the_start() -> None:
    verdict = evaluate(POLICIES["it_project"], date(2024, 6, 30), date(2024, 6, 1))
    assert verdict.reason == "not_started" and not verdict.in_warranty


def test_replaced_part_carries_three_months() -> None:
    assert replaced_part_end(date(2024, 5, 10), SETTINGS) == date(2024, 8, 9)
    assert replaced_part_end(date(2024, 11, 30), SETTINGS) == date(2025, 2, 27)


# --- loading errors -----------------------------------------------------------

GOOD_LINE = "lines:\n  x:\n    components:\n      - {component: a, period: 1 year, service: on_site}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "warranty.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_minimal(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, GOOD_LINE + "settings:\n  currency: CNY\n"))
    assert policies["x"].line_id == "x" and policies["x"].start_basis == "invoice"


@pytest.mark.parametrize(("text", "field", "line"), [
    (GOOD_LINE.replace("1 year", "1 yera"), "lines.x.components[0].period", 4),
    (GOOD_LINE.replace("on_site", "by_mail"), "lines.x.components[0].service", 4),
    (GOOD_LINE + "      - {component: a, period: 1 year, service: on_site}\n", "lines.x", 2),  # the key's line
    (GOOD_LINE + "settings:\n  return_until_day: 30\n", "settings", 5),
    (GOOD_LINE.replace("    components", "    start_basis: delivery\n    components"), "lines.x.start_basis", 3),
    (GOOD_LINE.replace("  x:\n", "  x:\n    line_id: y\n") + "settings:\n  currency: CNY\n", "(top level)", None),
])
def test_load_errors_name_file_line_and_field(tmp_path: Path, text: str, field: str, line: int | None) -> None:
    with pytest.raises(ValueError) as info:
        load_policies(write(tmp_path, text))
    message = str(info.value)
    assert "warranty.yaml" in message and field in message
    if line is not None:
        assert re.search(rf"warranty\.yaml: {re.escape(field)}: .+ \(line {line}\)$", message), message


def test_load_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_policies(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="line 2: YAML syntax error"):
        load_policies(write(tmp_path, "lines: [\n"))
    with pytest.raises(ValueError, match=r"\(top level\): must be a mapping \(got a list\)"):
        load_policies(write(tmp_path, "- 1\n"))


# --- properties ---------------------------------------------------------------

dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))
finite_periods = st.builds(
    Period,
    amount=st.integers(min_value=1, max_value=120),
    unit=st.sampled_from(["days", "months", "years"]),
)
periods = finite_periods | st.just(LIFETIME)


@given(dates, st.integers(min_value=-1200, max_value=1200))
def test_add_months_clamps_to_month_end(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day == start.day or (result.day < start.day and (result + timedelta(days=1)).day == 1)


@given(st.integers(min_value=1992, max_value=2196).filter(lambda y: y % 4 == 0 and (y % 100 or y % 400 == 0)),
       st.integers(min_value=1, max_value=8))
def test_leap_day_plus_years(year: int, years: int) -> None:
    result = add_period(date(year, 2, 29), Period(amount=years, unit="years"))
    assert result is not None and result.month == 2
    target = year + years
    is_leap = target % 4 == 0 and (target % 100 != 0 or target % 400 == 0)
    assert result.day == (29 if is_leap else 28)


@given(dates, finite_periods)
def test_coverage_end_not_before_start(start: date, period: Period) -> None:
    end = coverage_end(start, period)
    assert end is not None and end >= start
    assert end + timedelta(days=1) == add_period(start, period)


@given(dates, dates, finite_periods)
def test_coverage_end_is_monotonic(a: date, b: date, period: Period) -> None:
    assume(a <= b)
    end_a, end_b = coverage_end(a, period), coverage_end(b, period)
    assert end_a is not None and end_b is not None and end_a <= end_b


@given(dates, st.integers(min_value=0, max_value=40000))
def test_lifetime_never_expires(start: date, later: int) -> None:
    on = start + timedelta(days=later)
    for line, component in (("laser", "software_upgrades"), ("household_ac", "spare_parts")):
        assert evaluate(POLICIES[line], start, on, component=component).in_warranty


@given(dates, periods, dates)
def test_remaining_coverage_never_negative(start: date, period: Period, on: date) -> None:
    end = coverage_end(start, period)
    left = remaining_days(end, on)
    if end is None:
        assert left is None
    else:
        assert left is not None and left >= 0
        assert (left == 0) == (on > end)


@given(dates, st.integers(min_value=-5, max_value=60))
def test_three_guarantees_follow_the_day_count(sale: date, offset: int) -> None:
    window = three_guarantees_window(sale, sale + timedelta(days=offset), SETTINGS)
    day = offset + 1
    expected = None if day < 1 else "return" if day <= 7 else "exchange" if day <= 20 else "repair"
    assert window == expected


downtime_records = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=40), st.booleans()),
    max_size=8,
)


@given(dates, downtime_records)
def test_downtime_restarts_only_forward_and_beyond_threshold(start: date, raw: list[tuple[int, int, bool]]) -> None:
    records = [DowntimeRecord(start + timedelta(days=o), start + timedelta(days=o + n), own) for o, n, own in raw]
    found = restarts(start, records, ac_end, SETTINGS)
    assert list(found) == sorted(found) and all(day > start for day in found)
    own_days = sum(n for _, n, own in raw if own)
    if own_days <= SETTINGS.extension_downtime_days:
        assert found == ()
    assert effective_start(start, records, ac_end, SETTINGS) == (found[-1] if found else start)
