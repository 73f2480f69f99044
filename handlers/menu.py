"""Greeting, main menu and language choice."""

from __future__ import annotations

from bot.core.events import Choice
from bot.core.turn import Turn
from bot.i18n import N_, locale_names

# Menu entry id -> label msgid, in the order shown.
ENTRIES = {
    "repair": N_("🛠 Report a repair"),
    "complaint": N_("📝 File a complaint"),
    "warranty": N_("🛡 Check warranty"),
    "visit": N_("📅 Book a visit"),
    "tickets": N_("📋 My tickets"),
    "person": N_("🙋 Talk to a person"),
    "language": N_("🌐 Language"),
}


def menu_choices(turn: Turn) -> list[Choice]:
    return [Choice(f"menu:{entry}", turn.t._(label)) for entry, label in ENTRIES.items()]


def show_menu(turn: Turn, text: str | None = None) -> None:
    turn.goto("", turn.slots.get("prefill") and {"prefill": turn.slots["prefill"]} or {})
    turn.say(text or turn.t._("How can I help you?"), menu_choices(turn))


GREETING = N_(
    "Hello! I am the service assistant. I can register a repair or a complaint, "
    "and find a person for you at any time. How can I help?"
)


def greet(turn: Turn, note: str | None = None) -> None:
    show_menu(turn, "\n\n".join(filter(None, [turn.t._(GREETING), note])))


def ask_language(turn: Turn) -> None:
    turn.say(
        turn.t._("Choose your language:"),
        [Choice(f"lang:{code}", name) for code, name in locale_names().items()],
    )


async def set_language(turn: Turn, code: str) -> str | None:
    """Switch to `code` and say so in it; None (and the question again) if it is not one of ours."""
    names = locale_names()
    if code not in names:
        ask_language(turn)
        return None
    turn.chosen_label = names[code]
    await turn.update_customer(locale=code, locale_chosen=True)
    return turn.t._("Done: I will write to you in English from now on.")
