"""Warranty extension by downtime (domain.md §3.4, 001 §2.4.2).

If, within the warranty, a fault of the product itself keeps it out of use for
more than 20 days in total (the setting `extension_downtime_days`), the warranty
restarts from zero on the day it works again. Counting rules:

* a record counts the days from the day the product went out of use up to, not
  including, the day it works again (out 1 March, working 20 March = 19 days);
* records from several tickets add up, in date order; overlapping records are
  merged so no day counts twice; unfinished ones (no working-again day yet) and
  ones not of the product's own fault are ignored;
* only downtime beginning within the current period counts, and days before the
  current start are dropped;
* after a restart the total starts again from zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import NamedTuple

from services.warranty_config import WarrantySettings

DEFAULT_SETTINGS = WarrantySettings()


class DowntimeRecord(NamedTuple):
    """One ticket's downtime: out of use from `out_of_use` until `working_again` (None = still down)."""

    out_of_use: date
    working_again: date | None
    own_fault: bool = True
    """A fault of the product itself (not caused by people)."""


def check_record(out_of_use: date, working_again: date | None, today: date) -> None:
    """ValueError (for the person recording it) unless the days are in order and not in the future."""
    if out_of_use > today:
        raise ValueError(f"the day it went out of use ({out_of_use}) is in the future")
    if working_again is not None and not out_of_use < working_again <= today:
        raise ValueError(f"the day it works again ({working_again}) must be after {out_of_use} and not in the future")


DowntimeRow = DowntimeRecord | tuple[date, date | None, bool]
"""A `DowntimeRecord` or a plain ``(out_of_use, working_again, own_fault)`` tuple."""


def restarts(
    start: date,
    downtime_records: Iterable[DowntimeRow],
    policy_end_fn: Callable[[date], date | None],
    settings: WarrantySettings = DEFAULT_SETTINGS,
) -> tuple[date, ...]:
    """The days on which downtime restarted the warranty, in order (domain.md §3.4).

    Records may come from several tickets in any order; overlapping ones are
    merged so a day is never counted twice. Only own-fault, finished downtime
    that begins within the current period (``current start .. policy_end_fn(current start)``)
    counts; days before the current start are ignored.
    """
    spans = _merged(DowntimeRecord(*r) for r in downtime_records)
    current, total, found = start, 0, []
    for out_of_use, working_again in spans:
        begin = max(out_of_use, current)
        end = policy_end_fn(current)
        if working_again <= begin or (end is not None and begin > end):
            continue
        total += (working_again - begin).days
        if total > settings.extension_downtime_days:
            current, total = working_again, 0
            found.append(working_again)
    return tuple(found)


def effective_start(
    start: date,
    downtime_records: Iterable[DowntimeRow],
    policy_end_fn: Callable[[date], date | None],
    settings: WarrantySettings = DEFAULT_SETTINGS,
) -> date:
    """The warranty start after downtime restarts: the last restart day, else `start`."""
    found = restarts(start, downtime_records, policy_end_fn, settings)
    return found[-1] if found else start


def _merged(records: Iterable[DowntimeRecord]) -> list[tuple[date, date]]:
    spans = []
    for record in records:
        if record.working_again is not None and record.working_again < record.out_of_use:
            raise ValueError(f"downtime record {record}: working again before going out of use")
        if record.own_fault and record.working_again is not None and record.working_again > record.out_of_use:
            spans.append((record.out_of_use, record.working_again))
    merged: list[tuple[date, date]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged
