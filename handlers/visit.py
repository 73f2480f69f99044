"""Booking an engineer's visit in the chat: a window, then confirm, change or cancel it.

The customer sees the free windows of engineers who have the skill and serve
their place (services/slots.py), a few days at a time in their own time zone,
with "earlier" / "later". Windows that keep the on-site promise come first and
are marked; a later one is the customer's choice and recorded as such.
State ``visit`` (choosing) and ``visit.manage`` (a booked visit's buttons).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.events import Choice, Kind
from bot.core.turn import Turn
from bot.i18n import Translator
from handlers.menu import show_menu
from services.engineers import VISIT_TICKETS, JobKind, Roster
from services.intents import PartOfDay
from services.slots import LEAD_TIME, Window, asked_for, free_engineers, free_windows, page_of, page_start
from services.warranty_check import ProductRecord
from storage.visits import VisitInfo, VisitStatus

STATE, MANAGE, PURPOSE = "visit", "visit.manage", "visit.purpose"
PICK, PAGE, LATER = "visit:pick:", "visit:page:", "visit:later"
MOVE, CANCEL, KEEP = "visit:move:", "visit:cancel:", "visit:keep"
MAINTAIN = "visit:maintain:"  # the periodic maintenance prompt's button (handlers/visit_jobs.py), any state
FOR_REPAIR, FOR_INSTALL = "visit:for:repair", "visit:for:install"  # what the visit is for; + ":<product id>"
REGISTERED_OFFERED = 3  # the customer's registered products offered for installation, at most
OPEN = ("open", "queued", "assigned")


def _roster(turn: Turn) -> Roster | None:
    return turn.company.roster


def window_label(t: Translator, window: Window) -> str:
    """"Thu, Dec 3 09:00–12:00" in the reader's zone."""
    start, end = window.start.astimezone(t.tz), window.end.astimezone(t.tz)
    return f"{t.day(start.date())} {t.time(start.time())}–{t.time(end.time())}"


def _window_label(turn: Turn, window: Window) -> str:
    return window_label(turn.t, window)


def _engineer_name(turn: Turn, engineer: str) -> str:
    roster = _roster(turn)
    person = roster.engineer(engineer) if roster else None
    return person.name if person else engineer


async def _busy(turn: Turn, roster: Roster, centre: str, start: datetime, end: datetime) -> set[tuple[str, datetime]]:
    engineers = [e.id for e in roster.engineers if e.centre == centre]
    return await turn.store.visits().busy(engineers, start, end)


async def offer(turn: Turn, ticket_id: int, line: str, centre: str, due: datetime | None,
                page: int = 0, kind: JobKind = JobKind.REPAIR, moving: int | None = None, note: str | None = None,
                day: tuple[date, PartOfDay | None] | None = None) -> bool:
    """Show a page of free windows for the ticket; False when no engineer of the centre has the skill.
    `day`: the day (and part of it) the customer asked for: those windows only, if any are free."""
    roster = _roster(turn)
    if roster is None or centre not in roster.centres or not any(
            e.centre == centre and line in e.skills for e in roster.engineers):
        return False
    zone = ZoneInfo(roster.centres[centre].tz)
    if day is not None:  # the page that shows the day asked for
        page = page_of(day[0], turn.now.astimezone(zone).date(), roster.days_shown)
    first = page_start(turn.now, zone, page, roster.days_shown)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    busy = await _busy(turn, roster, centre, start, start + timedelta(days=roster.days_shown + 1))
    windows = free_windows(roster, centre, line, kind, busy, turn.now, first, roster.days_shown)
    t = turn.t
    if day is not None:
        asked = asked_for(windows, zone, *day)
        note = t._("Here are the free windows then:") if asked else t._("There is no free window then; here are the days around it:")
        windows = asked or windows
    turn.goto(STATE, {"ticket": ticket_id, "line": line, "centre": centre, "kind": kind.value, "page": page,
                      "due": due.isoformat() if due else None, "moving": moving})
    choices = [Choice(PICK + w.key, ("✓ " if due and w.start <= due else "") + _window_label(turn, w)) for w in windows]
    if page > 0:
        choices.append(Choice(f"{PAGE}{page - 1}", t._("◀ Earlier")))
    if (page + 1) * roster.days_shown < roster.days_ahead:
        choices.append(Choice(f"{PAGE}{page + 1}", t._("Later ▶")))
    choices.append(Choice(LATER, t._("Not now")))
    lines = [note] if note else []
    if windows:
        lines.append(t._("When should the engineer come? Choose a time window (times are your local time)."))
        if due and any(w.start <= due for w in windows):
            lines.append(t._("The windows marked ✓ keep our promise of an engineer by %(time)s.", time=t.when(due)))
    else:
        lines.append(t._("There is no free window on these days. Please look at later days."))
    turn.say("\n".join(lines), choices)
    return True


async def handle(turn: Turn) -> None:
    """A button of the window offer or of a booked visit."""
    choice = turn.event.choice or "" if turn.event.kind is Kind.CHOICE else ""
    slots = turn.slots
    if turn.state == MANAGE:
        await _manage(turn, choice)
        return
    if turn.state == PURPOSE:
        await _purpose(turn, choice)
        return
    if choice.startswith(PAGE) and choice[len(PAGE):].isdigit():
        turn.chosen_label = turn.t._("Later ▶") if int(choice[len(PAGE):]) > slots.get("page", 0) else turn.t._("◀ Earlier")
        await _again(turn, page=int(choice[len(PAGE):]))
    elif choice.startswith(PICK):
        await _pick(turn, choice[len(PICK):])
    elif choice == LATER:
        turn.chosen_label = turn.t._("Not now")
        show_menu(turn, turn.t._("All right. You can book the visit any time with “Book a visit” in the menu."))
    elif turn.event.kind is Kind.TEXT and await _typed_day(turn):
        return
    else:
        await _again(turn, note=turn.t._("Please choose a time window with the buttons."))


def asked_when(value: Any) -> tuple[date, PartOfDay | None] | None:
    """A stored [day, part] (repair.VISIT_WHEN) back as values; None if there is none or it is garbled."""
    try:
        day, part = value
        return date.fromisoformat(day), PartOfDay(part) if part else None
    except (TypeError, ValueError):
        return None


async def _typed_day(turn: Turn) -> bool:
    """"Tomorrow morning", "в пятницу", "明天上午" typed instead of a button: the windows asked for
    (issue 16), in the customer's time zone as the recogniser reads it; False if no day was said."""
    from handlers.typed import understand_text  # (typed imports the flows; this one is among them)

    details = understand_text(turn).details
    roster = _roster(turn)
    s = turn.slots
    if details.day is None or roster is None or s.get("centre") not in roster.centres:
        return False
    await _again(turn, day=(details.day, details.part))
    return True


async def _again(turn: Turn, page: int | None = None, note: str | None = None,
                 day: tuple[date, PartOfDay | None] | None = None) -> None:
    s = turn.slots
    due = datetime.fromisoformat(s["due"]) if s.get("due") else None
    await offer(turn, s["ticket"], s["line"], s["centre"], due, s.get("page", 0) if page is None else page,
                JobKind(s.get("kind", JobKind.REPAIR)), s.get("moving"), note, day)


async def _pick(turn: Turn, key: str) -> None:
    s, roster = turn.slots, _roster(turn)
    try:
        window = Window.from_key(key)
    except ValueError:
        window = None
    taken = turn.t._("Sorry, that window is no longer free. Please choose another one.")
    if roster is None or window is None or window.start < turn.now + LEAD_TIME:
        await _again(turn, note=taken)
        return
    book = turn.store.visits()
    if s.get("moving"):  # their old time is free for the new choice (undone with the turn if none is booked)
        await book.release(s["moving"], VisitStatus.CANCELLED)
    busy = await _busy(turn, roster, s["centre"], window.start, window.end)
    free = free_engineers(roster, s["centre"], s["line"], window, busy)
    due = datetime.fromisoformat(s["due"]) if s.get("due") else None
    chose_later = due is not None and window.start > due
    zone = ZoneInfo(roster.centres[s["centre"]].tz)
    label = f"{window.start.astimezone(zone):%H:%M}-{window.end.astimezone(zone):%H:%M}"
    visit_id = None
    for engineer in free:
        visit_id = await book.book(s["ticket"], engineer, s["centre"], JobKind(s.get("kind", JobKind.REPAIR)),
                                   Window(window.start, window.end, engineer), chose_later, label,
                                   _engineer_name(turn, engineer))
        if visit_id is not None:
            break
    if visit_id is None:
        await _again(turn, note=taken)
        return
    visit = await book.booked_for_ticket(s["ticket"])
    assert visit is not None
    turn.chosen_label = _window_label(turn, window)
    turn.message_ticket_id = s["ticket"]
    t = turn.t
    lines = [t._("Booked: %(engineer)s will come on %(window)s.", engineer=_engineer_name(turn, visit.engineer),
                 window=_window_label(turn, window))]
    if chose_later and due:
        lines.append(t._("You chose a time after our promise (an engineer by %(time)s); we keep to the time you chose.",
                         time=t.when(due)))
    lines.append(t._("I will remind you the day before and an hour before. To change or cancel it, choose “Book a visit” in the menu."))
    show_menu(turn, "\n".join(lines))


# --- "Book a visit" in the menu -----------------------------------------------------------


async def begin(turn: Turn) -> None:
    """The menu's "Book a visit": the booked visit to change, else windows for the open repair or
    installation, else what the engineer should come for."""
    open_repairs = [t for t in await turn.store.customer_tickets(0) if t.kind in VISIT_TICKETS and t.status in OPEN]
    book = turn.store.visits()
    for ticket in open_repairs:
        visit = await book.booked_for_ticket(ticket.id)
        if visit is not None:
            _show_booked(turn, ticket.number, visit)
            return
    for ticket in open_repairs:
        facts = await book.ticket_facts(ticket.id)
        if facts and facts[0] and facts[1] and await offer(turn, ticket.id, facts[0], facts[1], facts[2],
                                                           kind=await book.job_kind(ticket.id)):
            turn.message_ticket_id = ticket.id
            return
    if turn.slots.get("prefill", {}).get("description"):  # they told us of a fault: a repair
        await _for_repair(turn)
        return
    await ask_purpose(turn)


async def ask_purpose(turn: Turn) -> None:
    """No open repair: what should the engineer come for? A repair, or installation and training
    (of a product registered to them, or another)."""
    t = turn.t
    prefill = turn.slots.get("prefill")
    turn.goto(PURPOSE, {"prefill": prefill} if prefill else {})
    choices = [Choice(FOR_REPAIR, t._("🛠 A repair")), Choice(FOR_INSTALL, t._("📦 Installation and training"))]
    for product in (await turn.store.customer_products())[:REGISTERED_OFFERED]:
        choices.append(Choice(f"{FOR_INSTALL}:{product.id}", t._("📦 Install %(product)s", product=_product_name(turn, product))))
    choices.append(Choice(LATER, t._("Not now")))
    turn.say(t._("What should the engineer come for?"), choices)


def _product_name(turn: Turn, product: ProductRecord) -> str:
    line = turn.company.catalog.line(product.product_line)
    model = line.model(product.model) if product.model else None
    if model is not None and model.names:
        return model.name_in(turn.customer.locale)
    return " ".join(filter(None, [line.name_in(turn.customer.locale), product.model]))


async def _for_repair(turn: Turn) -> None:
    from handlers import repair  # repair offers visits itself: import here, not at the top

    turn.say(turn.t._("An engineer comes for a repair request. Tell me what needs repairing, and then choose a time."))
    await repair.begin(turn)


async def _purpose(turn: Turn, choice: str) -> None:
    from handlers import installation  # installation offers visits itself: import here, not at the top

    t = turn.t
    if choice == FOR_REPAIR:
        turn.chosen_label = t._("🛠 A repair")
        await _for_repair(turn)
    elif choice == FOR_INSTALL:
        turn.chosen_label = t._("📦 Installation and training")
        await installation.begin(turn)
    elif choice.startswith(f"{FOR_INSTALL}:") and (product := await _registered(turn, choice[len(FOR_INSTALL) + 1:])):
        turn.chosen_label = t._("📦 Install %(product)s", product=_product_name(turn, product))
        await installation.begin(turn, {"product_line": product.product_line, "model": product.model} if product.model
                                 else {"product_line": product.product_line}, serial=product.serial)
    elif choice == LATER:
        turn.chosen_label = t._("Not now")
        show_menu(turn)
    else:
        turn.say(t._("Please answer with the buttons."))
        await ask_purpose(turn)


async def _registered(turn: Turn, value: str) -> ProductRecord | None:
    """The customer's own registered product of a button (its data may be forged)."""
    products = await turn.store.customer_products()
    return next((p for p in products if str(p.id) == value), None)


def _show_booked(turn: Turn, number: str, visit: VisitInfo) -> None:
    t = turn.t
    turn.goto(MANAGE, {"visit": visit.id, "ticket": visit.ticket_id, "number": number})
    turn.message_ticket_id = visit.ticket_id
    turn.say(t._("Your visit for request %(number)s: %(engineer)s, %(window)s.", number=number,
                 engineer=_engineer_name(turn, visit.engineer), window=_window_label(turn, visit.window)), [
        Choice(f"{MOVE}{visit.id}", t._("🔁 Another time")),
        Choice(f"{CANCEL}{visit.id}", t._("✖ Cancel the visit")),
        Choice(KEEP, t._("✅ Keep it")),
    ])


async def _manage(turn: Turn, choice: str) -> None:
    t, book = turn.t, turn.store.visits()
    visit_id = turn.slots.get("visit")
    visit = await book.booked_for_ticket(turn.slots.get("ticket", 0))
    if visit is None or visit.id != visit_id:
        show_menu(turn, t._("That visit is no longer booked."))
        return
    if choice == f"{CANCEL}{visit_id}":
        turn.chosen_label = t._("✖ Cancel the visit")
        await book.release(visit.id, VisitStatus.CANCELLED)  # its reminders go with it
        turn.message_ticket_id = visit.ticket_id
        show_menu(turn, t._("The visit is cancelled. You can book a new one any time with “Book a visit”."))
    elif choice == f"{MOVE}{visit_id}":
        turn.chosen_label = t._("🔁 Another time")
        facts = await book.ticket_facts(visit.ticket_id)
        line = facts[0] if facts and facts[0] else ""
        if not await offer(turn, visit.ticket_id, line, visit.centre, facts[2] if facts else None,
                           kind=JobKind(visit.kind), moving=visit.id):
            show_menu(turn, t._("That visit is no longer booked."))
    elif choice == KEEP:
        turn.chosen_label = t._("✅ Keep it")
        show_menu(turn, t._("Good, the visit stays as booked."))
    else:
        turn.say(t._("Please answer with the buttons."))
        _show_booked(turn, turn.slots.get("number", ""), visit)


async def ask_again(turn: Turn) -> None:
    """The current question again (after /help, a language change)."""
    if turn.state == PURPOSE:
        await ask_purpose(turn)
        return
    if turn.state == MANAGE:
        visit = await turn.store.visits().booked_for_ticket(turn.slots.get("ticket", 0))
        if visit is not None:
            _show_booked(turn, turn.slots.get("number", ""), visit)
            return
        show_menu(turn)
        return
    await _again(turn)


async def maintain(turn: Turn, choice: str) -> None:
    """The maintenance prompt's button: a visit ticket for the same unit, and its windows."""
    value = choice.removeprefix(MAINTAIN)
    book = turn.store.visits()
    basis = await book.maintenance_basis(int(value)) if value.isdigit() else None
    centre = basis and basis["details"]["visit_centre"]
    if not basis or not centre or not basis["product_line"]:
        show_menu(turn, turn.t._("That button belongs to an earlier message."))
        return
    turn.chosen_label = turn.t._("📅 Book the maintenance visit")
    ticket = await turn.store.open_ticket("visit", "open", **basis)
    turn.message_ticket_id = ticket.id
    if not await offer(turn, ticket.id, basis["product_line"], centre, None, kind=JobKind.MAINTENANCE):
        show_menu(turn, turn.t._("An engineer will call you to confirm the visit. You can follow it under My tickets."))
