"""SLA rules, table-driven from domain.md §2 through the shipped data/sla.yaml."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.business_hours import BusinessHours, add_business_time
from services.sla import (
    SlaClass,
    SlaRule,
    classify,
    due_at,
    due_times,
    haversine_km,
    load_sla,
    nearest_km,
)

SLA_YAML = Path(__file__).resolve().parent.parent / "data" / "sla.yaml"
CONFIG = load_sla(SLA_YAML)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TBILISI = ZoneInfo("Asia/Tbilisi")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
AC_LINES = ("household_ac", "light_commercial_ac", "air_water_heater")
PC_LINES = ("computer", "monitor", "notebook")
ALL_LINES = (*AC_LINES, *PC_LINES, "laser", "it_project")
C = SlaClass

# domain.md §2: (line, class) -> first response, on site, fixed (hours; None = no commitment), clock.
TABLE_2 = [
    *[(line, C.CITY, 1, 2, 24, "24x7") for line in AC_LINES],                           # 001 §1.1
    *[(line, C.CITY, None, 2, 4, "24x7") for line in PC_LINES],                         # 002 §4
    *[(line, C.WITHIN_300KM, None, 2, 24, "24x7") for line in PC_LINES],
    *[(line, C.BEYOND_300KM, None, 2, 24, "24x7") for line in PC_LINES],
    *[(line, C.COUNTY_NO_STATION, 2, 48, None, "24x7") for line in PC_LINES],
    ("laser", C.CITY, None, 24, None, "24x7"),                                          # 000 §6
    ("laser", C.WITHIN_300KM, None, 24, None, "24x7"),
    ("laser", C.BEYOND_300KM, None, 72, None, "24x7"),
    ("laser", C.COUNTY_NO_STATION, None, 72, None, "24x7"),
    *[(line, C.OVERSEAS, 10, None, 72, "24x7") for line in ALL_LINES],                  # 000 §6
    ("it_project", C.CITY, 1, 2, None, "business_hours"),                               # 003 §3
    ("it_project", C.WITHIN_300KM, 1, 2, None, "business_hours"),
    ("it_project", C.BEYOND_300KM, 1, None, None, "business_hours"),
    ("it_project", C.COUNTY_NO_STATION, 1, None, None, "business_hours"),
]
DEFAULTED = [(line, cls) for line in AC_LINES for cls in (C.WITHIN_300KM, C.BEYOND_300KM, C.COUNTY_NO_STATION)]


def hours(value: int | None) -> timedelta | None:
    return None if value is None else value * H


# --- §2 the table -------------------------------------------------------------

@pytest.mark.parametrize(("line", "cls", "first", "on_site", "fixed", "clock"), TABLE_2)
def test_table_2_row(line: str, cls: SlaClass, first: int | None, on_site: int | None,
                     fixed: int | None, clock: str) -> None:
    rule = CONFIG.rule_for(line, cls)
    assert (rule.first_response, rule.on_site, rule.fixed, rule.clock) == (
        hours(first), hours(on_site), hours(fixed), clock)


def test_table_covers_every_line_and_class() -> None:
    covered = {(line, cls) for line, cls, *_ in TABLE_2} | set(DEFAULTED)
    assert covered == {(line, cls) for line in ALL_LINES for cls in SlaClass}


@pytest.mark.parametrize(("line", "cls"), DEFAULTED)
def test_missing_combinations_use_the_explicit_default(line: str, cls: SlaClass) -> None:
    assert CONFIG.rule_for(line, cls) == CONFIG.default
    assert (CONFIG.default.first_response, CONFIG.default.on_site, CONFIG.default.fixed) == (8 * H, None, None)
    assert CONFIG.default.clock == "business_hours"


def test_unknown_line_falls_back_to_any_line_then_default() -> None:
    assert CONFIG.rule_for("kettle", "overseas").first_response == 10 * H
    assert CONFIG.rule_for("kettle", "city") == CONFIG.default


def test_ac_fixed_fallback_is_a_loaner() -> None:
    for line in AC_LINES:
        assert CONFIG.rule_for(line, C.CITY).fallback == "loaner_or_emergency_measure"


def test_it_remote_login_30_minutes_after_phone_failed() -> None:
    for cls in (C.CITY, C.WITHIN_300KM, C.BEYOND_300KM, C.COUNTY_NO_STATION):
        rule = CONFIG.rule_for("it_project", cls)
        assert rule.triggered == {"remote_login_after_phone_failed": timedelta(minutes=30)}


def test_phone_commitment() -> None:
    assert CONFIG.phone is not None
    assert CONFIG.phone.answer_within_rings == 3
    assert CONFIG.phone.unsolved_on_site == 24 * H
    assert CONFIG.phone.unsolved_proposal == 48 * H


def test_business_hours_and_holidays_in_file() -> None:
    bh = CONFIG.business_hours
    assert (bh.tz, bh.weekdays, bh.start, bh.end) == ("Asia/Shanghai", frozenset(range(5)), time(9), time(18))
    assert date(2026, 10, 1) in CONFIG.holidays


# --- classification -----------------------------------------------------------

def test_threshold_is_300_km() -> None:
    assert CONFIG.distance_threshold_km == 300


@pytest.mark.parametrize(("distance", "county", "overseas", "city", "expected"), [
    (5000.0, True, True, True, C.OVERSEAS),
    (None, True, True, False, C.OVERSEAS),
    (10.0, True, False, True, C.CITY),
    (10.0, False, False, True, C.CITY),
    (10.0, False, False, False, C.COUNTY_NO_STATION),
    (900.0, False, False, False, C.COUNTY_NO_STATION),
    (0.0, True, False, False, C.WITHIN_300KM),
    (300.0, True, False, False, C.WITHIN_300KM),
    (300.01, True, False, False, C.BEYOND_300KM),
    (None, True, False, False, C.BEYOND_300KM),
])
def test_classify(distance: float | None, county: bool, overseas: bool, city: bool, expected: SlaClass) -> None:
    got = classify(distance, county_has_station=county, overseas=overseas, in_city=city,
                   threshold_km=CONFIG.distance_threshold_km)
    assert got == expected


def test_haversine() -> None:
    assert haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067, abs=3)  # Beijing-Shanghai
    assert haversine_km(41.7151, 44.8271, 41.6168, 41.6367) == pytest.approx(265, abs=3)    # Tbilisi-Batumi
    assert haversine_km(10, 20, 10, 20) == 0
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015, abs=5)


def test_nearest_km() -> None:
    sites = [(31.2304, 121.4737), (41.7151, 44.8271)]
    assert nearest_km(41.6168, 41.6367, sites) == pytest.approx(265, abs=3)
    assert nearest_km(0, 0, []) is None


# --- due times ----------------------------------------------------------------

FRIDAY_5PM = datetime(2026, 3, 6, 17, 0, tzinfo=SHANGHAI)
OFFICE = BusinessHours(weekdays=frozenset(range(5)), start=time(9), end=time(18), tz="Asia/Shanghai")
BH_2H = SlaRule(first_response=2 * H, on_site=10 * H, clock="business_hours")


def test_24x7_due_times_for_an_ac_city_ticket() -> None:
    due = CONFIG.due_times(FRIDAY_5PM, CONFIG.rule_for("household_ac", C.CITY))
    assert due.first_response == FRIDAY_5PM + H
    assert due.on_site == FRIDAY_5PM + 2 * H
    assert due.fixed == datetime(2026, 3, 7, 17, 0, tzinfo=SHANGHAI)


def test_overseas_due_times_in_the_customers_zone() -> None:
    opened = datetime(2026, 3, 6, 13, 0, tzinfo=TBILISI)
    due = CONFIG.due_times(opened, CONFIG.rule_for("laser", C.OVERSEAS))
    assert due.first_response == datetime(2026, 3, 6, 23, 0, tzinfo=TBILISI)
    assert due.fixed == datetime(2026, 3, 9, 13, 0, tzinfo=TBILISI)
    assert due.on_site is None
    assert due.first_response is not None and due.first_response.tzinfo is TBILISI


def test_24x7_counts_elapsed_time_across_dst() -> None:
    opened = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # clocks go forward 2026-03-29 02:00
    due = due_times(opened, SlaRule(on_site=24 * H))
    assert due.on_site == datetime(2026, 3, 29, 13, 0, tzinfo=BERLIN)


def test_business_hours_skip_the_weekend() -> None:
    due = due_times(FRIDAY_5PM, BH_2H, business_hours=OFFICE)
    assert due.first_response == datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)   # 1 h Fri + 1 h Mon
    assert due.on_site == datetime(2026, 3, 9, 18, 0, tzinfo=SHANGHAI)          # 1 h Fri + 9 h Mon: closing time
    assert due.fixed is None


def test_business_hours_skip_a_holiday() -> None:
    due = due_times(FRIDAY_5PM, BH_2H, business_hours=OFFICE, holidays={date(2026, 3, 9)})
    assert due.first_response == datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)


def test_business_hours_opened_in_another_zone() -> None:
    opened = datetime(2026, 3, 6, 13, 0, tzinfo=TBILISI)  # = Friday 17:00 in Shanghai
    due = due_times(opened, BH_2H, business_hours=OFFICE, holidays={date(2026, 3, 9)})
    assert due.first_response == datetime(2026, 3, 10, 6, 0, tzinfo=TBILISI)   # Tue 10:00 Shanghai
    assert due.first_response is not None and due.first_response.tzinfo is TBILISI


def test_business_hours_in_tbilisi() -> None:
    office = BusinessHours(weekdays=frozenset(range(5)), start=time(10), end=time(19), tz="Asia/Tbilisi")
    opened = datetime(2026, 1, 2, 18, 30, tzinfo=TBILISI)  # a Friday
    due = due_times(opened, SlaRule(first_response=2 * H, clock="business_hours"), business_hours=office,
                    holidays={date(2026, 1, 5), date(2026, 1, 6)})
    assert due.first_response == datetime(2026, 1, 7, 11, 30, tzinfo=TBILISI)


def test_shipped_it_rule_over_the_national_day_holidays() -> None:
    opened = datetime(2026, 9, 30, 17, 30, tzinfo=SHANGHAI)  # Wednesday; Oct 1-3 holidays, Oct 4 Sunday
    due = CONFIG.due_times(opened, CONFIG.rule_for("it_project", C.CITY))
    assert due.first_response == datetime(2026, 10, 5, 9, 30, tzinfo=SHANGHAI)
    assert due.on_site == datetime(2026, 10, 5, 10, 30, tzinfo=SHANGHAI)


def test_business_hours_edges() -> None:
    saturday = datetime(2026, 3, 7, 11, 0, tzinfo=SHANGHAI)
    assert add_business_time(saturday, H, OFFICE) == datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)
    early = datetime(2026, 3, 9, 7, 0, tzinfo=SHANGHAI)
    assert add_business_time(early, H, OFFICE) == datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)
    assert add_business_time(FRIDAY_5PM, H, OFFICE) == datetime(2026, 3, 6, 18, 0, tzinfo=SHANGHAI)  # closing time
    assert add_business_time(saturday, timedelta(0), OFFICE) == saturday


def test_make_up_workday_counts() -> None:
    office = OFFICE.model_copy(update={"workdays": frozenset({date(2026, 3, 7)})})
    assert add_business_time(FRIDAY_5PM, 2 * H, office) == datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI)


def test_triggered_commitment_with_due_at() -> None:
    phone_failed = datetime(2026, 3, 9, 17, 45, tzinfo=SHANGHAI)
    rule = CONFIG.rule_for("it_project", C.CITY)
    due = due_at(phone_failed, rule.triggered["remote_login_after_phone_failed"], rule.clock,
                 CONFIG.business_hours, CONFIG.holidays)
    assert due == datetime(2026, 3, 10, 9, 15, tzinfo=SHANGHAI)


def test_naive_or_missing_hours_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_times(datetime(2026, 3, 6, 17), SlaRule(first_response=H))
    with pytest.raises(ValueError, match="business_hours"):
        due_times(FRIDAY_5PM, BH_2H)


# --- loading errors -----------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "field"), [
    ("lines: {}\n", "default"),
    ("default: {first_response: 2 hours}\n", "default.first_response"),
    ("default: {first_response: 0h}\n", "default.first_response"),
    ("default: {clock: always}\n", "default.clock"),
    ("default: {}\nlines: {laser: {nearby: {on_site: 2h}}}\n", "lines.laser.nearby"),
    ("default: {}\nbusiness_hours: {tz: Mars/Olympus}\n", "business_hours.tz"),
    ("default: {}\nbusiness_hours: {weekdays: [mon, funday]}\n", "business_hours.weekdays"),
    ("default: {}\nbusiness_hours: {start: '18:00', end: '09:00'}\n", "business_hours"),
])
def test_load_errors_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ValueError) as info:
        load_sla(write(tmp_path, text))
    assert "sla.yaml" in str(info.value) and field in str(info.value)


# --- properties ---------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                        timezones=st.sampled_from([SHANGHAI, TBILISI, BERLIN]))
durations = st.integers(min_value=1, max_value=60 * 200).map(lambda m: timedelta(minutes=m))
holiday_sets = st.frozensets(st.dates(min_value=date(2020, 1, 1), max_value=date(2036, 12, 31)), max_size=30)


@given(instants, durations, holiday_sets)
def test_business_due_lies_within_working_time(
    opened: datetime, duration: timedelta, holidays: frozenset[date]
) -> None:
    due = add_business_time(opened, duration, OFFICE, holidays)
    assert due > opened
    local = due.astimezone(SHANGHAI)
    assert OFFICE.is_working_day(local.date(), holidays)
    assert time(9) < local.time() <= time(18)


@given(instants, durations, durations)
def test_business_time_adds_up(opened: datetime, a: timedelta, b: timedelta) -> None:
    stepwise = add_business_time(add_business_time(opened, a, OFFICE), b, OFFICE)
    assert stepwise.astimezone(UTC) == add_business_time(opened, a + b, OFFICE).astimezone(UTC)


@given(instants, durations)
def test_business_due_never_earlier_than_elapsed(opened: datetime, duration: timedelta) -> None:
    due = add_business_time(opened, duration, OFFICE)
    assert due.astimezone(UTC) >= opened.astimezone(UTC) + duration


@given(instants, durations)
def test_24x7_adds_exact_elapsed_time(opened: datetime, duration: timedelta) -> None:
    due = due_at(opened, duration, "24x7")
    assert due.astimezone(UTC) - opened.astimezone(UTC) == duration and due.tzinfo is opened.tzinfo
