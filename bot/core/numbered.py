"""Choices as a numbered list, for a channel without buttons (WeChat).

The core remembers the ids of the last choices offered in the conversation's
slots, so "2" means the second of them in any worker process, after a restart too.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.events import Event, Kind
from bot.core.turn import Turn

# In the conversation's slots: the choice ids of the last numbered list shown.
OFFERED = "_offered"


def resolve(event: Event, slots: dict[str, object]) -> Event:
    """A digit answering the last numbered list becomes that choice; anything else stays."""
    offered = slots.get(OFFERED)
    if not event.numbered_choices or event.kind is not Kind.TEXT or not isinstance(offered, list):
        return event
    text = event.text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        return event
    number = int(text)
    if not 1 <= number <= len(offered):
        return event
    return replace(event, kind=Kind.CHOICE, choice=str(offered[number - 1]))


def remember(turn: Turn) -> None:
    """Keep the choices of the turn's last reply that offers some (a turn without any forgets them)."""
    if not turn.event.numbered_choices:
        return
    offered = next((reply.choices for reply in reversed(turn.replies) if reply.choices), ())
    if offered:
        turn.slots[OFFERED] = [choice.id for choice in offered]
    else:
        turn.slots.pop(OFFERED, None)
