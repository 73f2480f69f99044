"""Flows as forms: slots that are asked in order, validated, and filled ahead.

The engine does the asking, the validation messages, back / start over /
cancel, stale buttons and the final confirmation; a flow only declares its
slots and what happens on submit. Conversation state is `"<form>.<slot>"` or
`"<form>.confirm"`, the answers live in `turn.slots["values"]`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bot.core.events import Choice, Kind
from bot.core.turn import Turn
from bot.i18n import N_, Nn_

NAV_BACK, NAV_RESTART, NAV_CANCEL = "nav:back", "nav:restart", "nav:cancel"
NAV_IDS = (NAV_BACK, NAV_RESTART, NAV_CANCEL)
SKIP, DONE, SUBMIT = "skip", "done", "submit"


def nav_id(nav: str, state: str) -> str:
    """A navigation button bound to the question it was shown with: "nav:back:repair.model".
    Pressed under a later question it is refused like any stale button."""
    return f"{nav}:{state}"


class Invalid(Exception):
    """An answer the slot cannot take; `message` is a msgid shown to the customer
    (with `plural`: a plural pair, chosen by `count`). `offer`: the option values to
    offer again instead of all of them (e.g. the products a word could mean)."""

    def __init__(
        self, message: str, *, plural: str | None = None, count: int = 1, offer: tuple[str, ...] = (), **values: Any,
    ) -> None:
        super().__init__(message)
        self.message, self.plural, self.count, self.offer = message, plural, count, offer
        self.values = values

    def render(self, turn: Turn) -> str:
        if self.plural:
            return turn.t.n(self.message, self.plural, self.count, **self.values)
        return turn.t._(self.message, **self.values)


class Outcome(Enum):
    CONTINUE = "continue"
    CANCELLED = "cancelled"
    SUBMITTED = "submitted"


# Reads turn.event and returns the value (or an awaitable of it), or raises Invalid.
Parser = Callable[[Turn], Any]


@dataclass(frozen=True)
class Slot:
    name: str
    prompt: str  # msgid, marked with N_()
    parse: Parser | None = None
    # The offered options as (value, label); a pressed one is taken as the value.
    options: Callable[[Turn], list[tuple[str, str]]] | None = None
    optional: bool = False  # offers "Skip"
    skip_label: str | None = None  # msgid of the skip button when "Skip" is not the word, e.g. "I don't know"
    request: str | None = None  # "phone" / "location": the channel's share button
    # The question where the channel has no such button (a phone number in the web chat).
    typed_prompt: str | None = None
    # Fills the slot from any free text of the form, e.g. a serial number.
    extract: Callable[[Turn, str], Any] | None = None
    collects_media: bool = False  # takes any number of files until "Done"
    # How the value is shown in the summary; default: as stored.
    show: Callable[[Turn, Any], str] | None = None


@dataclass(frozen=True)
class Form:
    name: str
    title: str  # msgid: what the form is, for the summary header
    slots: tuple[Slot, ...]
    labels: dict[str, str]  # slot name -> msgid of its label in the summary
    submit: Callable[[Turn, dict[str, Any]], Awaitable[None]]
    # Runs after every accepted answer (and a prefill): may correct the values and
    # say why, e.g. the registered model of a serial number.
    settle: Callable[[Turn, dict[str, Any]], Awaitable[None]] | None = None

    def slot(self, name: str) -> Slot:
        return next(s for s in self.slots if s.name == name)

    def owns(self, state: str) -> bool:
        return state.split(".", 1)[0] == self.name


def text_answer(turn: Turn, max_len: int, min_len: int = 1) -> str:
    """The event's text, or Invalid if it is not text or has the wrong length."""
    event = turn.event
    text = " ".join(event.text.split())
    if event.kind is not Kind.TEXT or not text:  # a sticker arrives as text without any
        raise Invalid(N_("Please answer this question with text."))
    if len(text) > max_len:
        raise Invalid(
            N_("That is too long: please use at most %(max)d characters (yours has %(length)d)."),
            max=max_len,
            length=len(text),
        )
    if len(text) < min_len:
        singular, plural = Nn_("That is too short: please write at least %(count)d character.",
                               "That is too short: please write at least %(count)d characters.")
        raise Invalid(singular, plural=plural, count=min_len)
    return text


def words_answer(turn: Turn, max_len: int, min_len: int = 1) -> str:
    """Text that says something in words: not only emoji, digits or punctuation."""
    text = text_answer(turn, max_len, min_len)
    if not any(ch.isalpha() for ch in text):
        raise Invalid(N_("Please describe it in words."))
    return text


def _values(turn: Turn) -> dict[str, Any]:
    values: dict[str, Any] = turn.slots.setdefault("values", {})
    return values


def _position(form: Form, state: str) -> int:
    """Index of the current slot; len(slots) while confirming."""
    step = state.split(".", 1)[1]
    if step == "confirm":
        return len(form.slots)
    return next(i for i, s in enumerate(form.slots) if s.name == step)


async def start(turn: Turn, form: Form, prefill: dict[str, Any] | None = None) -> None:
    known = [name for name in (prefill or {}) if any(s.name == name for s in form.slots)]
    turn.goto(f"{form.name}.{form.slots[0].name}", {"values": {name: prefill[name] for name in known} if prefill else {}})
    if known:
        turn.say(_noted(turn, form, known))
    if form.settle:
        await form.settle(turn, _values(turn))
    _ask_next(turn, form, 0)


def ask_current(turn: Turn, form: Form) -> None:
    """Ask the current question again (after a language change, /help ...)."""
    _ask(turn, form, _position(form, turn.state))


async def handle(turn: Turn, form: Form) -> Outcome:
    event = turn.event
    position = _position(form, turn.state)
    choice = event.choice or "" if event.kind is Kind.CHOICE else ""
    nav = choice.rsplit(":", 1)[0] if choice.startswith("nav:") else None
    if nav in NAV_IDS and choice == nav_id(nav, turn.state):
        return _navigate(turn, form, position, nav)
    if event.kind is Kind.CHOICE and not choice.startswith(turn.state + ":"):
        turn.say(turn.t._("That button belongs to an earlier question. Here is the current one:"))
        _ask(turn, form, position)
        return Outcome.CONTINUE
    if position == len(form.slots):
        return await _confirm(turn, form)

    slot = form.slots[position]
    try:
        value = _answer(turn, slot)
        if inspect.isawaitable(value):
            value = await value
    except Invalid as problem:
        if problem.offer:
            turn.say(problem.render(turn), _choices(turn, slot, first=position == 0, only=problem.offer))
        else:
            turn.say(problem.render(turn))
            _ask(turn, form, position)
        return Outcome.CONTINUE
    if value is _MORE:
        return Outcome.CONTINUE
    values = _values(turn)
    if value is not None:
        values[slot.name] = value
    else:
        values.pop(slot.name, None)
        values.setdefault("_skipped", []).append(slot.name)
    if event.kind is Kind.TEXT:
        _fill_ahead(turn, form, slot, event.text)
    if form.settle:
        await form.settle(turn, values)
    _ask_next(turn, form, position + 1)
    return Outcome.CONTINUE


_MORE = object()  # a file was added to a collecting slot; wait for more


def _answer(turn: Turn, slot: Slot) -> Any:
    event = turn.event
    if event.kind is Kind.CHOICE:
        value = (event.choice or "").split(":", 1)[1]
        if value == SKIP and slot.optional:
            turn.chosen_label = turn.t._(slot.skip_label or N_("Skip"))
            return None
        if value == DONE and slot.collects_media:
            turn.chosen_label = turn.t._("Done")
            return _values(turn).get(slot.name) or None
        labels = dict(slot.options(turn)) if slot.options else {}
        if value not in labels:
            raise Invalid(N_("That option is no longer available. Please choose again."))
        turn.chosen_label = labels[value]
        return value
    if slot.collects_media:
        if event.kind is not Kind.MEDIA:
            raise Invalid(N_("Please send a photo, video, voice message or document, or press Done."))
        files = _values(turn).setdefault(slot.name, [])
        files.extend({"kind": a.kind, "ref": a.ref, "name": a.name, "mime": a.mime} for a in event.attachments)
        turn.say(
            turn.t.n(
                "Received %(count)d file. Send more, or press Done.",
                "Received %(count)d files. Send more, or press Done.",
                len(files),
            ),
            _choices(turn, slot, first=False),
        )
        return _MORE
    if slot.parse is None:
        raise Invalid(N_("Please choose one of the options."))
    return slot.parse(turn)


def extract_all(turn: Turn, form: Form, text: str) -> dict[str, Any]:
    """What `text` already answers of `form`, e.g. before the form starts."""
    found: dict[str, Any] = {}
    for slot in form.slots:
        value = slot.extract(turn, text) if slot.extract else None
        if value is not None:
            found[slot.name] = value
    return found


def _fill_ahead(turn: Turn, form: Form, current: Slot, text: str) -> None:
    """Fill later slots (serial number, phone) from what the customer already wrote."""
    values = _values(turn)
    filled = []
    for slot in form.slots:
        if slot is current or slot.extract is None or slot.name in values:
            continue
        value = slot.extract(turn, text)
        if value is not None:
            values[slot.name] = value
            filled.append(slot.name)
    if filled:
        turn.say(_noted(turn, form, filled))


def _noted(turn: Turn, form: Form, names: list[str]) -> str:
    values = _values(turn)
    lines = [f"• {turn.t._(form.labels[n])}: {_show(turn, form.slot(n), values[n])}" for n in names]
    return turn.t._("I noted from your message:") + "\n" + "\n".join(lines)


def _ask_next(turn: Turn, form: Form, position: int) -> None:
    values = _values(turn)
    skipped = values.get("_skipped", [])
    for index in range(position, len(form.slots)):
        slot = form.slots[index]
        if slot.name not in values and slot.name not in skipped:
            turn.state = f"{form.name}.{slot.name}"
            _ask(turn, form, index)
            return
    turn.state = f"{form.name}.confirm"
    _ask(turn, form, len(form.slots))


def _nav(turn: Turn, first: bool) -> list[Choice]:
    t, state = turn.t, turn.state
    nav = [] if first else [Choice(nav_id(NAV_BACK, state), t._("« Back"))]
    return nav + [Choice(nav_id(NAV_RESTART, state), t._("Start over")), Choice(nav_id(NAV_CANCEL, state), t._("Cancel"))]


def _choices(turn: Turn, slot: Slot, first: bool, only: tuple[str, ...] = ()) -> list[Choice]:
    prefix = f"{turn.state}:"
    options = slot.options(turn) if slot.options else []
    if only:
        options = [(value, label) for value, label in options if value in only]
    choices = [Choice(prefix + value, label) for value, label in options]
    if slot.collects_media:
        choices.append(Choice(prefix + DONE, turn.t._("Done")))
    if slot.optional:
        choices.append(Choice(prefix + SKIP, turn.t._(slot.skip_label or N_("Skip"))))
    return choices + _nav(turn, first)


# Channels that show a share button next to inline buttons in one message, and the
# share buttons they have (the web page can share a location, not a phone contact).
INLINE_REQUESTS: dict[str, frozenset[str]] = {"web": frozenset({"location"})}


def _ask(turn: Turn, form: Form, position: int) -> None:
    t = turn.t
    if position == len(form.slots):
        text = summary(turn, form)
        choices = [Choice(f"{turn.state}:{SUBMIT}", t._("✅ Submit"))] + _nav(turn, first=False)
        turn.say(text + "\n\n" + t._("Is everything correct?"), choices)
        return
    slot = form.slots[position]
    choices = _choices(turn, slot, first=position == 0)
    if slot.request and turn.event.channel in INLINE_REQUESTS:
        if slot.request in INLINE_REQUESTS[turn.event.channel]:  # one message: the question, its buttons, the share button
            label = t._("📍 Share my location") if slot.request == "location" else t._("📱 Share my phone number")
            turn.say(t._(slot.prompt), choices, request=slot.request, request_label=label)
        else:  # no such button here: the question asks for typing, and nothing says "share"
            turn.say(t._(slot.typed_prompt or slot.prompt), choices)
    elif slot.request:
        # A share button and inline buttons cannot share one message on every channel.
        label = t._("📱 Share my phone number") if slot.request == "phone" else t._("📍 Share my location")
        turn.say(t._(slot.prompt), request=slot.request, request_label=label)
        turn.say(t._("Or choose:"), choices)
    else:
        turn.say(t._(slot.prompt), choices)


def _show(turn: Turn, slot: Slot, value: Any) -> str:
    if slot.show:
        return slot.show(turn, value)
    if slot.options and isinstance(value, str):
        return dict(slot.options(turn)).get(value, value)
    return str(value)


def summary(turn: Turn, form: Form) -> str:
    """The answers so far, one line each, in the customer's language."""
    values = _values(turn)
    lines = [turn.t._(form.title)]
    for slot in form.slots:
        shown = _show(turn, slot, values[slot.name]) if slot.name in values else "—"
        lines.append(f"• {turn.t._(form.labels[slot.name])}: {shown}")
    return "\n".join(lines)


def _navigate(turn: Turn, form: Form, position: int, choice: str) -> Outcome:
    t = turn.t
    if choice == NAV_CANCEL:
        turn.goto("", {})
        turn.say(t._("Cancelled. Nothing was saved."))
        return Outcome.CANCELLED
    values = _values(turn)
    if choice == NAV_RESTART:
        values.clear()
        position = 0
    elif position == 0:
        turn.say(t._("This is the first question."))
    else:
        position -= 1
        values.pop(form.slots[position].name, None)
        skipped = values.get("_skipped", [])
        if form.slots[position].name in skipped:
            skipped.remove(form.slots[position].name)
    turn.state = f"{form.name}.{form.slots[position].name}"
    _ask(turn, form, position)
    return Outcome.CONTINUE


async def _confirm(turn: Turn, form: Form) -> Outcome:
    if turn.event.kind is Kind.CHOICE and turn.event.choice == f"{turn.state}:{SUBMIT}":
        turn.chosen_label = turn.t._("✅ Submit")
        values = {k: v for k, v in _values(turn).items() if not k.startswith("_")}
        await form.submit(turn, values)
        return Outcome.SUBMITTED
    turn.say(turn.t._("Please press Submit, or go back to change an answer."))
    _ask(turn, form, len(form.slots))
    return Outcome.CONTINUE
