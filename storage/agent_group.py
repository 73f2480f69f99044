"""The agents' Telegram group (issue 14): topics, mapped messages, linked agents, link codes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from services.handoff import Role
from storage.db import Store, StoreConnection
from storage.models import Agent, GroupMessage, GroupTopic, TelegramLinkCode, table_of
from storage.turns import messages, outbox

agents = table_of(Agent)
topics = table_of(GroupTopic)
group_messages = table_of(GroupMessage)
link_codes = table_of(TelegramLinkCode)

LINK_CODE_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Topic:
    conversation_id: int
    thread_id: int | None
    ticket_id: int | None
    name: str
    closed: bool


@dataclass(frozen=True, slots=True)
class LinkedAgent:
    id: int
    name: str
    role: str
    locale: str
    active: bool


async def topic_of(engine: Store, conversation_id: int) -> Topic | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(topics.c.conversation_id, topics.c.thread_id, topics.c.ticket_id, topics.c.name,
                                         topics.c.closed).where(topics.c.conversation_id == conversation_id))).first()
    return Topic(*row) if row else None


async def conversation_of_thread(engine: Store, group_id: str, thread_id: int) -> int | None:
    async with engine.connect() as conn:
        found: int | None = await conn.scalar(
            select(topics.c.conversation_id).where(topics.c.group_id == group_id, topics.c.thread_id == thread_id))
        return found


async def save_topic(engine: Store, group_id: str, conversation_id: int, thread_id: int | None, ticket_id: int | None,
                     name: str, closed: bool, now: datetime) -> None:
    """Link (or re-link) the conversation to its topic; a thread id of a deleted topic is given up."""
    values = {"group_id": group_id, "thread_id": thread_id, "ticket_id": ticket_id, "name": name, "closed": closed,
              "updated_at": now}
    async with engine.begin() as conn:
        done = await conn.execute(update(topics).where(topics.c.conversation_id == conversation_id).values(values))
        if done.rowcount == 0:
            await conn.execute(insert(topics).values(conversation_id=conversation_id, **values))


async def set_closed(engine: Store, group_id: str, thread_id: int, closed: bool, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(topics).where(topics.c.group_id == group_id, topics.c.thread_id == thread_id)
                           .values(closed=closed, updated_at=now))


async def map_message(engine: Store, group_id: str, group_message_id: int, conversation_id: int, now: datetime, *,
                      message_id: int | None = None, customer_message_id: str | None = None) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(group_messages).values(
            group_id=group_id, group_message_id=group_message_id, conversation_id=conversation_id,
            message_id=message_id, customer_message_id=customer_message_id, created_at=now))


async def mapped(engine: Store, group_id: str, group_message_id: int) -> tuple[int, int | None, str | None] | None:
    """(conversation, transcript line, the customer's message id) of a group message."""
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(group_messages.c.conversation_id, group_messages.c.message_id, group_messages.c.customer_message_id)
            .where(group_messages.c.group_id == group_id, group_messages.c.group_message_id == group_message_id))).first()
    return (row[0], row[1], row[2]) if row else None


async def post_payload(engine: Store, row_id: int) -> dict[str, Any] | None:
    """The payload of one outbox row (a group post carries more than a Reply holds)."""
    async with engine.connect() as conn:
        payload: dict[str, Any] | None = await conn.scalar(select(outbox.c.payload).where(outbox.c.id == row_id))
        return payload


async def enqueue(engine: Store, channel: str, chat_id: str, conversation_id: int | None, payload: dict[str, Any],
                  now: datetime) -> int:
    """A post outside an action (an answer to a refused command): through the outbox, in line with the rest."""
    async with engine.begin() as conn:
        return await post(conn, channel, chat_id, conversation_id, payload, now)


async def post(conn: StoreConnection, channel: str, chat_id: str, conversation_id: int | None, payload: dict[str, Any],
               now: datetime) -> int:
    """`enqueue` in the caller's transaction (a job's: the weekly report)."""
    row_id: int = await conn.scalar(insert(outbox).values(
        channel=channel, chat_id=chat_id, conversation_id=conversation_id, payload=payload, status="pending",
        attempts=0, next_attempt_at=now, created_at=now).returning(outbox.c.id))
    return row_id


async def supervisors_locale(conn: StoreConnection) -> str:
    """The language most active supervisors and admins read the console in: the group's posts for them."""
    return await _most_read(conn, agents.c.role.in_((Role.SUPERVISOR, Role.ADMIN)))


async def group_locale(engine: Store) -> str:
    """The group's language, for posts that are no one agent's (a topic's first post, the claim
    button): the console language most agents linked to the group read."""
    async with engine.connect() as conn:
        return await _most_read(conn, agents.c.telegram_user_id.is_not(None))


async def _most_read(conn: StoreConnection, who: Any) -> str:
    """The console language most active agents of `who` use (English when there are none)."""
    rows = await conn.execute(
        select(agents.c.locale, func.count()).where(agents.c.active, who)
        .group_by(agents.c.locale).order_by(func.count().desc(), agents.c.locale).limit(1))
    first = rows.first()
    return str(first[0]) if first else "en"


# --- linking an agent's Telegram account ------------------------------------------------

def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def new_link_code(engine: Store, agent_id: int, now: datetime) -> str:
    """A one-time code (shown once in the console) that links whoever sends it to the bot to this agent."""
    code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
    async with engine.begin() as conn:
        await conn.execute(delete(link_codes).where(link_codes.c.agent_id == agent_id))
        await conn.execute(insert(link_codes).values(code_hash=_hash(code), agent_id=agent_id,
                                                     expires_at=now + LINK_CODE_LIFETIME))
    return code


async def is_link_code(engine: Store, code: str, now: datetime) -> bool:
    """Whether `code` is an agent's live link code (not yet used)."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(link_codes.c.agent_id).where(
            link_codes.c.code_hash == _hash(code), link_codes.c.expires_at > now))
    return found is not None


async def redeem_link_code(engine: Store, code: str, telegram_user_id: int, now: datetime) -> LinkedAgent | None:
    """Link the Telegram account to the code's agent (once: the code is used up); None for a wrong or old code."""
    async with engine.begin() as conn:
        agent_id = await conn.scalar(delete(link_codes).where(
            link_codes.c.code_hash == _hash(code), link_codes.c.expires_at > now).returning(link_codes.c.agent_id))
        if agent_id is None:
            return None
        # An account serves one agent: taken from an earlier link, if any.
        await conn.execute(update(agents).where(agents.c.telegram_user_id == telegram_user_id).values(telegram_user_id=None))
        await conn.execute(update(agents).where(agents.c.id == agent_id).values(telegram_user_id=telegram_user_id))
        return await _linked(conn, agents.c.id == agent_id)


async def agent_of_telegram(engine: Store, telegram_user_id: int) -> LinkedAgent | None:
    async with engine.connect() as conn:
        return await _linked(conn, agents.c.telegram_user_id == telegram_user_id)


async def _linked(conn: StoreConnection, where: Any) -> LinkedAgent | None:
    row = (await conn.execute(select(agents.c.id, agents.c.name, agents.c.role, agents.c.locale, agents.c.active)
                              .where(where))).first()
    return LinkedAgent(*row) if row else None


async def agent_by_login(engine: Store, login: str) -> int | None:
    async with engine.connect() as conn:
        found: int | None = await conn.scalar(select(agents.c.id).where(agents.c.login == login, agents.c.active.is_(True)))
        return found


@dataclass(frozen=True, slots=True)
class AgentLine:
    id: int
    agent_id: int | None
    channel_message_id: str | None  # the customer's copy, once delivered


async def agent_line(conn: StoreConnection, message_id: int, conversation_id: int) -> AgentLine | None:
    """An agent's reply in the transcript, with where it landed at the customer's side."""
    row = (await conn.execute(
        select(messages.c.id, messages.c.agent_id, outbox.c.channel_message_id)
        .outerjoin(outbox, outbox.c.id == messages.c.outbox_id)
        .where(messages.c.id == message_id, messages.c.conversation_id == conversation_id, messages.c.author == "agent",
               messages.c.internal.is_(False)))).first()
    return AgentLine(row[0], row[1], row[2]) if row else None


async def correct_line(conn: StoreConnection, message_id: int, text: str) -> None:
    await conn.execute(update(messages).where(messages.c.id == message_id).values(text=text))
