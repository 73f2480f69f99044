"""Warranty periods and their calendar arithmetic.

Coverage convention (inclusive): a warranty that starts on ``start`` and lasts
``period`` covers every day from ``start`` to ``coverage_end(start, period)``,
both included, where ``coverage_end = add_period(start, period) - 1 day``. The
start day is day 1, as in the three-guarantee day count. Example: one year from
2024-03-15 covers 2024-03-15 .. 2025-03-14; 2025-03-15 is out of warranty.

Months and years clamp to the end of the month: 2024-01-31 + 1 month =
2024-02-29, 2023-01-31 + 1 month = 2023-02-28, 2024-02-29 + 1 year = 2025-02-28.
A lifetime period has no end: `add_period` and `coverage_end` return None.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PeriodUnit = Literal["days", "months", "years", "lifetime"]

_SHORTHAND = re.compile(r"^\s*(\d+)\s*(day|month|year)s?\s*$", re.IGNORECASE)


class Period(BaseModel):
    """A span such as 6 years, 3 months, 90 days, or lifetime.

    Data files may write it as a mapping (``{amount: 6, unit: years}``) or as
    text (``6 years``, ``1 month``, ``lifetime``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int = Field(default=0, ge=0)
    unit: PeriodUnit

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        if data.strip().lower() == "lifetime":
            return {"unit": "lifetime"}
        match = _SHORTHAND.match(data)
        if not match:
            raise ValueError(f"{data!r} is not a period; write e.g. '6 years', '3 months', '90 days' or 'lifetime'")
        return {"amount": int(match.group(1)), "unit": match.group(2).lower() + "s"}

    @model_validator(mode="after")
    def _check_amount(self) -> Period:
        if self.unit == "lifetime" and self.amount != 0:
            raise ValueError("a lifetime period takes no amount")
        if self.unit != "lifetime" and self.amount < 1:
            raise ValueError(f"a period in {self.unit} needs an amount of at least 1")
        return self

    @property
    def is_lifetime(self) -> bool:
        """True when the period never ends."""
        return self.unit == "lifetime"

    def __str__(self) -> str:
        if self.is_lifetime:
            return "lifetime"
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


LIFETIME = Period(unit="lifetime")


def add_months(start: date, months: int) -> date:
    """`start` moved by `months` calendar months, clamped to the last day of the target month."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def add_period(start: date, period: Period) -> date | None:
    """The anniversary `start + period` (the first day no longer covered); None for lifetime."""
    if period.unit == "lifetime":
        return None
    if period.unit == "days":
        return start + timedelta(days=period.amount)
    months = period.amount * (12 if period.unit == "years" else 1)
    return add_months(start, months)


def coverage_end(start: date, period: Period) -> date | None:
    """The last day covered (inclusive), `add_period(start, period) - 1 day`; None for lifetime."""
    anniversary = add_period(start, period)
    return None if anniversary is None else anniversary - timedelta(days=1)


def is_covered(start: date, end: date | None, on_date: date) -> bool:
    """Whether `on_date` lies in `start .. end`, both included (`end` None = no end)."""
    return start <= on_date and (end is None or on_date <= end)


def remaining_days(end: date | None, on_date: date) -> int | None:
    """Covered days left counting `on_date` itself (0 once expired); None for lifetime."""
    if end is None:
        return None
    return max(0, (end - on_date).days + 1)
