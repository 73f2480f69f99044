"""File a complaint: category, description, optionally the ticket it is about.

Every complaint goes straight to the human queue: all complaints are tracked
to a verified close (domain.md §5).
"""

from __future__ import annotations

from typing import Any

from bot.core.forms import Form, Invalid, Slot, start, summary, text_answer, words_answer
from bot.core.turn import Turn
from bot.i18n import N_
from handlers import handoff
from handlers.menu import menu_choices
from handlers.promises import describe, promise
from services.handoff import CUSTOMER, Handoff, Step, TicketKind, TicketStatus, decide
from services.tickets import find_number

CATEGORIES = {
    "attitude": N_("Engineer's attitude"),
    "late_visit": N_("Late or missed visit"),
    "repair_quality": N_("Quality of the repair"),
    "product_quality": N_("Quality of the product"),
    "charges": N_("Charges"),
    "other": N_("Something else"),
}


def _category_options(turn: Turn) -> list[tuple[str, str]]:
    return [(key, turn.t._(label)) for key, label in CATEGORIES.items()]


async def _parse_related(turn: Turn) -> str:
    text = text_answer(turn, max_len=64)
    number = find_number(text)
    if number is None:
        raise Invalid(N_("A ticket number looks like R-2026-000042. Please type it, or press Skip."))
    # Not found and someone else's look the same: a number reveals nothing.
    if await turn.store.own_ticket(number) is None:
        raise Invalid(N_("I cannot find a ticket %(number)s of yours. Please check the number, or press Skip."), number=number)
    return number


async def _submit(turn: Turn, values: dict[str, Any]) -> None:
    related = await turn.store.own_ticket(values["related"]) if values.get("related") else None
    # A complaint promises an answer from a person, not a repair (that is the related ticket's).
    promised = promise(turn, related.product_line if related else None).response_only()
    ticket = await turn.store.open_ticket(
        TicketKind.COMPLAINT,
        decide(Handoff(TicketStatus.OPEN), Step.QUEUE, CUSTOMER).status.value,
        category=values["category"],
        description=values["description"],
        related_ticket_id=related.id if related else None,
        priority="high",
        details=promised.details(),
        **promised.ticket_fields(),
    )
    recorded = summary(turn, COMPLAINT)
    # Every complaint goes to a person: the conversation waits on it.
    handoff.follow(turn, Handoff(TicketStatus(ticket.status)), ticket.id)
    turn.say(
        turn.t._("Your complaint %(number)s is registered and has gone to our service team.", number=ticket.number)
        + "\n\n" + recorded + "\n\n"
        + describe(turn, promised.due) + "\n"
        + turn.t._("A person will contact you, and we will check with you that it was resolved."),
        menu_choices(turn),
    )


COMPLAINT = Form(
    name="complaint",
    title=N_("Complaint"),
    slots=(
        Slot("category", N_("What is your complaint about?"), None, _category_options),
        Slot("description", N_("Please tell us what happened."),
             lambda turn: words_answer(turn, max_len=2000, min_len=5)),
        Slot("related", N_("Is it about one of your tickets? Type its number (like R-2026-000042), or press Skip."),
             _parse_related, optional=True),
    ),
    labels={"category": N_("About"), "description": N_("What happened"), "related": N_("Ticket")},
    submit=_submit,
)


async def begin(turn: Turn) -> None:
    await start(turn, COMPLAINT)
