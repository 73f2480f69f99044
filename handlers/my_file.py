"""The customer's own file across channels (issue 18): join another chat with a one-time
code, take a copy of the file, or have the personal data erased."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.core.events import Attachment, Choice, Kind, Reply
from bot.core.turn import Turn
from bot.i18n import N_
from handlers import menu
from services.handoff import TicketKind
from services.link_codes import shown, typed_code
from storage.link_codes import Redeemed

STATE = "link"  # waiting for a code typed in this chat
LINK, EXPORT, ERASE = "file:link", "file:export", "file:erase"
ERASE_YES, ERASE_NO = "file:erase_yes", "file:erase_no"
PHONE_JOIN, PHONE_KEEP = "file:phone:", "file:phone_keep"  # PHONE_JOIN + the other file's id
ACTIONS = {
    LINK: N_("🔗 Link another chat"),
    EXPORT: N_("📦 Copy of my data"),
    ERASE: N_("🗑 Delete my data"),
}


def choices(turn: Turn) -> list[Choice]:
    return [Choice(choice, turn.t._(label)) for choice, label in ACTIONS.items()]


async def link(turn: Turn) -> None:
    """/link ABCD-2345 (or the code typed after /link) joins this chat to the code's file;
    /link alone gives a code for the other chat."""
    code = typed_code(turn.event.text.removeprefix("/link")) if turn.event.kind is Kind.COMMAND else None
    if code:
        await redeem(turn, code)
        return
    code = await turn.store.link_code()
    turn.goto(STATE)
    turn.say(turn.t._(
        "To join another chat (Telegram, WeChat or the web chat) to your customer file, send this there "
        "within 10 minutes:\n\n/link %(code)s\n\nIf you already have a code from your other chat, type it here.",
        code=shown(code),
    ))


async def typed(turn: Turn) -> None:
    """A message while a code is awaited: the code, or back to the menu."""
    code = typed_code(turn.event.text) if turn.event.kind is Kind.TEXT else None
    turn.goto("")
    if code is None:
        menu.show_menu(turn, turn.t._("That is not a link code. Here is the menu:"))
        return
    await redeem(turn, code)


async def redeem(turn: Turn, code: str) -> None:
    t = turn.t
    redemption = await turn.store.redeem_link(code)
    result = redemption.outcome
    if result is Redeemed.JOINED:
        if redemption.other_identity_id is not None:
            await turn.store.tell(redemption.other_identity_id, Reply(t._(
                "Another chat has just been joined to your customer file: your tickets and products are now "
                "the same in both.")).to_payload())
        menu.show_menu(turn, t._("Done: this chat is now joined to your customer file. Your tickets and products "
                                 "from the other chat are here too."))
    elif result is Redeemed.SAME_FILE:
        menu.show_menu(turn, t._("This chat already belongs to that customer file."))
    elif result is Redeemed.TOO_MANY:
        turn.say(t._("Too many wrong codes. Please wait 10 minutes and try again."))
    elif result is Redeemed.NEEDS_PERSON:
        from handlers import handoff

        turn.say(t._("Your two chats hold different confirmed phone numbers, so a colleague must confirm that they "
                     "are the same person before joining them. I am passing this on."))
        await handoff.hand_over(turn, TicketKind.PERSON)
    else:
        turn.say(t._("That code does not work: it may be mistyped, already used or older than 10 minutes. "
                     "Type /link in your other chat for a new one."))


async def export(turn: Turn) -> None:
    data = await turn.store.export_data()
    if data is None or turn.files is None:
        menu.show_menu(turn, turn.t._("Sorry, I cannot make the copy right now. Please try again later."))
        return
    json_ref = await turn.files.save(json.dumps(data, ensure_ascii=False, indent=2).encode(), "json")
    html_ref = await turn.files.save(_page(turn, data).encode(), "html")
    turn.replies.append(Reply(
        turn.t._("Here is a copy of everything we hold about you: a file to keep (JSON) and a page to read (HTML)."),
        attachments=(
            Attachment("document", json_ref, "my-data.json", "application/json"),
            Attachment("document", html_ref, "my-data.html", "text/html"),
        ),
    ))
    menu.show_menu(turn)


_PAGES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())


def _page(turn: Turn, data: dict[str, Any]) -> str:
    """The file as a page a person can read, headings in the customer's language."""
    t = turn.t
    headings = {
        "title": t._("Your customer file"), "channels": t._("Your chats"), "products": t._("Your products"),
        "tickets": t._("Your tickets"), "messages": t._("Messages"),
    }
    return _PAGES.get_template("my_data.html").render(data=data, h=headings, lang=turn.customer.locale)


def ask_erase(turn: Turn) -> None:
    t = turn.t
    turn.say(
        t._("This deletes your name, phone numbers, addresses, messages and files from our records. Your tickets stay, "
            "without anything that names you, because we must keep them. This cannot be undone. Delete your data?"),
        [Choice(ERASE_YES, t._("🗑 Yes, delete my data")), Choice(ERASE_NO, t._("Keep my data"))],
    )


async def erase(turn: Turn, confirmed: bool) -> None:
    if not confirmed:
        menu.show_menu(turn, turn.t._("Nothing was deleted."))
        return
    await turn.store.erase_file()
    turn.goto("")
    turn.say(turn.t._("Your personal data has been deleted. Thank you for having been our customer."))


def offer_join(turn: Turn) -> None:
    """The customer proved a phone that another file of theirs holds too: offer to join them."""
    if turn.join_offer is None:
        return
    t = turn.t
    turn.say(t._("You already have another customer file with this confirmed phone number (from another chat). "
                 "Join them, so that all your tickets and products are in one place?"),
             [Choice(f"{PHONE_JOIN}{turn.join_offer}", t._("🔗 Yes, join them")), Choice(PHONE_KEEP, t._("No, keep them apart"))])
    turn.join_offer = None


async def _join_by_phone(turn: Turn, chosen: str) -> None:
    other = chosen.removeprefix(PHONE_JOIN)
    if other.isdigit() and await turn.store.join_by_phone(int(other)):
        turn.say(turn.t._("Done: your customer files are joined. Your tickets and products from both are here now."))
    else:
        turn.say(turn.t._("That button belongs to an earlier message."))


async def choice(turn: Turn, chosen: str) -> bool:
    """Handle one of this module's buttons; False if `chosen` is not one."""
    if chosen.startswith(PHONE_JOIN):
        await _join_by_phone(turn, chosen)
    elif chosen == PHONE_KEEP:
        menu.show_menu(turn, turn.t._("All right: they stay apart."))
    elif chosen == LINK:
        await link(turn)
    elif chosen == EXPORT:
        await export(turn)
    elif chosen == ERASE:
        ask_erase(turn)
    elif chosen in (ERASE_YES, ERASE_NO):
        await erase(turn, chosen == ERASE_YES)
    else:
        return False
    return True
