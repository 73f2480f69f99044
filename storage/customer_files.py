"""One customer, one file (domain.md §1, issue 18): joining two files, splitting a
wrongly joined channel off, exporting a file, and erasing a customer's personal data.

Everything here runs inside the caller's transaction: a join or an erasure happens
whole or not at all, and leaves a line in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update

from storage.db import Store, StoreConnection
from storage.handoff import record
from storage.models import Base, LinkCode, Survey, WebSession, table_of
from storage.products import claims
from storage.turns import conversations, customers, identities, messages, outbox, products, tickets

web_sessions = table_of(WebSession)
link_codes = table_of(LinkCode)
surveys = table_of(Survey)

# What a joined file brings along when the file it joins lacks it.
_CARRIED = ("display_name", "phone", "verified_phone", "email", "timezone", "timezone_hint")
# Survey answers an erasure keeps: ratings and yes/no (what the customer typed goes).
_CLOSED_ANSWERS = frozenset({"1", "2", "3", "4", "5", "yes", "no"})
ERASED = "erased"  # what an erased identity's ids become (with the identity's row id: still unique)


class JoinOutcome(StrEnum):
    JOINED = "joined"
    SAME_FILE = "same_file"
    PHONES_DIFFER = "phones_differ"  # both files hold a proven phone, different ones: a person decides
    UNKNOWN = "unknown"


def _referring(target: str) -> list[tuple[Table, str]]:
    """Every (table, column) with a foreign key to `target` ("customers.id"), the tables that
    later modules add included, so a join leaves nothing behind."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.target_fullname == target for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


async def _customer(conn: StoreConnection, customer_id: int) -> Any:
    return (await conn.execute(
        select(customers).where(customers.c.id == customer_id, customers.c.merged_into.is_(None), customers.c.erased_at.is_(None))
    )).first()


async def join(
    conn: StoreConnection, keep_id: int, merge_id: int, now: datetime, *,
    by: str, reason: str, agent_id: int | None = None, person_confirmed: bool = False,
) -> JoinOutcome:
    """Move everything of file `merge_id` (identities, conversations, tickets, products, claims,
    and whatever else refers to a customer) into file `keep_id`. Two different proven phones
    are never joined unless a person confirmed it (`person_confirmed`)."""
    if keep_id == merge_id:
        return JoinOutcome.SAME_FILE
    keep, merge = await _customer(conn, keep_id), await _customer(conn, merge_id)
    if keep is None or merge is None:
        return JoinOutcome.UNKNOWN
    if keep.verified_phone and merge.verified_phone and keep.verified_phone != merge.verified_phone and not person_confirmed:
        return JoinOutcome.PHONES_DIFFER
    for table, column in _referring("customers.id"):
        await conn.execute(update(table).where(table.c[column] == merge_id).values({column: keep_id}))
    carried = {name: merge._mapping[name] for name in _CARRIED if keep._mapping[name] is None and merge._mapping[name] is not None}
    if carried:
        await conn.execute(update(customers).where(customers.c.id == keep_id).values(carried))
    await conn.execute(update(customers).where(customers.c.id == merge_id).values(
        merged_into=keep_id, **{name: None for name in _CARRIED},
    ))
    await record(conn, agent_id, "join_files", now, kept=keep_id, merged=merge_id, by=by, reason=reason)
    return JoinOutcome.JOINED


async def split(conn: StoreConnection, identity_id: int, now: datetime, *, by: str, reason: str, agent_id: int | None = None) -> int | None:
    """Take one channel identity, its conversation and that conversation's tickets off their
    file into a new file of their own; the new file's id (None: unknown identity, or the file's only one)."""
    found = (await conn.execute(
        select(identities.c.customer_id, conversations.c.id.label("conversation_id"), customers.c.locale)
        .join(conversations, conversations.c.identity_id == identities.c.id)
        .join(customers, customers.c.id == identities.c.customer_id)
        .where(identities.c.id == identity_id)
    )).first()
    if found is None:
        return None
    others = await conn.scalar(select(func.count()).select_from(identities).where(
        identities.c.customer_id == found.customer_id, identities.c.id != identity_id))
    if not others:
        return None
    new_id: int = await conn.scalar(
        insert(customers).values(locale=found.locale, locale_chosen=False, created_at=now).returning(customers.c.id)
    )
    await conn.execute(update(identities).where(identities.c.id == identity_id).values(customer_id=new_id))
    await conn.execute(update(conversations).where(conversations.c.id == found.conversation_id).values(customer_id=new_id))
    moved = select(tickets.c.id).where(tickets.c.conversation_id == found.conversation_id).scalar_subquery()
    await conn.execute(update(tickets).where(tickets.c.id.in_(moved)).values(customer_id=new_id))
    await conn.execute(update(claims).where(claims.c.ticket_id.in_(moved)).values(customer_id=new_id))
    await record(conn, agent_id, "split_file", now, customer=found.customer_id, identity=identity_id,
                 new_customer=new_id, by=by, reason=reason)
    return new_id


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    channel: str
    wrote: bool  # the customer has written from it


async def customer_channels(engine: Store, customer_id: int) -> list[Identity]:
    """Every chat of the customer, the one they last wrote from first (the console's customer file)."""
    last_in = (
        select(func.max(messages.c.id)).where(messages.c.conversation_id == conversations.c.id, messages.c.direction == "in")
        .scalar_subquery()
    )
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(identities.c.id, identities.c.channel, last_in.label("last_in"))
            .join(conversations, conversations.c.identity_id == identities.c.id)
            .where(identities.c.customer_id == customer_id)
        )
        found = sorted(rows, key=lambda r: -(r.last_in or 0))
    return [Identity(r.id, r.channel, r.last_in is not None) for r in found]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value  # datetime is a date too


async def export(conn: StoreConnection, customer_id: int) -> dict[str, Any] | None:
    """Everything the file holds, as plain JSON data: the customer, their channels, products,
    tickets and every message of their conversations."""
    customer = (await conn.execute(
        select(customers.c.id, customers.c.display_name, customers.c.phone, customers.c.verified_phone,
               customers.c.email, customers.c.locale, customers.c.timezone, customers.c.created_at)
        .where(customers.c.id == customer_id)
    )).first()
    if customer is None:
        return None

    def rows(result: Any) -> list[dict[str, Any]]:
        return [{k: _plain(v) for k, v in r._mapping.items()} for r in result]

    mine = select(conversations.c.id).where(conversations.c.customer_id == customer_id).scalar_subquery()
    return {
        "customer": {k: _plain(v) for k, v in customer._mapping.items()},
        "channels": rows(await conn.execute(
            select(identities.c.channel, identities.c.created_at).where(identities.c.customer_id == customer_id)
            .order_by(identities.c.id))),
        "products": rows(await conn.execute(
            select(products.c.serial, products.c.product_line, products.c.model, products.c.invoice_date,
                   products.c.install_address).where(products.c.customer_id == customer_id).order_by(products.c.id))),
        "tickets": rows(await conn.execute(
            select(tickets.c.number, tickets.c.kind, tickets.c.status, tickets.c.product_line, tickets.c.model,
                   tickets.c.serial, tickets.c.description, tickets.c.address, tickets.c.phone, tickets.c.created_at,
                   tickets.c.resolution).where(tickets.c.customer_id == customer_id).order_by(tickets.c.id))),
        "messages": rows(await conn.execute(
            select(messages.c.created_at, messages.c.direction, messages.c.author, messages.c.channel, messages.c.text)
            .where(messages.c.conversation_id.in_(mine), messages.c.internal.is_(False)).order_by(messages.c.id))),
    }


async def erase(conn: StoreConnection, customer_id: int, now: datetime, *, by: str, agent_id: int | None = None) -> list[str] | None:
    """Erase the customer's personal data (names, phones, addresses, message texts, files),
    keeping what the company must keep of their tickets (product, dates, fault category,
    ratings). Returns the `media:` references of their files for the caller to delete
    (None: no such file)."""
    if (await conn.execute(select(customers.c.id).where(customers.c.id == customer_id))).first() is None:
        return None
    mine = select(conversations.c.id).where(conversations.c.customer_id == customer_id).scalar_subquery()
    files = [
        item["ref"] for (attachments,) in await conn.execute(
            select(messages.c.attachments).where(messages.c.conversation_id.in_(mine)))
        for item in attachments or [] if isinstance(item, dict) and str(item.get("ref", "")).startswith("media:")
    ]
    await conn.execute(update(customers).where(customers.c.id == customer_id).values(
        display_name=None, phone=None, verified_phone=None, email=None, timezone_hint=None, erased_at=now))
    visitors = select(identities.c.external_id).where(identities.c.customer_id == customer_id, identities.c.channel == "web")
    await conn.execute(delete(web_sessions).where(web_sessions.c.visitor.in_(visitors.scalar_subquery())))
    ids = [r.id for r in await conn.execute(select(identities.c.id).where(identities.c.customer_id == customer_id))]
    for identity_id in ids:  # the channel's ids name the person; the row stays for the statistics
        marker = f"{ERASED}:{identity_id}"
        await conn.execute(update(identities).where(identities.c.id == identity_id).values(external_id=marker, chat_id=marker))
        chat = select(conversations.c.id).where(conversations.c.identity_id == identity_id).scalar_subquery()
        await conn.execute(update(outbox).where(outbox.c.conversation_id == chat).values(chat_id=marker))
    await conn.execute(update(conversations).where(conversations.c.customer_id == customer_id).values(state="", slots={}))
    await conn.execute(update(messages).where(messages.c.conversation_id.in_(mine)).values(text="", attachments=[]))
    # Rows stay (their ids must never be reused), emptied; what was still to be sent is not sent.
    await conn.execute(update(outbox).where(outbox.c.conversation_id.in_(mine)).values(payload={"text": ""}))
    await conn.execute(update(outbox).where(outbox.c.conversation_id.in_(mine), outbox.c.status == "pending")
                       .values(status="failed", error="erased"))
    await conn.execute(update(tickets).where(tickets.c.customer_id == customer_id).values(
        description=None, address=None, latitude=None, longitude=None, phone=None, details={}))
    await conn.execute(update(products).where(products.c.customer_id == customer_id).values(
        customer_phone=None, install_address=None, latitude=None, longitude=None))
    await conn.execute(update(claims).where(claims.c.customer_id == customer_id).values(phone=None))
    await conn.execute(delete(link_codes).where(link_codes.c.customer_id == customer_id))
    for survey_id, answers in (await conn.execute(
        select(surveys.c.id, surveys.c.answers).where(surveys.c.customer_id == customer_id))).all():
        kept = {question: answer for question, answer in (answers or {}).items() if str(answer) in _CLOSED_ANSWERS}
        if kept != answers:
            await conn.execute(update(surveys).where(surveys.c.id == survey_id).values(answers=kept))
    await record(conn, agent_id, "erase_file", now, customer=customer_id, by=by, files=len(files))
    return files
