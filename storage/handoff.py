"""The statements an agent's action needs, inside the core's transaction.

The claim (and every other handoff step) is one conditional UPDATE: it changes
the ticket only if it is still in the state the decision was taken on, so two
agents (in two processes) can never both own a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update

from services.handoff import Handoff, TicketStatus
from storage.db import StoreConnection
from storage.models import Agent, AuditEntry, table_of
from storage.turns import conversations, identities, messages, tickets

agents = table_of(Agent)
audit = table_of(AuditEntry)


@dataclass(frozen=True, slots=True)
class TicketState:
    id: int
    number: str
    kind: str
    handoff: Handoff
    first_response_at: datetime | None


@dataclass(frozen=True, slots=True)
class Address:
    """Where the customer of a conversation is reached."""

    channel: str
    chat_id: str


async def ticket_state(conn: StoreConnection, ticket_id: int, conversation_id: int) -> TicketState | None:
    row = (await conn.execute(
        select(tickets.c.id, tickets.c.number, tickets.c.kind, tickets.c.status, tickets.c.assigned_agent_id,
               tickets.c.first_response_at)
        .where(tickets.c.id == ticket_id, tickets.c.conversation_id == conversation_id)
    )).first()
    if row is None:
        return None
    return TicketState(row.id, row.number, row.kind, Handoff(TicketStatus(row.status), row.assigned_agent_id),
                       row.first_response_at)


async def change_handoff(
    conn: StoreConnection, ticket_id: int, before: Handoff, after: Handoff, now: datetime, **values: Any
) -> bool:
    """Apply `after` only if the ticket is still `before`; False: someone else changed it first."""
    owner = tickets.c.assigned_agent_id
    result = await conn.execute(
        update(tickets)
        .where(
            tickets.c.id == ticket_id, tickets.c.status == before.status.value,
            owner.is_(None) if before.agent_id is None else owner == before.agent_id,
        )
        .values(status=after.status.value, assigned_agent_id=after.agent_id, updated_at=now, **values)
    )
    return bool(result.rowcount == 1)


async def owner_of(conn: StoreConnection, ticket_id: int) -> int | None:
    value: int | None = await conn.scalar(select(tickets.c.assigned_agent_id).where(tickets.c.id == ticket_id))
    return value


# Built once: actions and jobs run these for every message they send.
_ADDRESS = select(identities.c.channel, identities.c.chat_id).where(identities.c.id == bindparam("b_id"))
_ADD_MESSAGE = insert(messages).returning(messages.c.id)
_RECORD = insert(audit)


async def address(conn: StoreConnection, identity_id: int) -> Address:
    row = (await conn.execute(_ADDRESS, {"b_id": identity_id})).one()
    return Address(row.channel, row.chat_id)


# The chat of the conversation the customer `b_customer` last wrote in.
_LATEST_CHAT = (
    select(identities.c.channel, identities.c.chat_id)
    .join(conversations, conversations.c.identity_id == identities.c.id)
    .where(conversations.c.id == (
        select(messages.c.conversation_id)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(conversations.c.customer_id == bindparam("b_customer"), messages.c.direction == "in")
        .order_by(messages.c.id.desc()).limit(1)
        .scalar_subquery()
    ))
)
_LINKED_CHAT = select(identities.c.channel, identities.c.chat_id).where(
    identities.c.id == bindparam("b_id"), identities.c.customer_id == bindparam("b_customer"))


async def reply_address(conn: StoreConnection, customer_id: int, identity_id: int, chosen: int | None = None) -> Address:
    """Where a person's message reaches the customer (issue 18): the linked chat an agent
    `chosen`, else the chat the customer last wrote from, else the conversation's own."""
    if chosen is not None:
        row = (await conn.execute(_LINKED_CHAT, {"b_id": chosen, "b_customer": customer_id})).first()
        if row is not None:
            return Address(row.channel, row.chat_id)
    row = (await conn.execute(_LATEST_CHAT, {"b_customer": customer_id})).first()
    return Address(row.channel, row.chat_id) if row else await address(conn, identity_id)


async def agent_name(conn: StoreConnection, agent_id: int | None) -> str | None:
    if agent_id is None:
        return None
    name: str | None = await conn.scalar(select(agents.c.name).where(agents.c.id == agent_id))
    return name


async def agent_is_active(conn: StoreConnection, agent_id: int) -> bool:
    return bool(await conn.scalar(select(agents.c.active).where(agents.c.id == agent_id)))


async def add_message(conn: StoreConnection, **values: Any) -> int:
    message_id: int = await conn.scalar(_ADD_MESSAGE, values)
    return message_id


async def record(conn: StoreConnection, agent_id: int | None, action: str, now: datetime, *,
                 conversation_id: int | None = None, ticket_id: int | None = None, **detail: Any) -> None:
    """One line of the audit trail."""
    await conn.execute(_RECORD, {
        "agent_id": agent_id, "action": action, "conversation_id": conversation_id, "ticket_id": ticket_id,
        "detail": detail, "created_at": now,
    })


async def offered_message(conn: StoreConnection, ticket_id: int) -> bool:
    """Whether the customer waiting on this ticket was already offered to leave a message."""
    found = await conn.scalar(select(audit.c.id).where(audit.c.ticket_id == ticket_id, audit.c.action == "offer_message").limit(1))
    return found is not None


async def queue_position(conn: StoreConnection, ticket_id: int) -> int:
    """1 for the ticket that has waited longest."""
    created = select(tickets.c.created_at).where(tickets.c.id == ticket_id).scalar_subquery()
    ahead = await conn.scalar(
        select(func.count()).select_from(tickets).where(
            tickets.c.status == TicketStatus.QUEUED.value,
            and_(tickets.c.created_at < created),
        )
    )
    return int(ahead or 0) + 1
