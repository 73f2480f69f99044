"""Engineers' data and free visit windows (services/engineers.py, services/slots.py), domain.md §4."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.company import Company
from services.business_hours import BusinessHours
from services.engineers import JobKind, load_roster
from services.slots import Window, centre_for, engineer_due, free_engineers, free_windows, round_up_to_hour, within

SH = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parent.parent / "data" / "engineers.yaml"
MON = date(2026, 12, 7)  # a Monday


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = SH) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def test_the_shipped_roster_serves_every_sample_centre(company: Company) -> None:
    roster = company.roster
    assert roster is not None
    assert {e.centre for e in roster.engineers} == {c.id for c in company.area.centres}
    assert roster.slot_length(JobKind.REPAIR) == timedelta(hours=3)


@pytest.mark.parametrize(("change", "message"), [
    ("centre: shanghai", "no centre 'mars'"),
    ('mon: ["09:00", "18:00"]', "shorter than one visit"),
    ("travel_buffer: 1h", "whole half hours"),
    ("skills: [household_ac, light_commercial_ac, air_water_heater]", "at least 1"),
])
def test_a_broken_roster_names_the_field(tmp_path: Path, change: str, message: str) -> None:
    broken = {
        "centre: shanghai": "centre: mars",
        'mon: ["09:00", "18:00"]': 'mon: ["09:00", "10:00"]',
        "travel_buffer: 1h": "travel_buffer: 10m",
        "skills: [household_ac, light_commercial_ac, air_water_heater]": "skills: []",
    }[change]
    path = tmp_path / "engineers.yaml"
    path.write_text(DATA.read_text(encoding="utf-8").replace(change, broken, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        load_roster(path)
    assert "engineers.yaml" in str(error.value) and "line" in str(error.value)


def test_unknown_skill_is_refused_against_the_catalogue(company: Company) -> None:
    roster = load_roster(DATA)
    with pytest.raises(ValueError, match="not a product line"):
        roster.check_against({"computer"}, {c.id for c in company.area.centres})


def test_windows_are_skilled_engineers_free_time_earliest_first() -> None:
    roster = load_roster(DATA)
    now = at(MON, 8)
    windows = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), now, MON, 2)
    local = [(w.start.astimezone(SH).strftime("%a %H:%M"), w.end.astimezone(SH).strftime("%H:%M")) for w in windows]
    assert local == [("Mon 09:00", "12:00"), ("Mon 12:00", "15:00"), ("Mon 15:00", "18:00"),
                     ("Tue 09:00", "12:00"), ("Tue 12:00", "15:00"), ("Tue 15:00", "18:00")]
    assert windows[0].engineer == "zhang_wei"  # Wang Fang does not work on Mondays
    # Li Na repairs computers only: no air conditioner windows from her.
    assert all(w.engineer in ("zhang_wei", "wang_fang") for w in windows)


def test_a_booked_window_goes_to_the_next_engineer_then_disappears() -> None:
    roster = load_roster(DATA)
    tue = MON + timedelta(days=1)
    first = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), at(MON, 8), tue, 1)[0]
    busy = {("zhang_wei", unit) for unit in first.units()}
    again = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, busy, at(MON, 8), tue, 1)[0]
    assert (again.start, again.engineer) == (first.start, "wang_fang")
    busy |= {("wang_fang", unit) for unit in first.units()}
    left = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, busy, at(MON, 8), tue, 1)
    assert first.start not in [w.start for w in left]
    assert free_engineers(roster, "shanghai", "household_ac", first, busy) == []


def test_a_shorter_maintenance_visit_cannot_overlap_a_booked_repair() -> None:
    roster = load_roster(DATA)
    repair = free_windows(roster, "shanghai", "laser", JobKind.REPAIR, set(), at(MON, 8), MON + timedelta(days=1), 1)[0]
    busy = {(repair.engineer, unit) for unit in repair.units()}
    short = free_windows(roster, "shanghai", "laser", JobKind.MAINTENANCE, busy, at(MON, 8), MON + timedelta(days=1), 1)
    assert all(w.start >= repair.end for w in short)  # 09-11 and 11-13 would overlap 09-12


def test_nothing_before_the_lead_time_on_days_off_or_holidays() -> None:
    roster = load_roster(DATA)
    late = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), at(MON, 11, 30), MON, 1)
    assert [w.start.astimezone(SH).hour for w in late] == [15]  # 12:00 is within the hour
    sunday = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), at(MON, 8), MON - timedelta(days=1), 1)
    assert sunday == []
    xmas_eve = date(2026, 12, 24)  # Zhang Wei's day off: Wang Fang only
    assert {w.engineer for w in free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(),
                                             at(xmas_eve, 8) - timedelta(days=2), xmas_eve, 1)} == {"wang_fang"}


def test_urumqi_windows_are_in_urumqi_hours() -> None:
    roster = load_roster(DATA)
    urumqi = ZoneInfo("Asia/Urumqi")
    windows = free_windows(roster, "urumqi", "household_ac", JobKind.REPAIR, set(), at(MON, 8, zone=urumqi), MON, 1)
    assert windows[0].start == at(MON, 10, zone=urumqi)


def test_window_keys_round_trip_and_forged_ones_are_refused() -> None:
    window = Window(at(MON, 9).astimezone(UTC), at(MON, 12).astimezone(UTC))
    assert Window.from_key(window.key) == window
    for forged in ("x", "1-0", "1-99999", ""):
        with pytest.raises(ValueError):
            Window.from_key(forged)


def test_centre_for_a_place_a_point_or_nothing(company: Company) -> None:
    assert centre_for(company.area, "suzhou", None) == "shanghai"
    assert centre_for(company.area, None, (39.95, 116.3)) == "beijing"
    assert centre_for(company.area, None, None) is None


HOURS = BusinessHours(weekdays=frozenset(range(6)), tz="Asia/Shanghai")


@pytest.mark.parametrize(("opened", "duration", "due"), [
    # The bug of issue 12: opened at 01:09 with a 2 h promise, "an engineer by Mon 3:09 AM".
    (at(MON, 1, 9), timedelta(hours=2), at(MON, 11)),
    (at(MON, 10, 17), timedelta(hours=2), at(MON, 13)),  # 12:17 -> said as 13:00
    (at(MON, 17), timedelta(hours=2), at(MON + timedelta(days=1), 10)),  # 19:00 is after hours: 1 h today, 1 h tomorrow
    (at(MON, 10), timedelta(hours=24), at(MON + timedelta(days=1), 10)),  # a day later, in hours
    (at(MON + timedelta(days=5), 17), timedelta(hours=2), at(MON + timedelta(days=7), 10)),  # Sat -> Mon
])
def test_engineer_due_times_fall_in_working_hours_rounded_as_people_say(
    opened: datetime, duration: timedelta, due: datetime,
) -> None:
    assert engineer_due(opened, duration, HOURS) == due


def test_round_up_keeps_whole_hours() -> None:
    assert round_up_to_hour(at(MON, 9), SH) == at(MON, 9)
    assert round_up_to_hour(at(MON, 9, 1), SH) == at(MON, 10)


def test_windows_within_the_promise_come_first() -> None:
    roster = load_roster(DATA)
    windows = free_windows(roster, "shanghai", "household_ac", JobKind.REPAIR, set(), at(MON, 8), MON, 2)
    assert [w.start.astimezone(SH).hour for w in within(windows, at(MON, 13))] == [9, 12]
