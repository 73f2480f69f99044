"""The store's hot path: the statements one batch of inbound events needs.

Built once per dialect and executed with bound parameters; a whole batch of
events costs a handful of round trips (see PERFORMANCE.md for why this
matters): receipts, conversation load, conversation save, messages, outbox.
Off the hot path (ticket creation, listings) plain Core statements are fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, or_, select, update

from services.downtime import DowntimeRecord
from services.handoff import CUSTOMER, Handoff, Refused, Step, decide
from services.tickets import OPEN_STATUSES, PREFIX, format_number
from services.warranty_check import ProductRecord
from storage.db import StoreConnection, insert_ignore
from storage.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    InboundReceipt,
    Message,
    OutboxRow,
    Product,
    Ticket,
    TicketCounter,
    table_of,
)
from storage.products import LinkResult, link_product, record_claim, verify_phone
from storage.records import TicketInfo
from storage.visits import VisitBook

if TYPE_CHECKING:
    from storage.link_codes import Redemption

if TYPE_CHECKING:
    from storage.surveys import TurnSurveys

customers = table_of(Customer)
identities = table_of(ChannelIdentity)
conversations = table_of(Conversation)
receipts = table_of(InboundReceipt)
messages = table_of(Message)
outbox = table_of(OutboxRow)
tickets = table_of(Ticket)
counters = table_of(TicketCounter)
products = table_of(Product)


@dataclass(slots=True)
class ConversationRow:
    """A conversation with what the flows need of its customer and channel identity."""

    id: int
    state: str
    slots: dict[str, Any]
    mode: str
    ticket_id: int | None
    customer_id: int
    identity_id: int
    identity_unreachable: bool
    locale: str
    locale_chosen: bool
    timezone: str | None
    phone: str | None
    display_name: str | None
    timezone_hint: str | None = None
    external_id: str = ""  # the channel's id of the person ("erased:N" once their data was erased)
    language_streak: str | None = None
    language_offered: str | None = None


class Statements:
    """Every hot-path statement, compiled once and cached by SQLAlchemy thereafter."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.receipt = insert_ignore(dialect, receipts).returning(receipts.c.channel, receipts.c.external_id)
        self.find_identity = (
            select(identities.c.customer_id, conversations.c.id)
            .join(conversations, conversations.c.identity_id == identities.c.id)
            .where(identities.c.channel == bindparam("channel"), identities.c.external_id == bindparam("external_id"))
        )
        load = (
            select(
                conversations.c.id, conversations.c.state, conversations.c.slots, conversations.c.mode,
                conversations.c.ticket_id, conversations.c.customer_id, conversations.c.identity_id,
                identities.c.unreachable_at, identities.c.external_id, customers.c.locale, customers.c.locale_chosen,
                customers.c.timezone, customers.c.phone, customers.c.display_name, customers.c.timezone_hint,
                customers.c.language_streak, customers.c.language_offered,
            )
            .join(customers, customers.c.id == conversations.c.customer_id)
            .join(identities, identities.c.id == conversations.c.identity_id)
            .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(conversations.c.id)
        )
        # PostgreSQL: lock the batch's conversations (in id order: no deadlocks).
        # SQLite: BEGIN IMMEDIATE already holds the database's write lock.
        self.load = load.with_for_update(of=conversations) if dialect == "postgresql" else load
        self.save = (
            update(conversations)
            .where(conversations.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"), slots=bindparam("b_slots"), mode=bindparam("b_mode"),
                ticket_id=bindparam("b_ticket_id"), version=conversations.c.version + 1,
                updated_at=bindparam("b_now"),
            )
        )
        # First contacts of a batch, many at once (find_or_create_identities).
        self.new_customers = insert(customers).returning(customers.c.id, sort_by_parameter_order=True)
        self.new_identities = insert_ignore(dialect, identities).returning(
            identities.c.id, identities.c.channel, identities.c.external_id)
        self.new_conversations = insert(conversations).returning(conversations.c.id, sort_by_parameter_order=True)
        self.reachable = update(identities).where(identities.c.id == bindparam("b_id")).values(unreachable_at=None)
        self.messages = insert(messages)
        self.outbox = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)
        self.outbox_row = insert(outbox).returning(outbox.c.id)  # one row (an action's or a job's reply)
        self.counter_init = insert_ignore(dialect, counters)
        self.counter_next = (
            update(counters)
            .where(counters.c.prefix == bindparam("b_prefix"), counters.c.year == bindparam("b_year"))
            .values(value=counters.c.value + 1)
            .returning(counters.c.value)
        )


async def accept_receipts(conn: StoreConnection, st: Statements, keys: list[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
    """Record deliveries; returns the keys not seen before (the others are duplicates)."""
    if not keys:
        return set()
    rows = [{"channel": c, "external_id": e, "received_at": now} for c, e in sorted(keys)]
    result = await conn.execute(st.receipt, rows)
    return {(row[0], row[1]) for row in result}


async def find_or_create_identity(
    conn: StoreConnection, st: Statements, *, channel: str, external_id: str, chat_id: str,
    locale: str, display_name: str | None, now: datetime,
) -> tuple[int, int]:
    """(customer_id, conversation_id) of a channel identity, created on first contact."""
    key = {"channel": channel, "external_id": external_id}
    found = (await conn.execute(st.find_identity, key)).first()
    if found:
        return found[0], found[1]
    customer_id = await conn.scalar(
        insert(customers).values(display_name=display_name, locale=locale, locale_chosen=False, created_at=now)
        .returning(customers.c.id)
    )
    identity_id = await conn.scalar(
        insert_ignore(st.dialect, identities)
        .values(customer_id=customer_id, chat_id=chat_id, created_at=now, **key)
        .returning(identities.c.id)
    )
    if identity_id is None:  # another process created it first (PostgreSQL only)
        await conn.execute(customers.delete().where(customers.c.id == customer_id))
        found = (await conn.execute(st.find_identity, key)).one()
        return found[0], found[1]
    conversation_id = await conn.scalar(
        insert(conversations)
        .values(customer_id=customer_id, identity_id=identity_id, state="", slots={}, mode="bot", version=0, updated_at=now)
        .returning(conversations.c.id)
    )
    return customer_id, conversation_id


@dataclass(frozen=True, slots=True)
class NewIdentity:
    """A channel identity a batch needs (created on first contact)."""

    channel: str
    external_id: str
    chat_id: str
    locale: str
    display_name: str | None


async def find_or_create_identities(
    conn: StoreConnection, st: Statements, wanted: list[NewIdentity], now: datetime,
) -> dict[tuple[str, str], tuple[int, int]]:
    """`find_or_create_identity` for a whole batch: the new ones with three statements (each
    with many parameter sets) instead of three a customer: a burst of first contacts (a
    campaign, a QR code on a poster) holds the store for less time."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    missing = []
    for want in wanted:
        row = (await conn.execute(st.find_identity, {"channel": want.channel, "external_id": want.external_id})).first()
        if row:
            found[(want.channel, want.external_id)] = (row[0], row[1])
        else:
            missing.append(want)
    if len(missing) < 2:
        for want in missing:
            found[(want.channel, want.external_id)] = await find_or_create_identity(
                conn, st, channel=want.channel, external_id=want.external_id, chat_id=want.chat_id,
                locale=want.locale, display_name=want.display_name, now=now)
        return found
    customer_ids = [row[0] for row in await conn.execute(st.new_customers, [
        {"display_name": w.display_name, "locale": w.locale, "locale_chosen": False, "created_at": now} for w in missing
    ])]
    created = {(row[1], row[2]): row[0] for row in await conn.execute(st.new_identities, [
        {"customer_id": c, "chat_id": w.chat_id, "created_at": now, "channel": w.channel, "external_id": w.external_id}
        for w, c in zip(missing, customer_ids, strict=True)
    ])}
    fresh = [(w, c, created[(w.channel, w.external_id)]) for w, c in zip(missing, customer_ids, strict=True)
             if (w.channel, w.external_id) in created]
    for want, customer_id in zip(missing, customer_ids, strict=True):
        if (want.channel, want.external_id) not in created:  # another process created it first (PostgreSQL only)
            await conn.execute(customers.delete().where(customers.c.id == customer_id))
            row = (await conn.execute(st.find_identity, {"channel": want.channel, "external_id": want.external_id})).one()
            found[(want.channel, want.external_id)] = (row[0], row[1])
    if fresh:
        conversation_ids = [row[0] for row in await conn.execute(st.new_conversations, [
            {"customer_id": c, "identity_id": i, "state": "", "slots": {}, "mode": "bot", "version": 0, "updated_at": now}
            for _w, c, i in fresh
        ])]
        for (want, customer_id, _i), conversation_id in zip(fresh, conversation_ids, strict=True):
            found[(want.channel, want.external_id)] = (customer_id, conversation_id)
    return found


async def load_conversations(conn: StoreConnection, st: Statements, ids: list[int]) -> dict[int, ConversationRow]:
    result = await conn.execute(st.load, {"ids": sorted(set(ids))})
    loaded = {}
    for r in result:
        loaded[r.id] = ConversationRow(
            id=r.id, state=r.state, slots=r.slots or {}, mode=r.mode, ticket_id=r.ticket_id,
            customer_id=r.customer_id, identity_id=r.identity_id,
            identity_unreachable=r.unreachable_at is not None, locale=r.locale,
            locale_chosen=r.locale_chosen, timezone=r.timezone, phone=r.phone, display_name=r.display_name,
            timezone_hint=r.timezone_hint, external_id=r.external_id, language_streak=r.language_streak,
            language_offered=r.language_offered,
        )
    return loaded


_PRODUCT_COLUMNS = (
    products.c.id, products.c.serial, products.c.product_line, products.c.model,
    products.c.invoice_date, products.c.manufactured, products.c.acceptance_date,
)
_TICKET_COLUMNS = (
    tickets.c.id, tickets.c.number, tickets.c.kind, tickets.c.status, tickets.c.created_at,
    tickets.c.updated_at, tickets.c.product_line, tickets.c.model, tickets.c.visit_date, tickets.c.visit_window,
)


def _ticket(row: Any) -> TicketInfo:
    return TicketInfo(**row._mapping)


class ConversationStore:
    """The `TurnStore` of one conversation inside the batch's transaction."""

    def __init__(self, conn: StoreConnection, st: Statements, row: ConversationRow, channel: str, now: datetime, year: int) -> None:
        self._conn, self._st, self._row, self._channel, self._now, self._year = conn, st, row, channel, now, year

    async def _next_number(self, kind: str) -> str:
        key = {"b_prefix": PREFIX[kind], "b_year": self._year}
        value = await self._conn.scalar(self._st.counter_next, key)
        if value is None:  # the first ticket of this kind this year
            await self._conn.execute(self._st.counter_init.values(prefix=PREFIX[kind], year=self._year, value=0))
            value = await self._conn.scalar(self._st.counter_next, key)
        return format_number(kind, self._year, value)

    async def open_ticket(self, kind: str, status: str, **fields: Any) -> TicketInfo:
        number = await self._next_number(kind)
        values = {
            "number": number, "kind": kind, "status": status, "customer_id": self._row.customer_id,
            "conversation_id": self._row.id, "channel": self._channel, "locale": self._row.locale,
            "created_at": self._now, "updated_at": self._now, "details": {}, **fields,
        }
        row = (await self._conn.execute(insert(tickets).values(values).returning(*_TICKET_COLUMNS))).one()
        return _ticket(row)

    async def customer_tickets(self, limit: int) -> list[TicketInfo]:
        mine = tickets.c.customer_id == self._row.customer_id
        newest = (tickets.c.created_at.desc(), tickets.c.id.desc())
        closed = select(tickets.c.id).where(mine, tickets.c.status.not_in(OPEN_STATUSES)).order_by(*newest).limit(limit)
        query = (
            select(*_TICKET_COLUMNS)
            .where(mine, or_(tickets.c.status.in_(OPEN_STATUSES), tickets.c.id.in_(closed.scalar_subquery())))
            .order_by(*newest)
        )
        return [_ticket(row) for row in await self._conn.execute(query)]

    async def own_ticket(self, number: str) -> TicketInfo | None:
        query = select(*_TICKET_COLUMNS).where(
            tickets.c.number == number.upper(), tickets.c.customer_id == self._row.customer_id
        )
        row = (await self._conn.execute(query)).first()
        return _ticket(row) if row else None

    async def ticket_by_id(self, ticket_id: int) -> TicketInfo | None:
        query = select(*_TICKET_COLUMNS).where(tickets.c.id == ticket_id, tickets.c.customer_id == self._row.customer_id)
        row = (await self._conn.execute(query)).first()
        return _ticket(row) if row else None

    async def update_customer(self, **values: Any) -> None:
        await self._conn.execute(update(customers).where(customers.c.id == self._row.customer_id).values(**values))
        for name, value in values.items():
            setattr(self._row, name, value)

    async def customer_products(self) -> list[ProductRecord]:
        query = select(*_PRODUCT_COLUMNS).where(products.c.customer_id == self._row.customer_id).order_by(products.c.id)
        return [ProductRecord(**row._mapping) for row in await self._conn.execute(query)]

    async def claim_product(self, serial: str) -> tuple[LinkResult, ProductRecord | None]:
        result = await link_product(self._conn, self._row.customer_id, serial)
        if result.product_id is None:
            return result, None
        row = (await self._conn.execute(select(*_PRODUCT_COLUMNS).where(products.c.id == result.product_id))).one()
        return result, ProductRecord(**row._mapping)

    async def registered_unit(self, serial: str) -> tuple[str, str | None] | None:
        query = select(products.c.product_line, products.c.model).where(products.c.serial == serial)
        row = (await self._conn.execute(query)).first()
        return (row.product_line, row.model) if row else None

    async def verified_phone(self) -> str | None:
        query = select(customers.c.verified_phone).where(customers.c.id == self._row.customer_id)
        phone: str | None = await self._conn.scalar(query)
        return phone

    async def verify_phone(self, phone: str) -> list[str]:
        serials = await verify_phone(self._conn, self._row.customer_id, phone)
        self._row.phone = phone
        return serials

    async def record_claim(
        self, product_id: int, ticket_id: int | None, phone: str | None = None, phone_matches: bool | None = None,
    ) -> int:
        return await record_claim(
            self._conn, product_id=product_id, customer_id=self._row.customer_id, ticket_id=ticket_id,
            phone=phone, phone_matches=phone_matches,
        )

    async def handoff(self, ticket_id: int, step: Step) -> Handoff | None:
        """Take a customer's step on their ticket (services.handoff); None if refused."""
        from storage.handoff import change_handoff, ticket_state

        ticket = await ticket_state(self._conn, ticket_id, self._row.id)
        if ticket is None:
            return None
        try:
            after = decide(ticket.handoff, step, CUSTOMER)
        except Refused:
            return None
        if after != ticket.handoff and not await change_handoff(self._conn, ticket_id, ticket.handoff, after, self._now):
            return None
        return after

    async def queue_position(self, ticket_id: int) -> int:
        from storage.handoff import queue_position

        return await queue_position(self._conn, ticket_id)

    async def link_code(self) -> str:
        from storage.link_codes import issue

        return await issue(self._conn, self._row.customer_id, self._row.identity_id, self._now)

    async def redeem_link(self, code: str) -> Redemption:
        from storage.link_codes import Redeemed, redeem

        result = await redeem(self._conn, code, self._row.customer_id, self._row.identity_id, self._now)
        if result.outcome is Redeemed.JOINED and result.other_customer_id is not None:
            self._row.customer_id = result.other_customer_id  # this turn goes on in the joined file
        return result

    async def tell(self, identity_id: int, payload: dict[str, Any]) -> None:
        """A reply (`Reply.to_payload()`) to another chat of the customer, in this transaction:
        its outbox row and its transcript line."""
        text = payload["text"]
        where = (await self._conn.execute(
            select(identities.c.channel, identities.c.chat_id, conversations.c.id)
            .join(conversations, conversations.c.identity_id == identities.c.id).where(identities.c.id == identity_id)
        )).one()
        outbox_id = await self._conn.scalar(insert(outbox).values(
            channel=where.channel, chat_id=where.chat_id, conversation_id=where.id, payload=payload, status="pending",
            attempts=0, next_attempt_at=self._now, created_at=self._now,
        ).returning(outbox.c.id))
        await self._conn.execute(insert(messages).values(
            conversation_id=where.id, direction="out", author="bot", channel=where.channel, text=text, attachments=[],
            created_at=self._now, outbox_id=outbox_id,
        ))

    async def other_file_with_phone(self, phone: str) -> int | None:
        query = select(customers.c.id).where(
            customers.c.verified_phone == phone, customers.c.id != self._row.customer_id,
            customers.c.merged_into.is_(None), customers.c.erased_at.is_(None),
        ).order_by(customers.c.id).limit(1)
        found: int | None = await self._conn.scalar(query)
        return found

    async def join_by_phone(self, other_id: int) -> bool:
        from storage.customer_files import JoinOutcome, join

        mine = await self.verified_phone()
        if mine is None or await self.other_file_with_phone(mine) != other_id:  # a button's data may be forged
            return False
        keep, merge = sorted((self._row.customer_id, other_id))  # the older file stays
        joined = await join(self._conn, keep, merge, self._now, by="the customer, by a proven phone",
                            reason="both files hold the same proven phone; the customer confirmed")
        if joined is JoinOutcome.JOINED:
            self._row.customer_id = keep
        return joined is JoinOutcome.JOINED

    async def export_data(self) -> dict[str, Any] | None:
        from storage.customer_files import export

        return await export(self._conn, self._row.customer_id)

    async def erase_file(self) -> None:
        from storage.customer_files import erase

        await erase(self._conn, self._row.customer_id, self._now, by="the customer, in the chat")
        self._row.phone = self._row.display_name = self._row.timezone_hint = None

    def visits(self) -> VisitBook:
        return VisitBook(self._conn, self._row.customer_id, self._row.id, self._now)

    @property
    def surveys(self) -> TurnSurveys:
        from storage.surveys import TurnSurveys  # storage.surveys reads this module's tables

        return TurnSurveys(self._conn, self._row.customer_id, self._now, self._row.id)

    async def product_downtime(self, product_id: int) -> list[DowntimeRecord]:
        query = select(tickets.c.out_of_use_from, tickets.c.working_again_on, tickets.c.own_fault).where(
            tickets.c.product_id == product_id, tickets.c.out_of_use_from.is_not(None)
        )
        return [DowntimeRecord(start, end, own is not False) for start, end, own in await self._conn.execute(query)]
