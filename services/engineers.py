"""The service engineers as data (``data/engineers.yaml``): who can repair what, where, when.

Each engineer works for one service centre (data/service_centres.yaml), has the
product lines they are trained for, working hours per weekday in the centre's
time zone and days off. A visit takes the job kind's length plus the travel
buffer; an engineer's day is cut into windows of that size from the start of
their hours (services/slots.py), so one engineer's window is identified by its
start and two bookings of it collide in the store's unique constraint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.business_hours import WEEKDAY_NAMES, BusinessHours, check_zone
from services.datafile import load_model, problem
from services.sla import Duration

HALF_HOUR = timedelta(minutes=30)  # bookings hold an engineer's time in units of this (services/slots.py)


class JobKind(StrEnum):
    """What an engineer comes for; each kind has its visit length."""

    REPAIR = "repair"
    MAINTENANCE = "maintenance"  # the periodic visit in warranty (domain.md §4, 001 §2.4.1)
    INSTALLATION = "installation"  # installation and training of a new product (domain.md §5, 000 §6.3)


VISIT_TYPE = "visit_type"  # a visit ticket's details: what the engineer comes for (a JobKind value)


VISIT_TICKETS = ("repair", "visit")  # the ticket kinds an engineer comes for (a visit: installation, maintenance)


def job_kind_of(details: Mapping[str, Any] | None) -> JobKind:
    """What the engineer comes for on a visit ticket: installation (or training), the periodic
    maintenance, else a repair."""
    details = details or {}
    if details.get(VISIT_TYPE) in (JobKind.INSTALLATION.value, "training"):
        return JobKind.INSTALLATION
    if details.get(VISIT_TYPE) == JobKind.MAINTENANCE.value or details.get("maintenance_of"):
        return JobKind.MAINTENANCE
    return JobKind.REPAIR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shift(_Strict):
    """One weekday's working hours, e.g. ``["09:00", "18:00"]`` in the YAML."""

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError('write the hours as ["09:00", "18:00"]')
            return {"start": value[0], "end": value[1]}
        return value

    @model_validator(mode="after")
    def _order(self) -> Shift:
        if self.start >= self.end:
            raise ValueError("the start must be before the end (overnight shifts are not supported)")
        return self


class Engineer(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    centre: str
    skills: tuple[str, ...] = Field(min_length=1)  # product line ids
    hours: dict[str, Shift]  # mon..sun -> shift; a missing day is a day off
    days_off: frozenset[date] = frozenset()

    @field_validator("hours")
    @classmethod
    def _weekdays(cls, value: dict[str, Shift]) -> dict[str, Shift]:
        for day in value:
            if day not in WEEKDAY_NAMES:
                raise problem(f"unknown weekday (use {', '.join(WEEKDAY_NAMES)})", (day,))
        if not value:
            raise problem("must name at least one working day")
        return value

    def shift_on(self, day: date, holidays: frozenset[date] = frozenset()) -> Shift | None:
        """The hours worked on `day` (local), None on a day off or holiday."""
        if day in self.days_off or day in holidays:
            return None
        return self.hours.get(WEEKDAY_NAMES[day.weekday()])


class CentreHours(_Strict):
    tz: str
    hours: BusinessHours | None = None  # when the centre works (for due times); default: the file's

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class Roster(_Strict):
    """The whole of ``data/engineers.yaml``."""

    travel_buffer: Duration
    visit_length: dict[JobKind, Duration]
    days_shown: int = Field(default=3, ge=1, le=14)  # days of windows per page in the chat
    days_ahead: int = Field(default=14, ge=1, le=60)  # the furthest day a visit can be booked
    business_hours: BusinessHours = BusinessHours()  # a centre's working hours unless it has its own
    holidays: frozenset[date] = frozenset()
    centres: dict[str, CentreHours]
    engineers: tuple[Engineer, ...] = Field(min_length=1)
    maintenance_lines: tuple[str, ...] = ()  # product lines promised a visit every 3 months in warranty

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        for kind in JobKind:
            if kind not in self.visit_length:
                raise problem("missing", ("visit_length", kind.value))
            if self.slot_length(kind) % HALF_HOUR:
                raise problem("the visit and the travel buffer must be whole half hours", ("visit_length", kind.value))
        seen: set[str] = set()
        for i, engineer in enumerate(self.engineers):
            if engineer.id in seen:
                raise problem(f"duplicate id {engineer.id!r}", ("engineers", i, "id"))
            seen.add(engineer.id)
            if engineer.centre not in self.centres:
                raise problem(f"no centre {engineer.centre!r} under centres", ("engineers", i, "centre"))
            longest = max(self.slot_length(kind) for kind in JobKind)
            for day, shift in engineer.hours.items():
                span = timedelta(hours=shift.end.hour - shift.start.hour, minutes=shift.end.minute - shift.start.minute)
                if span < longest:
                    raise problem(f"shorter than one visit with travel ({longest})", ("engineers", i, "hours", day))
        return self

    def slot_length(self, kind: JobKind) -> timedelta:
        """A visit window: the visit plus the travel to the next customer."""
        return self.visit_length[kind] + self.travel_buffer

    def centre_hours(self, centre: str) -> BusinessHours:
        """When a centre works, in its own time zone (for due times)."""
        own = self.centres[centre]
        return own.hours or self.business_hours.model_copy(update={"tz": own.tz})

    def engineer(self, engineer_id: str) -> Engineer | None:
        return next((e for e in self.engineers if e.id == engineer_id), None)

    def names(self) -> dict[str, str]:
        """Engineer id -> the name customers and reports show."""
        return {e.id: e.name for e in self.engineers}

    def check_against(self, line_ids: set[str], centre_ids: set[str]) -> None:
        """ValueError naming the field when a skill or centre is not in the other data files."""
        for centre in self.centres:
            if centre not in centre_ids:
                raise ValueError(f"centres.{centre}: not a centre of service_centres.yaml")
        for i, engineer in enumerate(self.engineers):
            for j, skill in enumerate(engineer.skills):
                if skill not in line_ids:
                    raise ValueError(f"engineers[{i}].skills[{j}]: {skill!r} is not a product line of products.yaml")
        for j, line in enumerate(self.maintenance_lines):
            if line not in line_ids:
                raise ValueError(f"maintenance_lines[{j}]: {line!r} is not a product line of products.yaml")


def load_roster(path: str | Path) -> Roster:
    """Load the engineers file; ValueError names file, line and field."""
    return load_model(path, Roster)
