"""Reading a conversation back: what a reconnecting web chat shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, bindparam, literal, null, select, type_coerce, union_all, update

from storage.db import Store
from storage.turns import conversations, customers, identities, messages, outbox


def _history_query() -> Select[Any]:
    """The latest messages of a chat: built once (building it costs more than running it)."""
    channel, chat_id = bindparam("channel", type_=String()), bindparam("chat_id", type_=String())
    conversation = (
        select(conversations.c.id)
        .join(identities, identities.c.id == conversations.c.identity_id)
        .where(identities.c.channel == channel, identities.c.chat_id == chat_id)
        .scalar_subquery()
    )
    # The payload column's type comes from the first SELECT: give its NULL the JSON type.
    no_payload = type_coerce(null(), outbox.c.payload.type).label("payload")
    inbound = select(
        literal("in").label("direction"), messages.c.id, messages.c.created_at, messages.c.text,
        messages.c.channel_message_id.label("client_id"), no_payload,
    ).where(messages.c.conversation_id == conversation, messages.c.direction == "in")
    outbound = select(
        literal("out").label("direction"), outbox.c.id, outbox.c.created_at, null().label("text"),
        null().label("client_id"), outbox.c.payload,
    ).where(outbox.c.channel == channel, outbox.c.chat_id == chat_id)
    both = union_all(inbound, outbound).subquery()
    # Newest first for the limit, read back oldest first: a question before its answers.
    return select(both).order_by(both.c.created_at.desc(), both.c.direction.desc(), both.c.id.desc()).limit(bindparam("limit"))


_HISTORY = _history_query()


async def history(engine: Store, channel: str, chat_id: str, limit: int = 60) -> list[dict[str, Any]]:
    """The latest messages of a chat, oldest first: the customer's from the
    transcript, ours from the outbox (with their buttons and ids)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_HISTORY, {"channel": channel, "chat_id": chat_id, "limit": limit})).all()
    return [dict(row._mapping) for row in reversed(rows)]


async def mark_delivered(engine: Store, channel: str, chat_id: str) -> None:
    """Replies still waiting for this chat were just shown with its history."""
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.channel == channel, outbox.c.chat_id == chat_id, outbox.c.status == "pending")
            .values(status="sent", error="delivered with the chat history")
        )


async def customer_locale(engine: Store, channel: str, external_id: str) -> str | None:
    query = (
        select(customers.c.locale)
        .join(identities, identities.c.customer_id == customers.c.id)
        .where(identities.c.channel == channel, identities.c.external_id == external_id)
    )
    async with engine.connect() as conn:
        locale: str | None = await conn.scalar(query)
    return locale


async def sent_text(engine: Store, channel: str, chat_id: str, row_id: int) -> str | None:
    """The text of our message `row_id` to this chat, as we sent it; None if it is not one."""
    query = select(outbox.c.payload).where(outbox.c.id == row_id, outbox.c.channel == channel, outbox.c.chat_id == chat_id)
    async with engine.connect() as conn:
        payload = await conn.scalar(query)
    return str(payload.get("text") or "") if isinstance(payload, dict) else None
