"""My tickets: the customer's own open and recent tickets, never anyone else's."""

from __future__ import annotations

from bot.core.events import Choice
from bot.core.turn import TicketInfo, Turn
from bot.i18n import N_
from handlers.menu import menu_choices

KINDS = {
    "repair": N_("Repair"),
    "complaint": N_("Complaint"),
    "person": N_("Conversation with a person"),
    "warranty": N_("Warranty question"),
    "visit": N_("Visit booking"),
}
STATUSES = {
    "open": N_("registered"),
    "queued": N_("waiting for a person"),
    "assigned": N_("a person is on it"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
}
RECENT = 10
MY_FILE = "mydata"  # menu entry (and /mydata): the customer's whole file, handlers/customer_file.py


def describe(turn: Turn, ticket: TicketInfo) -> str:
    t = turn.t
    return t._(
        "%(number)s · %(kind)s · %(status)s\nopened %(created)s, updated %(updated)s",
        number=ticket.number,
        kind=t._(KINDS[ticket.kind]),
        status=t._(STATUSES[ticket.status]),
        created=t.datetime(ticket.created_at, "short"),
        updated=t.datetime(ticket.updated_at, "short"),
    )


async def show_list(turn: Turn) -> None:
    tickets = await turn.store.customer_tickets(RECENT)
    if not tickets:
        turn.say(turn.t._("You have no tickets yet."), menu_choices(turn))
        return
    header = turn.t.n("Your ticket:", "Your latest %(count)d tickets:", len(tickets))
    body = "\n\n".join(describe(turn, ticket) for ticket in tickets)
    whole_file = Choice(f"menu:{MY_FILE}", turn.t._("📄 Everything you hold about me"))
    turn.say(f"{header}\n\n{body}", [whole_file, *menu_choices(turn)])


async def show_one(turn: Turn, number: str) -> None:
    ticket = await turn.store.own_ticket(number)
    if ticket is None:
        turn.say(turn.t._("I cannot find a ticket %(number)s of yours.", number=number), menu_choices(turn))
        return
    turn.say(describe(turn, ticket), menu_choices(turn))
