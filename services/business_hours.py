"""Business-hours clock: add working time to an instant, skipping nights, weekends and holidays.

Business hours are plain data (weekdays, daily start and end in local time, a
time-zone name); holidays are a set of local dates. Arithmetic runs in UTC so a
daylight-saving change never adds or loses an hour of working time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SEARCH_DAYS = 3660
"""Give up (ValueError) when no working time turns up within ten years."""



def check_zone(value: str) -> str:
    """`value` if it names an IANA time zone; ValueError (a data file's error) if not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value

class BusinessHours(BaseModel):
    """When people work: weekdays (0 = Monday, or names mon..sun), start, end, time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekdays: frozenset[int] = frozenset(range(5))
    start: time = time(9)
    end: time = time(18)
    tz: str = "Asia/Shanghai"
    workdays: frozenset[date] = frozenset()
    """Extra working days outside `weekdays` (make-up days after a long holiday)."""

    @field_validator("weekdays", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple, set, frozenset)):
            out = []
            for item in value:
                if isinstance(item, str):
                    if item.lower()[:3] not in WEEKDAY_NAMES:
                        raise ValueError(f"unknown weekday {item!r}; use {', '.join(WEEKDAY_NAMES)}")
                    item = WEEKDAY_NAMES.index(item.lower()[:3])
                out.append(item)
            return out
        return value

    @field_validator("weekdays")
    @classmethod
    def _range(cls, value: frozenset[int]) -> frozenset[int]:
        if not value or not all(0 <= d <= 6 for d in value):
            raise ValueError("weekdays must be a non-empty list of 0-6 (0 = Monday) or mon..sun")
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("start must be before end (overnight shifts are not supported)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The `ZoneInfo` of `tz`."""
        return ZoneInfo(self.tz)

    def is_working_day(self, day: date, holidays: Collection[date] = ()) -> bool:
        """A listed weekday or make-up day, and not a holiday."""
        return day not in holidays and (day.weekday() in self.weekdays or day in self.workdays)


def add_business_time(
    start: datetime,
    duration: timedelta,
    hours: BusinessHours,
    holidays: Collection[date] = (),
) -> datetime:
    """The instant when `duration` of working time has passed since `start`.

    `start` must be time-zone aware; the result is in `start`'s time zone. A
    duration that ends exactly at closing time is due at closing time.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a time-zone aware datetime")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if duration == timedelta(0):
        return start
    zone, origin = hours.zone, start.astimezone(UTC)
    day, remaining = start.astimezone(zone).date(), duration
    for _ in range(MAX_SEARCH_DAYS):
        if hours.is_working_day(day, holidays):
            opens = datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, hours.end, tzinfo=zone).astimezone(UTC)
            begin = max(opens, origin)
            if begin < closes:
                if remaining <= closes - begin:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError(f"no business hours found within {MAX_SEARCH_DAYS} days")


def back_at(now: datetime, hours: BusinessHours, holidays: Collection[date] = ()) -> datetime | None:
    """When people are next at work, or None if they are at work now."""
    tick = timedelta(microseconds=1)
    opens = add_business_time(now, tick, hours, holidays) - tick
    return None if opens <= now else opens
