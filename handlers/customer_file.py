"""The customer's own file, exported to them in the chat (domain.md §1): what we hold
about them, every product registered to them and every ticket."""

from __future__ import annotations

from babel.dates import format_skeleton

from bot.core.turn import Turn
from bot.i18n import babel_locale, locale_names
from handlers import my_file, survey
from handlers.menu import menu_choices
from handlers.tickets import describe as describe_ticket
from handlers.timezone import place_name
from handlers.warranty import product_name
from services.warranty_check import ProductRecord

ALL_TICKETS = 1000  # a chat message is split as needed; no customer has more


async def show(turn: Turn) -> None:
    t, customer = turn.t, turn.customer
    lines = [
        t._("Everything we hold about you:"),
        t._("Name: %(name)s", name=customer.display_name or "—"),
        t._("Phone: %(phone)s", phone=await _phone(turn)),
        t._("Language: %(language)s", language=locale_names()[customer.locale]),
        t._("Time zone: %(place)s", place=place_name(customer.timezone, customer.locale, turn.now))
        if customer.timezone else t._("Time zone: not set yet (type /timezone)"),
        "",
    ]
    products = await turn.store.customer_products()
    if products:
        lines.append(t.n("Your product (%(count)d):", "Your products (%(count)d):", len(products)))
        lines += [f"• {product_name(turn, p)} · {p.serial} · {_since(turn, p)}".rstrip(" ·") for p in products]
    else:
        lines.append(t._("No products are registered to you yet."))
    lines.append("")
    tickets = await turn.store.customer_tickets(ALL_TICKETS)
    if tickets:
        lines.append(t.n("Your ticket (%(count)d):", "Your tickets (%(count)d):", len(tickets)))
        lines += [describe_ticket(turn, ticket) + "\n" for ticket in tickets]
    else:
        lines.append(t._("You have no tickets yet."))
    lines += await survey.file_lines(turn, tickets)
    lines.append(t._("To correct anything here, choose Talk to a person."))
    turn.say("\n".join(lines).strip(), [*my_file.choices(turn), *await survey.file_choices(turn), *menu_choices(turn)])


async def _phone(turn: Turn) -> str:
    """The phone we hold, marked when the customer has not proved it is theirs (docs/security.md)."""
    phone = turn.customer.phone
    if not phone:
        return "—"
    return phone if phone == await turn.store.verified_phone() else turn.t._("%(phone)s (not confirmed)", phone=phone)


def _since(turn: Turn, product: ProductRecord) -> str:
    """Where the product's warranty counts from, as the registry knows it."""
    t = turn.t
    if product.invoice_date:
        return t._("bought %(date)s", date=t.date(product.invoice_date, "long"))
    if product.acceptance_date:
        return t._("accepted %(date)s", date=t.date(product.acceptance_date, "long"))
    if product.manufactured:
        month = format_skeleton("yMMMM", product.manufactured, locale=babel_locale(turn.customer.locale))
        return t._("made %(month)s", month=month)
    return ""
