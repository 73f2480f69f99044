"""WeChat's 48-hour customer-service window (services/wechat_window.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.wechat_window import CAP, Closed, window

WROTE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "sent", "later", "closed", "left", "time_left"),
    [
        (None, 0, timedelta(0), Closed.NEVER_WROTE, 0, timedelta(0)),
        (WROTE, 0, timedelta(minutes=1), None, CAP, timedelta(hours=47, minutes=59)),
        (WROTE, CAP - 1, timedelta(hours=47, minutes=59), None, 1, timedelta(minutes=1)),
        (WROTE, CAP, timedelta(hours=1), Closed.CAP_REACHED, 0, timedelta(hours=47)),
        (WROTE, 0, timedelta(hours=48), Closed.EXPIRED, 0, timedelta(0)),
        (WROTE, 3, timedelta(days=5), Closed.EXPIRED, 0, timedelta(0)),
    ],
)
def test_window(last: datetime | None, sent: int, later: timedelta, closed: Closed | None, left: int, time_left: timedelta) -> None:
    now = WROTE + later
    result = window(last, sent, now)
    assert (result.closed, result.messages_left, result.time_left(now)) == (closed, left, time_left)
