"""A clock tests set and move by hand (the Dispatcher's and the job runner's `clock`)."""

from __future__ import annotations

from datetime import datetime, timedelta


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        """Move on by `delta` (or timedelta(**units)); the new time."""
        self.now += delta if delta is not None else timedelta(**units)
        return self.now
