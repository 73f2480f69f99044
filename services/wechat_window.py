"""WeChat's customer-service window: when the account may still write to a customer.

WeChat's rules for customer-service messages of an Official Account (since
12 June 2023): after the customer sends a message, 5 messages within 48 hours;
the quota does not add up, each message of theirs starts it again. Source:
https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html
("用户发送消息 | 5条 | 48小时"; before 2023 it was 20). A passive reply (the answer
to the push itself) is not a customer-service message and does not count.
WeChat refuses more with 45015 (too late) or 45047 (too many). Agents are
shown what is left before they write; beyond it a template message (where
configured) or the message waits until the customer writes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

WINDOW = timedelta(hours=48)
CAP = 5  # customer-service messages per customer message (WeChat, see above)
WAITING = "wechat-window"  # how an outbox row that waits for the window starts its error


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
