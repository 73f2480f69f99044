"""Response and on-site time commitments (domain.md §2), table-driven from ``data/sla.yaml``.

A ticket's SLA class comes from where the customer is (`classify`); the rule
for (product line, class) gives up to three durations (first response, on site,
fixed), each counted on the rule's clock: ``24x7`` (elapsed time) or
``business_hours`` (working time only, skipping nights, weekends and holidays).
`due_times` turns a rule into deadlines when the ticket is opened.

Rule lookup: the line's own row for the class, else the ``any_line`` row for
the class, else the file's explicit ``default``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.business_hours import BusinessHours, add_business_time
from services.datafile import load_model

EARTH_RADIUS_KM = 6371.0088
DEFAULT_THRESHOLD_KM = 300.0


class SlaClass(StrEnum):
    """Where the customer is, as far as service times are concerned."""

    CITY = "city"
    WITHIN_300KM = "within_300km"
    BEYOND_300KM = "beyond_300km"
    COUNTY_NO_STATION = "county_no_station"
    OVERSEAS = "overseas"


def classify(
    distance_km: float | None,
    *,
    county_has_station: bool,
    overseas: bool,
    in_city: bool,
    threshold_km: float = DEFAULT_THRESHOLD_KM,
) -> SlaClass:
    """The SLA class, first match wins: overseas; in the city; county without a
    station; distance unknown or above `threshold_km`; else within it (the
    threshold itself counts as within)."""
    if overseas:
        return SlaClass.OVERSEAS
    if in_city:
        return SlaClass.CITY
    if not county_has_station:
        return SlaClass.COUNTY_NO_STATION
    if distance_km is None or distance_km > threshold_km:
        return SlaClass.BEYOND_300KM
    return SlaClass.WITHIN_300KM


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_km(lat: float, lon: float, sites: Iterable[tuple[float, float]]) -> float | None:
    """Distance to the nearest of `sites` (lat, lon pairs); None when there are none."""
    return min((haversine_km(lat, lon, s_lat, s_lon) for s_lat, s_lon in sites), default=None)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> Any:
    """``"30m"``, ``"2h"``, ``"3d"`` -> `timedelta`; anything else is left to pydantic."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write e.g. '30m', '2h', '3d'")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), Field(gt=timedelta(0))]
Clock = Literal["24x7", "business_hours"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlaRule(_Frozen):
    """The commitments for one (product line, class); None = no commitment."""

    first_response: Duration | None = None
    on_site: Duration | None = None
    fixed: Duration | None = None
    clock: Clock = "24x7"
    triggered: dict[str, Duration] = {}
    """Commitments counted from a later event, not from opening (e.g. remote login
    30 min after phone help failed); apply them with `due_at` when the event happens."""
    fallback: str | None = None
    """What is offered when `fixed` is missed (e.g. a loaner), as an id for the catalogs."""
    source: str | None = None


class PhoneCommitment(_Frozen):
    """How the hotline answers (002 §8.3)."""

    answer_within_rings: int = Field(ge=1)
    unsolved_on_site: Duration
    unsolved_proposal: Duration
    source: str | None = None


class SlaConfig(_Frozen):
    """The whole of ``data/sla.yaml``."""

    distance_threshold_km: float = Field(default=DEFAULT_THRESHOLD_KM, gt=0)
    business_hours: BusinessHours = BusinessHours()
    holidays: frozenset[date] = frozenset()
    phone: PhoneCommitment | None = None
    default: SlaRule
    any_line: dict[SlaClass, SlaRule] = {}
    lines: dict[str, dict[SlaClass, SlaRule]] = {}

    def rule_for(self, line_id: str, sla_class: SlaClass | str) -> SlaRule:
        """The line's row for the class, else the any-line row, else the default."""
        sla_class = SlaClass(sla_class)
        for table in (self.lines.get(line_id, {}), self.any_line):
            if sla_class in table:
                return table[sla_class]
        return self.default

    def due_times(self, opened_at: datetime, rule: SlaRule) -> DueTimes:
        """`due_times` with this file's business hours and holidays."""
        return due_times(opened_at, rule, business_hours=self.business_hours, holidays=self.holidays)


def load_sla(path: str | Path) -> SlaConfig:
    """Load an SLA file; `ValueError` names file, line and field on error."""
    return load_model(path, SlaConfig)


@dataclass(frozen=True, slots=True)
class DueTimes:
    """Deadlines of a ticket, in the time zone of its opening time; None = no commitment."""

    first_response: datetime | None
    on_site: datetime | None
    fixed: datetime | None


def due_at(
    start: datetime,
    duration: timedelta,
    clock: Clock,
    business_hours: BusinessHours | None = None,
    holidays: Collection[date] = (),
) -> datetime:
    """`start` (aware) plus `duration` on `clock`; the result is in `start`'s time zone.

    ``24x7`` adds elapsed time; ``business_hours`` counts only the working time
    of `business_hours` (required for that clock), skipping `holidays`.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("the start of an SLA clock must be a time-zone aware datetime")
    if clock == "24x7":
        return (start.astimezone(UTC) + duration).astimezone(start.tzinfo)
    if business_hours is None:
        raise ValueError("a business_hours clock needs business_hours")
    return add_business_time(start, duration, business_hours, holidays)


def due_times(
    opened_at: datetime,
    rule: SlaRule,
    business_hours: BusinessHours | None = None,
    holidays: Collection[date] = (),
) -> DueTimes:
    """Deadlines for a ticket opened at `opened_at` (aware) under `rule` (see `due_at`)."""

    def due(duration: timedelta | None) -> datetime | None:
        if duration is None:
            return None
        return due_at(opened_at, duration, rule.clock, business_hours, holidays)

    if opened_at.tzinfo is None or opened_at.utcoffset() is None:
        raise ValueError("opened_at must be a time-zone aware datetime")
    return DueTimes(due(rule.first_response), due(rule.on_site), due(rule.fixed))
