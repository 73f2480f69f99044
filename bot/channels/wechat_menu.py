"""The Official Account's custom menu: the main entries, grouped under three buttons.

Each item is a CLICK button whose key is the entry's choice id (`menu:repair`),
so a tap arrives as that choice (bot/channels/wechat.py). WeChat allows 3
buttons of at most 16 bytes, each with at most 5 items of at most 60 bytes.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import N_, Translator
from handlers.menu import ENTRIES

GROUPS = (
    (N_("Service"), ("repair", "warranty", "visit")),
    (N_("Feedback"), ("complaint", "tickets")),
    (N_("Help"), ("person", "language")),
)
MAX_BUTTONS, MAX_ITEMS, MAX_BUTTON, MAX_ITEM = 3, 5, 16, 60  # counts, bytes


def menu(locale: str, timezone: str = "UTC") -> dict[str, Any]:
    """The body of WeChat's menu/create call; ValueError names a label that is too long."""
    t = Translator(locale, timezone)
    buttons = []
    for title, entries in GROUPS[:MAX_BUTTONS]:
        name = t._(title)
        _fits(name, MAX_BUTTON)
        items = []
        for entry in entries[:MAX_ITEMS]:
            label = t._(ENTRIES[entry])
            _fits(label, MAX_ITEM)
            items.append({"type": "click", "name": label, "key": f"menu:{entry}"})
        buttons.append({"name": name, "sub_button": items})
    return {"button": buttons}


def _fits(label: str, limit: int) -> None:
    if len(label.encode()) > limit:
        raise ValueError(f"menu label {label!r} is longer than WeChat's {limit} bytes")
