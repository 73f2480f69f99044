"""What an engineer may report about a visit, checked before anything is stored (domain.md §4).

- Late: told in advance, by how many minutes (1 to 240), with an apology.
- Customer absent: the engineer waits 20 minutes (002 §11.3.4) and records when
  they arrived and left; a shorter wait is refused.
- The result: fixed, needs parts, another visit, taken to the workshop; with the
  days the product was out of use (the warranty's downtime rule, services/downtime.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

ABSENT_WAIT = timedelta(minutes=20)
MAX_LATE_MINUTES = 240
UPDATE_EVERY = timedelta(days=2)  # a repair past its promised day: the customer hears this often


class Problem(StrEnum):
    """Why a report or booking is refused (the console words each one in the agent's language)."""

    LATE_RANGE = "late_range"
    TIMES_ORDER = "times_order"
    SHORT_WAIT = "short_wait"
    FUTURE_DAY = "future_day"
    NO_REPORT = "no_report"
    NO_REPAIR = "no_repair"
    ALREADY_BOOKED = "already_booked"
    TAKEN = "taken"
    NO_VISIT = "no_visit"  # no such visit in this conversation (a forged id), or none booked
    NOT_BOOKED = "not_booked"  # cancelled, done or the customer was absent meanwhile
    GARBLED = "garbled"  # a field that does not parse (a time, a date, a window, a result)
    NO_REASON = "no_reason"  # a cancellation without its reason
    ARRIVED_ALREADY = "arrived_already"


class BadReport(ValueError):
    """A report the console refuses; `problem` says why, the message is for logs and tests."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def check_late(minutes: int) -> int:
    if not 1 <= minutes <= MAX_LATE_MINUTES:
        raise BadReport(Problem.LATE_RANGE, f"late by 1 to {MAX_LATE_MINUTES} minutes")
    return minutes


def check_absence(arrived: datetime, left: datetime, now: datetime) -> None:
    """The engineer waited at least `ABSENT_WAIT`, and both times are not in the future."""
    if left > now or arrived > left:
        raise BadReport(Problem.TIMES_ORDER, "arrival must be before leaving, and both in the past")
    if left - arrived < ABSENT_WAIT:
        raise BadReport(Problem.SHORT_WAIT, f"wait at least {int(ABSENT_WAIT.total_seconds() // 60)} minutes "
                                            "before reporting the customer absent")


def months_later(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later; the month's last day when it is shorter (31 Jan + 1 = 28 Feb)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last))


MAINTENANCE_EVERY_MONTHS = 3  # a free maintenance visit within the warranty (001 §2.4.1)


def check_out_of_use(out_of_use: date, today: date) -> date:
    if out_of_use > today:
        raise BadReport(Problem.FUTURE_DAY, "the day the product went out of use is in the future")
    return out_of_use
