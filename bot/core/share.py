"""A share button (phone, location) stays under the input field until it is taken
away: on Telegram a reply keyboard outlives its question. The core remembers that
one is showing and closes it with the first reply of a turn that does not ask again."""

from __future__ import annotations

from dataclasses import replace

from bot.core.events import Reply
from bot.core.turn import Turn
from bot.i18n import N_

# In the conversation's slots: the last share button asked for still shows.
OPEN = "_share_open"
# Where a channel cannot close the share button with a message that has buttons
# (Telegram), it sends the text alone and the buttons under this.
CHOOSE = N_("Please choose:")

def settle(turn: Turn, was_open: bool) -> None:
    """Close a share button left from an earlier turn, and remember whether one shows now."""
    asked = any(reply.request for reply in turn.replies)
    if was_open and not asked and turn.replies:
        turn.replies[:] = close(turn, turn.replies)
        showing = False
    else:
        showing = asked or was_open
    if showing:
        turn.slots[OPEN] = True
    else:
        turn.slots.pop(OPEN, None)


def close(turn: Turn, replies: list[Reply]) -> list[Reply]:
    """`replies` with the first one without buttons closing the share button, else the first."""
    index = next((i for i, reply in enumerate(replies) if not reply.choices and reply.replaces is None), 0)
    closing = replace(replies[index], closes_request=True)
    if closing.choices:
        closing = replace(closing, request_label=turn.t._(CHOOSE))
    return [*replies[:index], closing, *replies[index + 1:]]
