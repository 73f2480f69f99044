"""Reading a conversation back: what a reconnecting web chat shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, null, select, type_coerce, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.turns import conversations, customers, identities, messages, outbox


async def history(engine: AsyncEngine, channel: str, chat_id: str, limit: int = 60) -> list[dict[str, Any]]:
    """The latest messages of a chat, oldest first: the customer's from the
    transcript, ours from the outbox (with their buttons and ids)."""
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
    query = select(both).order_by(both.c.created_at.desc(), both.c.direction.desc(), both.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [dict(row._mapping) for row in reversed(rows)]


async def mark_delivered(engine: AsyncEngine, channel: str, chat_id: str) -> None:
    """Replies still waiting for this chat were just shown with its history."""
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.channel == channel, outbox.c.chat_id == chat_id, outbox.c.status == "pending")
            .values(status="sent", error="delivered with the chat history")
        )


async def customer_locale(engine: AsyncEngine, channel: str, external_id: str) -> str | None:
    query = (
        select(customers.c.locale)
        .join(identities, identities.c.customer_id == customers.c.id)
        .where(identities.c.channel == channel, identities.c.external_id == external_id)
    )
    async with engine.connect() as conn:
        return await conn.scalar(query)


async def sent_text(engine: AsyncEngine, channel: str, chat_id: str, row_id: int) -> str | None:
    """The text of our message `row_id` to this chat, as we sent it; None if it is not one."""
    query = select(outbox.c.payload).where(outbox.c.id == row_id, outbox.c.channel == channel, outbox.c.chat_id == chat_id)
    async with engine.connect() as conn:
        payload = await conn.scalar(query)
    return str(payload.get("text") or "") if isinstance(payload, dict) else None
