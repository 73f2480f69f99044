"""The top of every turn: commands, buttons and free text go to their flow."""

from __future__ import annotations

from dataclasses import replace

from bot.core import forms
from bot.core.actions import END_CHOICE
from bot.core.events import MAX_TEXT, Event, Kind
from bot.core.turn import Turn
from handlers import complaint, customer_file, handoff, menu, repair, tickets, timezone, warranty
from services.handoff import MISUNDERSTANDINGS_BEFORE_PERSON, Mode, TicketKind, asks_for_person
from services.tickets import find_number

FORMS = {form.name: form for form in (repair.REPAIR, complaint.COMPLAINT)}
# Flows that are not forms: state prefix -> handler.
FLOWS = {"warranty": warranty.handle, timezone.STATE: timezone.handle, repair.PAID: repair.consent}
COMMAND_NAV = {"back": forms.NAV_BACK, "restart": forms.NAV_RESTART, "cancel": forms.NAV_CANCEL}
PERSON_COMMANDS = ("agent", "operator", "person")
MISSES = "misses"  # slot: free-text messages in a row the bot did not understand


def _form(turn: Turn) -> forms.Form | None:
    return FORMS.get(turn.state.split(".", 1)[0]) if turn.state else None


async def route(turn: Turn) -> None:
    event = turn.event
    if event.kind is Kind.CHOICE and event.choice == END_CHOICE:
        await handoff.end(turn)
        return
    # A person owns the conversation: the bot stays silent, the message is theirs.
    if turn.mode == Mode.AGENT and await handoff.with_agent(turn):
        return
    if event.kind is Kind.TEXT and len(event.text) > MAX_TEXT:
        turn.say(turn.t._("Your message is too long for me (over %(max)d characters). Please shorten it.", max=MAX_TEXT))
        return
    if event.kind is Kind.COMMAND:
        await _command(turn, event.command or "")
        return
    if event.kind is Kind.CHOICE:
        choice = event.choice or ""
        if choice.startswith("lang:"):
            await menu.set_language(turn, choice[5:])
            return
        if choice == handoff.LEAVE_CHOICE and turn.mode == Mode.QUEUED:
            await handoff.leave_message(turn)
            return
        if choice.startswith(handoff.ABOUT):
            await handoff.about(turn, choice)
            return
        if choice.startswith("menu:") and _form(turn) is None:
            label = menu.ENTRIES.get(choice[5:])
            turn.chosen_label = turn.t._(label) if label else None
            await _menu_entry(turn, choice[5:])
            return
    flow = FLOWS.get(turn.state.split(".", 1)[0]) if turn.state else None
    if flow is not None:
        await flow(turn)
        return
    form = _form(turn)
    if form is not None:
        outcome = await forms.handle(turn, form)
        if outcome is forms.Outcome.CANCELLED:
            menu.show_menu(turn)
        return
    if event.kind is Kind.CHOICE:
        turn.say(turn.t._("That button belongs to an earlier message."))
        menu.show_menu(turn)
        return
    if event.kind is Kind.TEXT and asks_for_person(event.text):
        await handoff.talk_to_person(turn)
        return
    if turn.mode == Mode.QUEUED and await handoff.while_queued(turn):
        return
    await _free_text(turn)


async def _command(turn: Turn, command: str) -> None:
    if command in COMMAND_NAV and _form(turn):
        turn.event = _as_choice(turn, COMMAND_NAV[command])
        await route(turn)
    elif command in PERSON_COMMANDS:
        await handoff.talk_to_person(turn)
    elif command in ("start", "menu", "cancel"):
        if command == "start":
            menu.greet(turn)
        else:
            menu.show_menu(turn)
    elif command == "language":
        menu.ask_language(turn)
    elif command == "timezone":
        timezone.ask(turn)
    elif command == tickets.MY_FILE:
        await customer_file.show(turn)
    elif command in menu.ENTRIES:
        await _menu_entry(turn, command)
    elif command == "help":
        menu.show_menu(turn, turn.t._(
            "Choose what you need below. At any question you can press Back, Start over or Cancel, "
            "or type /back, /restart, /cancel. /language changes the language, /timezone your time zone."
        ))
    else:
        menu.show_menu(turn, turn.t._("I do not know the command /%(command)s. Here is what I can do:", command=command[:32]))


def _as_choice(turn: Turn, choice: str) -> Event:
    return replace(turn.event, kind=Kind.CHOICE, choice=choice, command=None)


async def _menu_entry(turn: Turn, entry: str) -> None:
    if entry == "repair":
        await repair.begin(turn)
    elif entry == "complaint":
        await complaint.begin(turn)
    elif entry == "tickets":
        await tickets.show_list(turn)
    elif entry == tickets.MY_FILE:
        await customer_file.show(turn)
    elif entry == "person":
        await handoff.talk_to_person(turn)
    elif entry == "warranty":
        await warranty.begin(turn)
    elif entry == "language":
        menu.ask_language(turn)
    elif entry in handoff.BY_A_PERSON:
        await handoff.open_for_person(turn, entry)
    else:
        menu.show_menu(turn)


async def _free_text(turn: Turn) -> None:
    event = turn.event
    if event.kind is Kind.TEXT:
        number = find_number(event.text)
        if number:
            await tickets.show_one(turn, number)
            return
        prefill = forms.extract_all(turn, repair.REPAIR, event.text)
        if prefill:
            # Keep what they told us for the repair form, should they choose it.
            turn.slots["prefill"] = prefill
    if event.kind in (Kind.MEDIA, Kind.LOCATION, Kind.CONTACT):
        menu.show_menu(turn, turn.t._("Thank you. To send this with a repair request, please choose Report a repair first."))
        return
    misses = int(turn.slots.get(MISSES, 0)) + 1
    if misses >= MISUNDERSTANDINGS_BEFORE_PERSON:
        turn.say(turn.t._("I am sorry, I do not understand. Let me find a person for you."))
        await handoff.hand_over(turn, TicketKind.PERSON)
        return
    menu.greet(turn)
    turn.slots[MISSES] = misses
