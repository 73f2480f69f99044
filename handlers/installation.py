"""Installation and training of a product (domain.md §5): the product, the place and a phone,
then the engineer's windows for an installation visit.

The request is a "visit" ticket with ``visit_type: installation``; when the engineer records
the visit done, the ticket is resolved and the installation surveys are scheduled (3 days
and 3 months later, data/surveys.yaml). No repair promise applies: nothing is broken.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.forms import Form, start, summary
from bot.core.turn import Turn
from bot.i18n import N_
from handlers import timezone, visit
from handlers.menu import menu_choices
from handlers.promises import promise, settle_time_zone
from handlers.repair import REPAIR
from services.engineers import VISIT_TYPE, JobKind

SERIAL = "install_serial"  # slot: the serial of the registered product chosen for installation


async def begin(turn: Turn, prefill: dict[str, Any] | None = None, serial: str | None = None) -> None:
    """The installation form; `prefill`: a registered product's line and model, the known phone."""
    known = {"phone": turn.customer.phone} if turn.customer.phone else {}
    await start(turn, INSTALL, prefill={**known, **(prefill or {})})
    if serial:
        turn.slots[SERIAL] = serial


async def _submit(turn: Turn, values: dict[str, Any]) -> None:
    place, phone = values["place"], values["phone"]
    promised = promise(turn, values["product_line"], place, phone)
    await settle_time_zone(turn, promised.placement, phone)
    if not turn.customer.phone:
        await turn.update_customer(phone=phone)
    ticket = await turn.store.open_ticket(
        "visit", "open",
        product_line=values["product_line"], model=values.get("model"), serial=turn.slots.get(SERIAL),
        address=place.get("address"), latitude=place.get("lat"), longitude=place.get("lon"), phone=phone,
        details={**promised.details(), VISIT_TYPE: JobKind.INSTALLATION.value},
    )
    turn.message_ticket_id = ticket.id
    t = turn.t
    registered = t._("Thank you! Your installation request %(number)s is registered.", number=ticket.number)
    told = f"{registered}\n\n{summary(turn, INSTALL)}"
    turn.goto("")
    if turn.customer.timezone and promised.centre and await visit.offer(
            turn, ticket.id, values["product_line"], promised.centre, None, kind=JobKind.INSTALLATION, note=told):
        return  # the customer now picks the engineer's window
    call = t._("An engineer will call you to confirm the visit. You can follow it under My tickets.")
    turn.say(f"{told}\n{call}", menu_choices(turn))
    if not turn.customer.timezone:  # neither the place nor the phone told us
        timezone.ask(turn)


INSTALL = Form(
    name="install",
    title=N_("Installation and training"),
    slots=(
        replace(REPAIR.slot("product_line"), prompt=N_("Which product should we install?")),
        REPAIR.slot("model"),
        REPAIR.slot("place"),
        REPAIR.slot("phone"),
    ),
    labels={name: REPAIR.labels[name] for name in ("product_line", "model", "place", "phone")},
    submit=_submit,
)
