"""Going to a person, waiting for one, talking with one, and coming back to the bot.

Handing over is a state of the ticket (services/handoff.py): the customer's
steps (queue, end) go through the same state machine as the agents'. While a
person owns the conversation the bot says nothing: what the customer writes is
added to the ticket and shown to the agent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.core.actions import END_CHOICE, LEAVE_CHOICE
from bot.core.events import Choice
from bot.core.turn import TicketInfo, Turn
from bot.i18n import N_
from bot.logs import event as log_event
from handlers.menu import menu_choices, show_menu
from handlers.promises import describe, promise
from services.business_hours import back_at
from services.handoff import CUSTOMER, Handoff, Mode, Step, TicketKind, TicketStatus, decide

log = logging.getLogger(__name__)

# Menu entries answered by a person until their own flow exists.
BY_A_PERSON = {
    "visit": N_("I cannot book visits automatically yet, so I have opened request %(number)s for a person, who will answer here. You can write which day suits you now."),
}
ABOUT = "handoff.about:"  # button: the ticket a request for a person is about ("new": none)
LEFT_MESSAGE = "left_message"  # slot: the customer chose to leave a message


def end_choice(turn: Turn) -> Choice:
    return Choice(END_CHOICE, turn.t._("↩ Back to the assistant"))


async def _current(turn: Turn) -> TicketInfo | None:
    """The ticket the conversation is waiting on or talking about with a person."""
    if turn.ticket_id is None:
        return None
    ticket = await turn.store.ticket_by_id(turn.ticket_id)
    return ticket if ticket and ticket.status in (TicketStatus.QUEUED, TicketStatus.ASSIGNED) else None


async def talk_to_person(turn: Turn) -> None:
    """The customer asks for a person: join the queue with the ticket they are talking about."""
    ticket = await _current(turn)
    if ticket is not None:
        turn.message_ticket_id = ticket.id
        turn.say(turn.t._("You are already waiting for a person with request %(number)s. They will answer in this chat.",
                          number=ticket.number), [end_choice(turn)])
        return
    candidates = [t for t in await turn.store.customer_tickets(0) if t.status == TicketStatus.OPEN]
    if not candidates:
        await hand_over(turn, TicketKind.PERSON)
        return
    # Which ticket is it about? Ask, with buttons (and one for something else).
    choices = [Choice(f"{ABOUT}{t.id}", t.number) for t in candidates[:5]]
    choices.append(Choice(f"{ABOUT}new", turn.t._("Something else")))
    turn.goto("")
    turn.say(turn.t._("Which request do you want to talk to a person about?"), choices)


async def about(turn: Turn, choice: str) -> None:
    """The customer said which ticket the person should look at."""
    value = choice.removeprefix(ABOUT)
    ticket = await turn.store.ticket_by_id(int(value)) if value.isdigit() else None
    if ticket is None or ticket.status != TicketStatus.OPEN:
        await hand_over(turn, TicketKind.PERSON)
        return
    turn.chosen_label = ticket.number
    await queue_existing(turn, ticket)


async def queue_existing(turn: Turn, ticket: TicketInfo) -> None:
    after = await turn.store.handoff(ticket.id, Step.QUEUE)
    if after is None:
        show_menu(turn)
        return
    follow(turn, after, ticket.id)
    log_event(log, "handover", channel=turn.event.channel, conversation_id=turn.conversation_id,
              ticket=ticket.number, kind=ticket.kind)
    await _tell_waiting(turn, ticket.id, turn.t._("I have asked a person to take over request %(number)s. They will answer in this chat.",
                                                  number=ticket.number))


async def hand_over(turn: Turn, kind: str, details: dict[str, Any] | None = None, **fields: Any) -> None:
    """Queue a new ticket for a person and tell the customer so, with the promised answer time."""
    ticket, when = await open_queued(turn, kind, details, **fields)
    text = turn.t._("I have asked a person to take over: your request is %(number)s. Write your question here; they will answer in this chat.", number=ticket.number)
    await _tell_waiting(turn, ticket.id, text + "\n" + when)


async def open_for_person(turn: Turn, kind: str) -> None:
    ticket, when = await open_queued(turn, kind)
    await _tell_waiting(turn, ticket.id, turn.t._(BY_A_PERSON[kind], number=ticket.number) + "\n" + when)


async def open_queued(turn: Turn, kind: str, details: dict[str, Any] | None = None, **fields: Any) -> tuple[TicketInfo, str]:
    """A ticket queued for a person, the conversation waiting on it, and the
    first-response time promised (in business hours), as text for the customer."""
    promised = promise(turn, None).response_only()
    queued = decide(Handoff(TicketStatus.OPEN), Step.QUEUE, CUSTOMER)
    ticket = await turn.store.open_ticket(
        kind, queued.status.value, details={**(details or {}), **promised.details()}, **fields, **promised.ticket_fields()
    )
    follow(turn, queued, ticket.id)
    log_event(log, "handover", channel=turn.event.channel, conversation_id=turn.conversation_id,
              ticket=ticket.number, kind=kind)
    return ticket, describe(turn, promised.due)


async def _tell_waiting(turn: Turn, ticket_id: int, text: str) -> None:
    position = await turn.store.queue_position(ticket_id)
    lines = [text, turn.t._("You are number %(position)d in the queue.", position=position)]
    teams = turn.company.teams
    if teams is not None:
        back = back_at(turn.now, teams.team_for(turn.customer.locale).business_hours, teams.holidays)
        if back is not None:
            lines.append(turn.t._("Our colleagues who speak your language are not at work now; a person will answer from %(time)s.",
                                  time=turn.t.when(back)))
    turn.say("\n".join(lines), [end_choice(turn)])


def _offer_message(turn: Turn, ticket: TicketInfo) -> list[Choice]:
    """Waiting too long unclaimed: offer to leave a message instead of waiting (once)."""
    teams = turn.company.teams
    minutes = teams.offer_message_after_minutes if teams else 10
    if turn.slots.get(LEFT_MESSAGE) or turn.now - ticket.created_at < timedelta(minutes=minutes):
        return []
    return [Choice(LEAVE_CHOICE, turn.t._("✉️ Leave a message"))]


async def leave_message(turn: Turn) -> None:
    turn.slots[LEFT_MESSAGE] = True
    turn.say(turn.t._("Please write your message, and a phone number if you prefer a call. A colleague will contact you by phone or here in the chat."),
             [end_choice(turn)])


async def while_queued(turn: Turn) -> bool:
    """Add the customer's message to their waiting ticket; False if none is waiting."""
    ticket = await _current(turn)
    if ticket is None:
        turn.mode, turn.ticket_id = Mode.BOT, None
        return False
    turn.message_ticket_id = ticket.id
    position = await turn.store.queue_position(ticket.id)
    turn.say(
        turn.t._("Added to your request %(number)s. A person will answer here.", number=ticket.number) + "\n"
        + turn.t._("You are number %(position)d in the queue.", position=position),
        [*_offer_message(turn, ticket), end_choice(turn), *menu_choices(turn)],
    )
    return True


def step_out(turn: Turn) -> None:
    """/start, /menu, /cancel while waiting: the bot answers again. The request stays
    queued for the person, and the conversation keeps pointing at it, so what the
    customer writes still lands on it and the person answers here."""
    if turn.mode == Mode.QUEUED:
        turn.mode = Mode.BOT


async def waiting_note(turn: Turn) -> str | None:
    """A reminder of the request a person will answer, if one is open."""
    ticket = await _current(turn)
    if ticket is None:
        return None
    return turn.t._("Your request %(number)s stays open: a person will answer here.", number=ticket.number)


async def with_agent(turn: Turn) -> bool:
    """A person owns the conversation: keep the message for them and say nothing; False if no one does."""
    ticket = await _current(turn)
    if ticket is None:
        turn.mode, turn.ticket_id = Mode.BOT, None
        return False
    turn.message_ticket_id = ticket.id
    return True


async def end(turn: Turn) -> None:
    """The customer ends the talk with a person (or the wait for one) and is back with the bot."""
    ticket = await _current(turn)
    if ticket is not None:
        after = await turn.store.handoff(ticket.id, Step.END)
        if after is not None:
            turn.message_ticket_id = ticket.id
            follow(turn, after, ticket.id)
    turn.chosen_label = turn.t._("↩ Back to the assistant")
    show_menu(turn, turn.t._("You are back with the assistant. Write /agent whenever you want a person again."))


def follow(turn: Turn, handoff: Handoff, ticket_id: int) -> None:
    """The conversation's mode follows its ticket's handoff."""
    turn.mode = handoff.mode.value
    turn.ticket_id = ticket_id if handoff.mode is not Mode.BOT else None
    turn.message_ticket_id = ticket_id
    turn.goto("")
