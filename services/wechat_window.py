"""WeChat's customer-service window: when the account may still write to a customer.

The customer-service message API takes messages only within 48 hours after the
customer's last message, and only so many in that time (WeChat refuses more with
45015 / 45047). Agents are shown what is left before they write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

WINDOW = timedelta(hours=48)
CAP = 20  # customer-service messages per customer message, as WeChat counts them


class Closed(StrEnum):
    NEVER_WROTE = "never_wrote"
    EXPIRED = "expired"  # more than 48 hours since they wrote
    CAP_REACHED = "cap_reached"


@dataclass(frozen=True, slots=True)
class Window:
    closes_at: datetime | None
    messages_left: int
    closed: Closed | None  # None: open

    def time_left(self, now: datetime) -> timedelta:
        return max(timedelta(0), self.closes_at - now) if self.closes_at else timedelta(0)


def window(last_customer_message: datetime | None, sent_since: int, now: datetime) -> Window:
    """The window after the customer's last message, with `sent_since` messages sent in it."""
    if last_customer_message is None:
        return Window(None, 0, Closed.NEVER_WROTE)
    closes_at = last_customer_message + WINDOW
    left = max(0, CAP - sent_since)
    if now >= closes_at:
        return Window(closes_at, 0, Closed.EXPIRED)
    return Window(closes_at, left, None if left else Closed.CAP_REACHED)
