"""Free visit windows, and the on-site promise that agrees with them (domain.md §2, §4).

An engineer's working day is cut into windows of the job kind's visit length
plus the travel buffer, from the start of their hours (09:00-12:00, 12:00-15:00
...). A booking holds the 30-minute units its window covers, one store row per
(engineer, unit start) under a unique key, so two bookings can never share an
engineer's time, whatever kinds they are.

Everything here is a plain function of the roster, the bookings and `now`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.business_hours import BusinessHours, add_business_time, back_at
from services.engineers import Engineer, JobKind, Roster
from services.intents import PartOfDay
from services.location import ServiceArea
from services.sla import haversine_km

UNIT = timedelta(minutes=30)
LEAD_TIME = timedelta(hours=1)  # the earliest window starts at least this long from now


@dataclass(frozen=True, slots=True)
class Window:
    """A visit window (UTC); `engineer` is one free engineer for it (the booking may pick another)."""

    start: datetime
    end: datetime
    engineer: str = ""

    @property
    def key(self) -> str:
        """Short and stable, for button data: start in epoch minutes and length in minutes."""
        return f"{int(self.start.timestamp()) // 60}-{int((self.end - self.start).total_seconds()) // 60}"

    @classmethod
    def from_key(cls, key: str) -> Window:
        """ValueError for anything not made by `key`."""
        start_text, _, length_text = key.partition("-")
        start, length = int(start_text), int(length_text)
        if not 0 < length <= 24 * 60:
            raise ValueError(key)
        begin = datetime.fromtimestamp(start * 60, UTC)
        return cls(begin, begin + timedelta(minutes=length))

    def units(self) -> list[datetime]:
        """The 30-minute units this window holds."""
        count = math.ceil((self.end - self.start) / UNIT)
        return [self.start + i * UNIT for i in range(count)]


def centre_for(area: ServiceArea, place_id: str | None, point: tuple[float, float] | None) -> str | None:
    """The centre that sends engineers to the customer: the one covering their place, else for a
    shared point the nearest one within the SLA area; None when we do not know where they are."""
    if place_id:
        for centre in area.centres:
            if place_id in centre.covers:
                return centre.id
    if point is not None:
        return min(area.centres, key=lambda c: haversine_km(point[0], point[1], c.lat, c.lon)).id
    if place_id:  # a known place no centre covers: its nearest centre
        place = next(p for p in area.places if p.id == place_id)
        return min(area.centres, key=lambda c: haversine_km(place.lat, place.lon, c.lat, c.lon)).id
    return None


def engineer_windows(engineer: Engineer, zone: ZoneInfo, day: date, length: timedelta,
                     holidays: frozenset[date] = frozenset()) -> list[Window]:
    """The engineer's windows on `day` (local date of their centre), in order."""
    shift = engineer.shift_on(day, holidays)
    if shift is None:
        return []
    start = datetime.combine(day, shift.start, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day, shift.end, tzinfo=zone).astimezone(UTC)
    windows = []
    while start + length <= end:
        windows.append(Window(start, start + length, engineer.id))
        start += length
    return windows


def skilled(roster: Roster, centre: str, line: str) -> list[Engineer]:
    return [e for e in roster.engineers if e.centre == centre and line in e.skills]


def free_windows(
    roster: Roster, centre: str, line: str, kind: JobKind, busy: Collection[tuple[str, datetime]],
    now: datetime, first_day: date, days: int,
) -> list[Window]:
    """Distinct free windows on `days` days from `first_day` (the centre's dates), earliest first,
    each with the first engineer in the file who is free then. `busy`: (engineer, unit start)
    pairs already booked. Nothing before `now` + LEAD_TIME or beyond the bookable days."""
    zone = ZoneInfo(roster.centres[centre].tz)
    length = roster.slot_length(kind)
    last = now.astimezone(zone).date() + timedelta(days=roster.days_ahead)
    found: dict[tuple[datetime, datetime], Window] = {}
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day > last:
            break
        for engineer in skilled(roster, centre, line):
            for window in engineer_windows(engineer, zone, day, length, roster.holidays):
                if window.start < now + LEAD_TIME or (window.start, window.end) in found:
                    continue
                if all((engineer.id, unit) not in busy for unit in window.units()):
                    found[(window.start, window.end)] = window
    return sorted(found.values(), key=lambda w: (w.start, w.end))


def free_engineers(roster: Roster, centre: str, line: str, window: Window,
                   busy: Collection[tuple[str, datetime]]) -> list[str]:
    """Skilled engineers of the centre who have exactly this window free, in file order."""
    zone = ZoneInfo(roster.centres[centre].tz)
    length = window.end - window.start
    day = window.start.astimezone(zone).date()
    out = []
    for engineer in skilled(roster, centre, line):
        ours = engineer_windows(engineer, zone, day, length, roster.holidays)
        if any(w.start == window.start for w in ours) and all((engineer.id, u) not in busy for u in window.units()):
            out.append(engineer.id)
    return out


# The hours (local) that "morning", "afternoon" and "evening" name when a customer types them.
PART_HOURS = {PartOfDay.MORNING: (0, 12), PartOfDay.AFTERNOON: (12, 18), PartOfDay.EVENING: (18, 24)}


def asked_for(windows: list[Window], zone: ZoneInfo, day: date, part: PartOfDay | None) -> list[Window]:
    """The windows that start on `day` (local), within `part` of it if given: what "tomorrow
    morning" asks for."""
    lo, hi = PART_HOURS[part] if part else (0, 24)
    return [w for w in windows if (local := w.start.astimezone(zone)).date() == day and lo <= local.hour < hi]


def page_of(day: date, today: date, days_shown: int) -> int:
    """The page of the offer (`days_shown` days each, page 0 from today) that shows `day`."""
    return max(0, (day - today).days // days_shown)


def page_start(now: datetime, zone: ZoneInfo, page: int, days_shown: int) -> date:
    """The first day (local) of page `page` (0: today)."""
    return now.astimezone(zone).date() + timedelta(days=page * days_shown)


# --- the promise -----------------------------------------------------------------------


def round_up_to_hour(moment: datetime, zone: ZoneInfo) -> datetime:
    """As people say it: 10:17 -> 11:00 (in `zone`, so a half-hour zone rounds to its own hours)."""
    local = moment.astimezone(zone)
    if local.minute == local.second == local.microsecond == 0:
        return moment
    floor = local.replace(minute=0, second=0, microsecond=0)
    return (floor + timedelta(hours=1)).astimezone(moment.tzinfo)


def engineer_due(opened: datetime, duration: timedelta, hours: BusinessHours,
                 holidays: Collection[date] = ()) -> datetime:
    """When an engineer-borne promise (on site, fixed) falls due: engineers come only in the
    centre's working hours. A ticket opened outside them starts the clock at the next opening;
    a due time that would land outside them counts working time only; rounded up to the hour."""
    start = back_at(opened, hours, holidays) or opened
    due = start + duration
    if not _working(due, hours, holidays):
        due = add_business_time(start, duration, hours, holidays)
    return round_up_to_hour(due, hours.zone)


def _working(moment: datetime, hours: BusinessHours, holidays: Collection[date]) -> bool:
    local = moment.astimezone(hours.zone)
    return hours.is_working_day(local.date(), holidays) and hours.start <= local.time() <= hours.end


def within(windows: Iterable[Window], due: datetime | None) -> list[Window]:
    """The windows that keep an on-site promise (the engineer is there by `due`)."""
    return [w for w in windows if due is None or w.start <= due]


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
