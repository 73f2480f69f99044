"""The top of every turn: commands, buttons and free text go to their flow."""

from __future__ import annotations

from dataclasses import replace

from bot.core import forms
from bot.core.actions import END_CHOICE, LEAVE_CHOICE
from bot.core.events import MAX_TEXT, Choice, Event, Kind
from bot.core.turn import Turn
from bot.i18n import N_
from handlers import (
    complaint,
    customer_file,
    handoff,
    installation,
    language_offer,
    menu,
    my_file,
    repair,
    survey,
    tickets,
    timezone,
    typed,
    visit,
    warranty,
)
from services.handoff import MISUNDERSTANDINGS_BEFORE_PERSON, Mode, TicketKind, asks_for_person
from services.intents import Intent
from services.serials import find_serial
from services.tickets import find_number

FORMS = {form.name: form for form in (repair.REPAIR, complaint.COMPLAINT, installation.INSTALL)}


async def _timezone(turn: Turn) -> None:
    done = await timezone.handle(turn)
    if done:
        await resume(turn, done)


# Flows that are not forms: state prefix -> handler.
FLOWS = {
    "warranty": warranty.handle, timezone.STATE: _timezone, repair.PAID: repair.consent, visit.STATE: visit.handle,
    my_file.STATE: my_file.typed, survey.STATE: survey.typed_answer,
}
COMMAND_NAV = {"back": forms.NAV_BACK, "restart": forms.NAV_RESTART, "cancel": forms.NAV_CANCEL}
# The commands shown in the channel's command menu (Telegram's "/"), with their descriptions.
COMMANDS = {
    "start": N_("Start over: greeting and menu"),
    "menu": N_("The main menu"),
    "help": N_("What I can do, and how"),
    "back": N_("Back to the previous question"),
    "restart": N_("Start the current request again"),
    "cancel": N_("Cancel the current request"),
    "tickets": N_("My tickets"),
    "mydata": N_("Everything you hold about me"),
    "link": N_("Join another chat to my customer file"),
    "language": N_("Change the language"),
    "timezone": N_("Change my time zone"),
}
# A serial number found in free text: what the customer may do with it ("sn:<action>:<serial>").
SERIAL_ACTIONS = {"repair": N_("🛠 Report a repair"), "warranty": N_("🛡 Check warranty")}
PERSON_COMMANDS = ("agent", "operator", "person")
MISSES = "misses"  # slot: free-text messages in a row the bot did not understand


def _form(turn: Turn) -> forms.Form | None:
    return FORMS.get(turn.state.split(".", 1)[0]) if turn.state else None


async def route(turn: Turn) -> None:
    locale = turn.customer.locale
    await survey.window_reopened(turn)  # WeChat: they wrote, so a survey that could not be sent goes now
    await _route(turn)
    my_file.offer_join(turn)  # a proven phone that another file of theirs holds too
    if turn.mode != Mode.AGENT:  # with a person, the person answers (and may switch language)
        await language_offer.notice(turn, locale)


async def _route(turn: Turn) -> None:
    event = turn.event
    if event.kind is Kind.CHOICE and event.choice == END_CHOICE:
        await handoff.end(turn)
        return
    # A person owns the conversation: the bot stays silent, the message is theirs.
    if turn.mode == Mode.AGENT and await handoff.with_agent(turn):
        return
    if event.kind is Kind.TEXT and len(event.text) > MAX_TEXT:
        turn.say(turn.t.n(
            "Your message is too long for me (over %(count)d character). Please shorten it.",
            "Your message is too long for me (over %(count)d characters). Please shorten it.", MAX_TEXT,
        ))
        return
    if event.kind is Kind.COMMAND:
        await _command(turn, event.command or "")
        return
    if event.kind is Kind.CHOICE:
        choice = event.choice or ""
        if choice.startswith("lang:"):
            done = await menu.set_language(turn, choice[5:])
            if done:
                await resume(turn, done)
            return
        if choice == LEAVE_CHOICE and turn.mode == Mode.QUEUED:
            await handoff.leave_message(turn)
            return
        if choice.startswith(handoff.ABOUT):
            await handoff.about(turn, choice)
            return
        if survey.is_survey_choice(choice):
            await survey.on_choice(turn, choice)
            return
        if choice.startswith("menu:") and _form(turn) is None:
            label = menu.ENTRIES.get(choice[5:])
            turn.chosen_label = turn.t._(label) if label else None
            await _menu_entry(turn, choice[5:])
            return
        if choice.startswith("file:") and _form(turn) is None and await my_file.choice(turn, choice):
            return
        if choice.startswith("sn:") and _form(turn) is None:
            await _serial_action(turn, choice)
            return
        if choice.startswith(visit.MAINTAIN) and _form(turn) is None:
            await visit.maintain(turn, choice)
            return
    flow = FLOWS.get(turn.state.split(".", 1)[0]) if turn.state else None
    if (flow or _form(turn)) and (command := typed.command_in_form(turn)):
        await _command(turn, command)  # "a person, please" / "cancel" typed mid-question
        return
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
    # Waiting for a person: what the bot understands it still answers; the rest goes to the request.
    if turn.mode == Mode.QUEUED and (intent := typed.command_while_waiting(turn)):
        await _while_waiting(turn, intent)
        return
    if turn.mode == Mode.QUEUED and not _understood(turn) and await handoff.while_queued(turn):
        return
    await _free_text(turn)


async def _while_waiting(turn: Turn, intent: Intent) -> None:
    """A plain "cancel", "my tickets", "my data", "language" typed while waiting for a person."""
    if intent is Intent.CANCEL:
        await handoff.end(turn)  # as the "Back to the assistant" button: no longer waiting
    else:
        await _menu_entry(turn, typed.ENTRY[intent])


async def resume(turn: Turn, note: str) -> None:
    """Say `note`, then ask the current question again (in the customer's language now);
    without one, `note` comes with the menu."""
    if not turn.state:
        menu.show_menu(turn, note)
        return
    turn.say(note)
    form = _form(turn)
    if form is not None:
        forms.ask_current(turn, form)
    elif turn.state.startswith("warranty"):
        await warranty.ask_again(turn)
    elif turn.state == repair.PAID:
        repair.ask_consent_again(turn)
    elif turn.state == timezone.STATE:
        timezone.ask_again(turn)
    elif turn.state.startswith(visit.STATE):
        await visit.ask_again(turn)


async def _command(turn: Turn, command: str) -> None:
    if command in COMMAND_NAV and _form(turn):
        turn.event = _as_choice(turn, forms.nav_id(COMMAND_NAV[command], turn.state))
        await _route(turn)
    elif command in PERSON_COMMANDS:
        await handoff.talk_to_person(turn)
    elif command in ("start", "menu", "cancel", "restart"):
        handoff.step_out(turn)  # the bot is there again; a waiting request stays open for the person
        if command in ("start", "restart"):
            turn.goto("")  # a fresh start: nothing kept from before
            menu.greet(turn, await handoff.waiting_note(turn))
        else:
            menu.show_menu(turn)
    elif command == "back":
        menu.show_menu(turn, turn.t._("There is no earlier question to go back to. Here is the menu:"))
    elif command == "language":
        menu.ask_language(turn)
    elif command == "timezone":
        timezone.ask(turn, back_to=(turn.state, turn.slots))
    elif command == tickets.MY_FILE:
        await customer_file.show(turn)
    elif command == "link":
        await my_file.link(turn)
    elif command in menu.ENTRIES:
        await _menu_entry(turn, command)
    elif command == "help":
        await resume(turn, turn.t._(
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
    elif entry == "visit":
        await visit.begin(turn)
    elif entry in handoff.BY_A_PERSON:
        await handoff.open_for_person(turn, entry)
    else:
        menu.show_menu(turn)


def _our_serial(turn: Turn, text: str) -> str | None:
    """A serial number of one of our product lines written in `text`."""
    info = find_serial(text)
    return info.serial if info and turn.company.catalog.line_for_serial_prefix(info.prefix) else None


def _understood(turn: Turn) -> bool:
    event = turn.event
    return event.kind is Kind.TEXT and bool(find_number(event.text) or _our_serial(turn, event.text))


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
            turn.slots["prefill"] = {**turn.slots.get("prefill", {}), **prefill}
        understood = typed.understand_text(turn)
        if understood.recognition.sure:
            await typed.act(turn, understood, _menu_entry)
            return
        serial = _our_serial(turn, event.text)
        if serial:
            await _offer_for_serial(turn, serial)
            return
        if not await _handed_over_after_misses(turn):
            misses = turn.slots.get(MISSES, 0)
            typed.ask_which(turn, understood)  # never the bare greeting again
            turn.slots[MISSES] = misses
        return
    if event.kind is Kind.MEDIA:
        # Kept for the next request: the repair form starts with these files.
        prefill = turn.slots.setdefault("prefill", {})
        prefill.setdefault("files", []).extend(
            {"kind": a.kind, "ref": a.ref, "name": a.name, "mime": a.mime} for a in event.attachments
        )
        menu.show_menu(turn, turn.t.n(
            "Thank you. I keep this file for your next request: choose Report a repair, and it is attached.",
            "Thank you. I keep these %(count)d files for your next request: choose Report a repair, and they are attached.",
            len(prefill["files"]),
        ))
        return
    if event.kind in (Kind.LOCATION, Kind.CONTACT):
        menu.show_menu(turn, turn.t._("Thank you. To send this with a repair request, please choose Report a repair first."))
        return
    if not await _handed_over_after_misses(turn):
        misses = turn.slots.get(MISSES, 0)
        menu.greet(turn)
        turn.slots[MISSES] = misses


async def _handed_over_after_misses(turn: Turn) -> bool:
    """One more message the bot did not understand; the third in a row goes to a person.
    (Any understood step moves the conversation on, which clears the count.)"""
    misses = int(turn.slots.get(MISSES, 0)) + 1
    if misses >= MISUNDERSTANDINGS_BEFORE_PERSON:
        turn.say(turn.t._("I am sorry, I do not understand. Let me find a person for you."))
        await handoff.hand_over(turn, TicketKind.PERSON)
        return True
    turn.slots[MISSES] = misses
    return False


async def _offer_for_serial(turn: Turn, serial: str) -> None:
    """"HA2403000123, household air conditioner": offer what fits a serial number."""
    line = turn.company.catalog.line_for_serial_prefix(serial[:2])
    assert line is not None
    product = line.name_in(turn.customer.locale)
    registered = await turn.store.registered_unit(serial)
    if registered and registered[0] == line.id and registered[1]:
        model = line.model(registered[1])
        # A model's own name names the product; a model known by its code goes with its line.
        product = model.name_in(turn.customer.locale) if model and model.names else f"{product} {registered[1]}"
    actions = [Choice(f"sn:{action}:{serial}", turn.t._(label)) for action, label in SERIAL_ACTIONS.items()]
    others = [c for c in menu.menu_choices(turn) if c.id[5:] not in SERIAL_ACTIONS]
    turn.goto("", {"prefill": turn.slots.get("prefill", {})})
    turn.say(turn.t._("%(serial)s: %(product)s. What would you like to do?", serial=serial, product=product), actions + others)


async def _serial_action(turn: Turn, choice: str) -> None:
    _, _, rest = choice.partition(":")
    action, _, typed = rest.partition(":")
    serial = _our_serial(turn, typed)  # a button's data is checked like typed text: it may be forged
    line = turn.company.catalog.line_for_serial_prefix(serial[:2]) if serial else None
    if action not in SERIAL_ACTIONS or serial is None or line is None:
        turn.say(turn.t._("That button belongs to an earlier message."))
        menu.show_menu(turn)
        return
    turn.chosen_label = turn.t._(SERIAL_ACTIONS[action])
    if action == "repair":
        prefill = {**turn.slots.get("prefill", {}), "product_line": line.id, "serial": serial}
        await repair.begin(turn, prefill)
    else:
        await warranty.check_serial(turn, serial)
