"""What the console tells an agent about a WeChat customer: WeChat's customer-service
window (services/wechat_window.py) and why a reply waits on the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.i18n import N_, Translator
from services.wechat_window import CAP, WAITING, Closed, Window

CLOSED = {
    Closed.NEVER_WROTE: N_("WeChat: the customer has not written to the Official Account yet, and WeChat lets us "
                           "write only after they do."),
    Closed.EXPIRED: N_("WeChat: the 48-hour window closed at %(when)s (the customer last wrote more than 48 hours ago)."),
    Closed.CAP_REACHED: N_("WeChat: the %(count)d messages allowed since the customer last wrote have been sent."),
}
THEN_TEMPLATE = N_("Your replies go as a template message, which WeChat delivers outside the window.")
THEN_WAIT = N_("Your replies wait on the request and go when the customer writes again.")
WAITS = N_("Waiting: WeChat's window is closed; it goes when the customer writes again.")
AS_TEMPLATE = N_("sent as a template message")


@dataclass(frozen=True, slots=True)
class WindowNotice:
    text: str
    closed: bool


def notice(t: Translator, window: Window, now: datetime, template: bool) -> WindowNotice:
    """The line above a WeChat conversation: time and messages left, or why it is closed and what happens then."""
    if window.closed is None:
        minutes = int(window.time_left(now).total_seconds() // 60)
        left = f"{minutes // 60}:{minutes % 60:02d}"
        return WindowNotice(t.n(
            "WeChat: the window stays open %(time)s more (hours:minutes); %(count)d message can still be sent.",
            "WeChat: the window stays open %(time)s more (hours:minutes); %(count)d messages can still be sent.",
            window.messages_left, time=left,
        ), False)
    reason = t._(CLOSED[window.closed], when=t.datetime(window.closes_at, "short") if window.closes_at else "", count=CAP)
    return WindowNotice(f"{reason} {t._(THEN_TEMPLATE if template else THEN_WAIT)}", True)


def why_waiting(t: Translator, error: str | None) -> str | None:
    """Why a reply still waits on the ticket, in the agent's words; None when it is not WeChat's window."""
    return t._(WAITS) if error and error.startswith(WAITING) else None
