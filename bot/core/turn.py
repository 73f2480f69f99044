"""What a flow sees of one inbound event, and how it answers.

A flow never touches SQL: it reads the Turn, asks `turn.store` for the few
things it needs, says replies and sets the new state. The dispatcher persists
all of it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.company import Company
from bot.core.events import Choice, Event, Reply
from bot.i18n import Translator
from bot.media import MediaStore
from services.downtime import DowntimeRecord
from services.handoff import Handoff, Step
from services.timezones import effective_zone
from services.warranty_check import ProductRecord
from storage.link_codes import Redemption
from storage.products import LinkResult
from storage.records import TicketInfo as TicketInfo  # re-exported for the handlers
from storage.surveys import TurnSurveys
from storage.visits import VisitBook


@dataclass(slots=True)
class CustomerView:
    id: int
    locale: str
    locale_chosen: bool
    timezone: str | None
    phone: str | None
    display_name: str | None
    timezone_hint: str | None = None  # the zone their device reports (web chat)
    language_streak: str | None = None  # services/language_offer.py
    language_offered: str | None = None

    def zone(self, company_zone: str) -> str:
        """The zone to give times in: theirs, else their device's, else their phone's country's, else ours."""
        return effective_zone(self.timezone, self.timezone_hint, self.phone, company_zone)


class TurnStore(Protocol):
    """The store operations a flow may ask for, all within the turn's transaction."""

    async def open_ticket(self, kind: str, status: str, **fields: Any) -> TicketInfo: ...

    async def customer_tickets(self, limit: int) -> list[TicketInfo]:
        """Every open ticket of the customer and the latest `limit` closed ones, newest first."""
        ...

    async def own_ticket(self, number: str) -> TicketInfo | None:
        """The customer's ticket with this number; None also for other customers' tickets."""
        ...

    async def ticket_by_id(self, ticket_id: int) -> TicketInfo | None: ...

    async def update_customer(self, **values: Any) -> None: ...

    async def customer_products(self) -> list[ProductRecord]: ...

    async def claim_product(self, serial: str) -> tuple[LinkResult, ProductRecord | None]:
        """Link a registered unit to the customer if they proved it is theirs (storage.products);
        the unit's record whenever the serial is registered (a warranty answer by serial is for anyone)."""
        ...

    async def verified_phone(self) -> str | None:
        """The phone the customer proved is theirs, if any."""
        ...

    async def verify_phone(self, phone: str) -> list[str]:
        """`phone` is proven the customer's (their own Telegram contact): store it and link the
        units sold to it; their serials."""
        ...

    async def record_claim(
        self, product_id: int, ticket_id: int | None, phone: str | None = None, phone_matches: bool | None = None,
    ) -> int:
        """An unproven claim to a unit, for a person to confirm; changes no link."""
        ...

    async def registered_unit(self, serial: str) -> tuple[str, str | None] | None:
        """(product line, model) of a registered unit, without linking it; None if unknown."""
        ...

    async def product_downtime(self, product_id: int) -> list[DowntimeRecord]: ...

    async def handoff(self, ticket_id: int, step: Step) -> Handoff | None:
        """The customer's step on their ticket through the handoff state machine; None if refused."""
        ...

    async def queue_position(self, ticket_id: int) -> int:
        """1 for the conversation that has waited longest."""
        ...

    async def link_code(self) -> str:
        """A new one-time code that joins another chat to this customer's file."""
        ...

    async def redeem_link(self, code: str) -> Redemption:
        """Join this chat to the file of the chat that got `code`."""
        ...

    async def tell(self, identity_id: int, payload: dict[str, Any]) -> None:
        """Send a reply (`Reply.to_payload()`) to another chat of this customer."""
        ...

    async def other_file_with_phone(self, phone: str) -> int | None:
        """Another customer file that holds `phone` as proven too."""
        ...

    async def join_by_phone(self, other_id: int) -> bool:
        """Join file `other_id` and this customer's, if both hold the same proven phone."""
        ...

    async def export_data(self) -> dict[str, Any] | None:
        """Everything the customer's file holds, as plain JSON data."""
        ...

    async def erase_file(self) -> None:
        """Erase the customer's personal data (storage/customer_files.py)."""
        ...

    def visits(self) -> VisitBook:
        """Booking, looking up and cancelling the customer's visits (storage.visits)."""
        ...

    @property
    def surveys(self) -> TurnSurveys:
        """The customer's return-visit surveys (storage/surveys.py)."""
        ...


@dataclass(slots=True)
class Turn:
    event: Event
    customer: CustomerView
    company: Company
    store: TurnStore
    t: Translator
    now: datetime
    state: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    mode: str = "bot"
    ticket_id: int | None = None  # the conversation's ticket with a person, if any
    replies: list[Reply] = field(default_factory=list)
    # The ticket this turn's messages belong to (set when a flow opens one).
    message_ticket_id: int | None = None
    # The label of the button the customer pressed, once a flow has accepted it.
    chosen_label: str | None = None
    files: MediaStore | None = None  # where a flow puts a file it sends (the customer's data copy)
    join_offer: int | None = None  # another file holding the phone this customer just proved: offer to join
    conversation_id: int | None = None  # for the log

    def say(
        self, text: str, choices: list[Choice] | tuple[Choice, ...] = (),
        request: str | None = None, request_label: str | None = None,
    ) -> None:
        self.replies.append(Reply(text, tuple(choices), request, request_label))

    def goto(self, state: str, slots: dict[str, Any] | None = None) -> None:
        self.state = state
        self.slots = {} if slots is None else slots

    async def update_customer(self, **values: Any) -> None:
        """Change the customer (locale, time zone, phone) and speak accordingly from now on."""
        await self.store.update_customer(**values)
        for name, value in values.items():
            setattr(self.customer, name, value)
        self.t = Translator(self.customer.locale, self.customer.zone(self.company.timezone))
