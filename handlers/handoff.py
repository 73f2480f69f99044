"""Talk to a person, and the entries whose automatic flow comes later.

Handing over is a state of the ticket: it is `queued` for the agents and the
conversation's mode becomes `queued`; what the customer writes meanwhile is
added to that ticket.
"""

from __future__ import annotations

from typing import Any

from bot.core.turn import TicketInfo, Turn
from bot.i18n import N_
from handlers.menu import menu_choices
from handlers.promises import describe, promise
from services.tickets import OPEN_STATUSES

# Menu entries answered by a person until their own flow exists.
BY_A_PERSON = {
    "visit": N_("I cannot book visits automatically yet, so I have opened request %(number)s for a person, who will answer here. You can write which day suits you now."),
}


async def _current(turn: Turn) -> TicketInfo | None:
    if turn.ticket_id is None:
        return None
    ticket = await turn.store.ticket_by_id(turn.ticket_id)
    return ticket if ticket and ticket.status in OPEN_STATUSES else None


async def talk_to_person(turn: Turn) -> None:
    ticket = await _current(turn)
    if ticket is None:
        await hand_over(turn, "person")
        return
    _queue(turn, ticket.id)
    turn.say(turn.t._("You are already waiting for a person with request %(number)s. They will answer in this chat.", number=ticket.number))


async def hand_over(turn: Turn, kind: str, details: dict[str, Any] | None = None, **fields: Any) -> None:
    """Queue a new ticket for a person and tell the customer so, with the promised answer time."""
    ticket, when = await open_queued(turn, kind, details, **fields)
    turn.say(turn.t._("I have asked a person to take over: your request is %(number)s. Write your question here; they will answer in this chat.", number=ticket.number) + "\n" + when)


async def open_for_person(turn: Turn, kind: str) -> None:
    ticket, when = await open_queued(turn, kind)
    turn.say(turn.t._(BY_A_PERSON[kind], number=ticket.number) + "\n" + when)


async def open_queued(turn: Turn, kind: str, details: dict[str, Any] | None = None, **fields: Any) -> tuple[TicketInfo, str]:
    """A ticket queued for a person, the conversation waiting on it, and the
    first-response time promised (in business hours), as text for the customer."""
    promised = promise(turn, None).response_only()
    ticket = await turn.store.open_ticket(
        kind, "queued", details={**(details or {}), **promised.details()}, **fields, **promised.ticket_fields()
    )
    _queue(turn, ticket.id)
    return ticket, describe(turn, promised.due)


async def while_queued(turn: Turn) -> bool:
    """Add the customer's message to their waiting ticket; False if none is waiting."""
    ticket = await _current(turn)
    if ticket is None:
        turn.mode, turn.ticket_id = "bot", None
        return False
    turn.message_ticket_id = ticket.id
    turn.say(
        turn.t._("Added to your request %(number)s. A person will answer here.", number=ticket.number),
        menu_choices(turn),
    )
    return True


def step_out(turn: Turn) -> None:
    """/start, /menu, /cancel while waiting: the bot answers again. The request stays
    queued for the person, and the conversation keeps pointing at it, so what the
    customer writes still lands on it and the person answers here."""
    if turn.mode == "queued":
        turn.mode = "bot"


async def waiting_note(turn: Turn) -> str | None:
    """A reminder of the request a person will answer, if one is open."""
    ticket = await _current(turn)
    if ticket is None:
        return None
    return turn.t._("Your request %(number)s stays open: a person will answer here.", number=ticket.number)


def _queue(turn: Turn, ticket_id: int) -> None:
    turn.mode, turn.ticket_id = "queued", ticket_id
    turn.message_ticket_id = ticket_id
    turn.goto("")
