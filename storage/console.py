"""What the agents' console reads: the queue, a conversation's transcript with
delivery status, and the supervisor's figures (plain records out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from services.handoff import OPEN_STATUSES, Role, TicketStatus
from services.permissions import may_open
from storage.agents import agents
from storage.db import Store
from storage.products import Claim, customer_pending_claims
from storage.turns import conversations, customers, identities, messages, outbox, tickets

WAITING = (TicketStatus.QUEUED.value, TicketStatus.ASSIGNED.value)


@dataclass(frozen=True, slots=True)
class QueueItem:
    conversation_id: int
    ticket_id: int
    number: str
    kind: str
    status: str
    channel: str
    locale: str
    product_line: str | None
    customer: str | None
    owner_id: int | None
    owner: str | None
    waiting_since: datetime
    first_response_due: datetime | None
    last_message: str | None


@dataclass(frozen=True, slots=True)
class QueueFilter:
    scope: str = "all"  # mine | unassigned | all
    locales: tuple[str, ...] = ()  # empty: every language
    agent_id: int | None = None  # for "mine"
    visible_to: int | None = None  # an `agent`'s queue: waiting ones and their own only


def _queue_query(f: QueueFilter, limit: int) -> Select[Any]:
    # The page's tickets first (index ix_tickets_status_updated), then their details: the
    # last message is looked up for those rows only, not for every open ticket.
    if f.scope == "mine":
        chosen = select(tickets.c.id).where(tickets.c.status == TicketStatus.ASSIGNED.value, tickets.c.assigned_agent_id == f.agent_id)
    elif f.scope == "unassigned":
        chosen = select(tickets.c.id).where(tickets.c.status == TicketStatus.QUEUED.value)
    else:
        chosen = select(tickets.c.id).where(tickets.c.status.in_(WAITING))
    if f.locales:
        chosen = chosen.where(tickets.c.locale.in_(f.locales))
    if f.visible_to is not None:
        chosen = chosen.where(or_(tickets.c.status == TicketStatus.QUEUED.value, tickets.c.assigned_agent_id == f.visible_to))
    page = chosen.order_by(tickets.c.updated_at, tickets.c.id).limit(limit).subquery()
    last = (
        select(messages.c.text).where(messages.c.conversation_id == conversations.c.id, messages.c.internal.is_(False))
        .order_by(messages.c.id.desc()).limit(1).correlate(conversations).scalar_subquery()
    )
    return (
        select(
            conversations.c.id.label("conversation_id"), tickets.c.id.label("ticket_id"), tickets.c.number, tickets.c.kind,
            tickets.c.status, identities.c.channel, tickets.c.locale, tickets.c.product_line,
            customers.c.display_name.label("customer"), tickets.c.assigned_agent_id.label("owner_id"),
            agents.c.name.label("owner"), tickets.c.updated_at.label("waiting_since"), tickets.c.first_response_due,
            last.label("last_message"),
        )
        .select_from(page)
        .join(tickets, tickets.c.id == page.c.id)
        .join(conversations, (conversations.c.id == tickets.c.conversation_id) & (conversations.c.ticket_id == tickets.c.id))
        .join(identities, identities.c.id == conversations.c.identity_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .outerjoin(agents, agents.c.id == tickets.c.assigned_agent_id)
        .order_by(tickets.c.updated_at, tickets.c.id)
    )


async def queue(engine: Store, f: QueueFilter, limit: int = 50) -> list[QueueItem]:
    """The conversations waiting for or talking with a person, longest waiting first."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_queue_query(f, limit))).all()
    return [QueueItem(**row._mapping) for row in rows]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a transcript, with the delivery status of what we sent."""

    id: int
    author: str  # customer | bot | agent | system
    agent: str | None
    internal: bool
    text: str
    attachments: list[dict[str, Any]]
    created_at: datetime
    ticket_id: int | None
    delivery: str | None  # pending | sending | sent | failed | uncertain (outbox status)
    error: str | None
    sent_as: str | None = None  # the channel's id of what was sent (WeChat: "template:..." beyond the window)


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    id: int
    customer_id: int
    customer: str | None
    locale: str
    channel: str
    unreachable: bool
    mode: str
    ticket_id: int | None
    ticket_number: str | None
    ticket_status: str | None
    owner_id: int | None
    owner: str | None
    product_line: str | None


async def conversation(engine: Store, conversation_id: int) -> ConversationInfo | None:
    query = (
        select(
            conversations.c.id, conversations.c.customer_id, customers.c.display_name.label("customer"), customers.c.locale,
            identities.c.channel, identities.c.unreachable_at, conversations.c.mode, conversations.c.ticket_id,
            tickets.c.number.label("ticket_number"), tickets.c.status.label("ticket_status"),
            tickets.c.assigned_agent_id.label("owner_id"), agents.c.name.label("owner"), tickets.c.product_line,
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .join(identities, identities.c.id == conversations.c.identity_id)
        .outerjoin(tickets, tickets.c.id == conversations.c.ticket_id)
        .outerjoin(agents, agents.c.id == tickets.c.assigned_agent_id)
        .where(conversations.c.id == conversation_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    values["unreachable"] = values.pop("unreachable_at") is not None
    return ConversationInfo(**values)


async def transcript(engine: Store, conversation_id: int, limit: int = 500) -> list[Line]:
    """The latest lines of a conversation, oldest first: customer, bot, agents, notes, notices."""
    query = (
        select(
            messages.c.id, messages.c.author, agents.c.name.label("agent"), messages.c.internal, messages.c.text,
            messages.c.attachments, messages.c.created_at, messages.c.ticket_id,
            outbox.c.status.label("delivery"), outbox.c.error, outbox.c.channel_message_id.label("sent_as"),
        )
        .outerjoin(agents, agents.c.id == messages.c.agent_id)
        .outerjoin(outbox, outbox.c.id == messages.c.outbox_id)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.id.desc()).limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Line(**row._mapping) for row in reversed(rows)]


async def handled_by(engine: Store, conversation_id: int, agent_id: int) -> bool:
    """Whether a closed-off ticket of the conversation was last held by this agent (they may reopen it)."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(tickets.c.id).where(
            tickets.c.conversation_id == conversation_id, tickets.c.assigned_agent_id == agent_id,
            tickets.c.status.in_((TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value))).limit(1))
    return found is not None


async def may_open_conversation(engine: Store, info: ConversationInfo, agent_id: int, role: Role) -> bool:
    """Whether this agent's role lets them see and act on the conversation (services/permissions.py)."""
    status = TicketStatus(info.ticket_status) if info.ticket_status else None
    handled = (role is Role.AGENT and status not in (TicketStatus.QUEUED, TicketStatus.ASSIGNED)
               and await handled_by(engine, info.id, agent_id))
    return may_open(role, agent_id, status, info.owner_id, handled)


async def conversation_of_message(engine: Store, message_id: int) -> int | None:
    async with engine.connect() as conn:
        found = await conn.scalar(select(messages.c.conversation_id).where(messages.c.id == message_id))
    return int(found) if found is not None else None


async def tickets_of_conversation(engine: Store, conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's tickets a person may reopen or has handled, newest first."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(tickets.c.id, tickets.c.number, tickets.c.kind, tickets.c.status, tickets.c.resolution)
            .where(tickets.c.conversation_id == conversation_id).order_by(tickets.c.id.desc()).limit(20)
        )).all()
    return [dict(row._mapping) for row in rows]


@dataclass(frozen=True, slots=True)
class Overview:
    waiting: int
    oldest_wait_since: datetime | None
    near_due: int  # waiting, first response due within the hour
    past_due: int  # waiting, first response overdue
    open_tickets: int


async def overview(engine: Store, now: datetime, near_seconds: float = 3600) -> Overview:
    from datetime import timedelta

    queued = tickets.c.status == TicketStatus.QUEUED.value
    unanswered = tickets.c.status.in_(WAITING) & tickets.c.first_response_at.is_(None)
    due = tickets.c.first_response_due
    async with engine.connect() as conn:
        waiting, oldest = (await conn.execute(select(func.count(), func.min(tickets.c.updated_at)).where(queued))).one()
        near = await conn.scalar(select(func.count()).where(unanswered, due >= now, due < now + timedelta(seconds=near_seconds)))
        past = await conn.scalar(select(func.count()).where(unanswered, due < now))
        total = await conn.scalar(select(func.count()).where(tickets.c.status.in_([s.value for s in OPEN_STATUSES])))
    return Overview(int(waiting), oldest, int(near or 0), int(past or 0), int(total or 0))


async def pending_ownership_claims(engine: Store, customer_id: int) -> list[Claim]:
    """A customer's unverified claims on units, for the conversation view to confirm or refuse."""
    return await customer_pending_claims(engine, customer_id)


async def attachments(engine: Store, message_id: int) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        files = await conn.scalar(select(messages.c.attachments).where(messages.c.id == message_id))
    return list(files or [])


async def record_breaches(engine: Store, now: datetime) -> list[tuple[int, int | None, str]]:
    """Mark every waiting ticket whose promised first response is overdue, once (a conditional
    UPDATE: with several workers only one records it); (ticket, conversation, number) of the new ones."""
    from sqlalchemy import update

    from storage.agents import audit

    overdue = (
        update(tickets)
        .where(tickets.c.status.in_(WAITING), tickets.c.first_response_at.is_(None),
               tickets.c.first_response_due < now, tickets.c.response_breached_at.is_(None))
        .values(response_breached_at=now)
        .returning(tickets.c.id, tickets.c.conversation_id, tickets.c.number)
    )
    async with engine.begin() as conn:
        found = [(row[0], row[1], row[2]) for row in await conn.execute(overdue)]
        for ticket_id, conversation_id, number in found:
            await conn.execute(audit.insert().values(
                agent_id=None, action="sla.breach", conversation_id=conversation_id, ticket_id=ticket_id,
                detail={"number": number, "what": "first_response"}, created_at=now,
            ))
    return found


async def unclaimed(engine: Store, waiting_since_before: datetime, limit: int = 200) -> list[tuple[int, int]]:
    """(conversation, ticket) of tickets queued since before the given time whose customer was not
    yet offered to leave a message (the audit trail holds the offers)."""
    from sqlalchemy import exists

    from storage.agents import audit

    offered = exists().where(audit.c.ticket_id == tickets.c.id, audit.c.action == "offer_message")
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(tickets.c.conversation_id, tickets.c.id)
            .where(tickets.c.status == TicketStatus.QUEUED.value, tickets.c.updated_at < waiting_since_before, ~offered)
            .order_by(tickets.c.updated_at).limit(limit)
        )).all()
    return [(int(row[0]), int(row[1])) for row in rows]


async def breaches(engine: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Open tickets whose first response was missed, latest first (the supervisor's list)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(tickets.c.number, tickets.c.conversation_id, tickets.c.first_response_due, tickets.c.response_breached_at)
            .where(tickets.c.response_breached_at.is_not(None), tickets.c.status.in_(WAITING))
            .order_by(tickets.c.response_breached_at.desc()).limit(limit)
        )).all()
    return [dict(row._mapping) for row in rows]
