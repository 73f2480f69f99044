"""Reading a conversation back: what a reconnecting web chat shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, String, bindparam, literal, null, select, tuple_, type_coerce, union_all, update

from storage.db import Store
from storage.turns import conversations, customers, identities, messages, outbox


class Cursor(NamedTuple):
    """Where a page of history ends: the oldest message shown (its time, direction, id)."""

    created_at: datetime
    direction: str
    id: int

    def encode(self) -> str:
        return f"{self.created_at.isoformat()}|{self.direction}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """ValueError unless `text` is what `encode` writes."""
        at, direction, row_id = text.split("|")
        if direction not in ("in", "out"):
            raise ValueError("direction")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return cls(created_at, direction, int(row_id))


def _history_query(before: bool = False) -> Select[Any]:
    """The latest messages of a chat: built once (building it costs more than running it)."""
    channel, chat_id = bindparam("channel", type_=String()), bindparam("chat_id", type_=String())
    conversation = (
        select(conversations.c.id)
        .join(identities, identities.c.id == conversations.c.identity_id)
        .where(identities.c.channel == channel, identities.c.chat_id == chat_id)
        .scalar_subquery()
    )
    # The payload column's type comes from the first SELECT: give its NULL the JSON type.
    # (the customer's side carries its attachments there: a photo they sent shows by name).
    attachments = type_coerce(messages.c.attachments, outbox.c.payload.type).label("payload")
    inbound = select(
        literal("in").label("direction"), messages.c.id, messages.c.created_at, messages.c.text,
        messages.c.channel_message_id.label("client_id"), attachments,
    ).where(messages.c.conversation_id == conversation, messages.c.direction == "in")
    outbound = select(
        literal("out").label("direction"), outbox.c.id, outbox.c.created_at, null().label("text"),
        null().label("client_id"), outbox.c.payload,
    ).where(outbox.c.channel == channel, outbox.c.chat_id == chat_id)
    both = union_all(inbound, outbound).subquery()
    query = select(both)
    if before:  # an earlier page: strictly older than the cursor, in the same order
        query = query.where(tuple_(both.c.created_at, both.c.direction, both.c.id) < tuple_(
            bindparam("at", type_=outbox.c.created_at.type), bindparam("direction", type_=String()), bindparam("row")))
    # Newest first for the limit, read back oldest first: a question before its answers.
    return query.order_by(both.c.created_at.desc(), both.c.direction.desc(), both.c.id.desc()).limit(bindparam("limit"))


_HISTORY = _history_query()
_EARLIER = _history_query(before=True)


async def history(
    engine: Store, channel: str, chat_id: str, limit: int = 60, before: Cursor | None = None,
) -> list[dict[str, Any]]:
    """The latest messages of a chat (older than `before` if given), oldest first: the
    customer's from the transcript, ours from the outbox (with their buttons and ids)."""
    values: dict[str, Any] = {"channel": channel, "chat_id": chat_id, "limit": limit}
    if before is not None:
        values |= {"at": before.created_at, "direction": before.direction, "row": before.id}
    async with engine.connect() as conn:
        rows = (await conn.execute(_EARLIER if before else _HISTORY, values)).all()
    return [dict(row._mapping) for row in reversed(rows)]


def cursor_of(item: dict[str, Any]) -> Cursor:
    """The cursor for the page before `item` (a row of `history`)."""
    return Cursor(item["created_at"], item["direction"], item["id"])


async def conversation_mode(engine: Store, channel: str, chat_id: str) -> str | None:
    """Who speaks for us in this chat's conversation (services.handoff.Mode), None before the first turn."""
    query = (
        select(conversations.c.mode)
        .join(identities, identities.c.id == conversations.c.identity_id)
        .where(identities.c.channel == channel, identities.c.chat_id == chat_id)
    )
    async with engine.connect() as conn:
        mode: str | None = await conn.scalar(query)
    return mode


async def web_chat_of(engine: Store, channel: str, conversation_id: int) -> str | None:
    """The chat id of a conversation on `channel`, or None if it is on another channel."""
    query = (
        select(identities.c.chat_id)
        .join(conversations, conversations.c.identity_id == identities.c.id)
        .where(conversations.c.id == conversation_id, identities.c.channel == channel)
    )
    async with engine.connect() as conn:
        chat_id: str | None = await conn.scalar(query)
    return chat_id


async def mark_seen(engine: Store, channel: str, chat_id: str, upto: int, now: datetime) -> int:
    """The customer's page showed our messages to this chat up to row `upto`; how many were new."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(outbox)
            .where(outbox.c.channel == channel, outbox.c.chat_id == chat_id, outbox.c.id <= upto, outbox.c.seen_at.is_(None))
            .values(seen_at=now)
        )
    return int(result.rowcount or 0)


async def save_reach(engine: Store, channel: str, external_id: str, *, phone: str | None = None,
                     email: str | None = None) -> bool:
    """Store how the customer wants to be reached (phone or e-mail); False if no such customer yet."""
    values = {"phone": phone} if phone else {"email": email}
    customer = select(identities.c.customer_id).where(identities.c.channel == channel, identities.c.external_id == external_id)
    async with engine.begin() as conn:
        result = await conn.execute(update(customers).where(customers.c.id.in_(customer)).values(**values))
    return bool(result.rowcount)


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
