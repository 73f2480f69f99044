"""WeChat's access token in the store, so that the workers share one.

WeChat invalidates the old token when a new one is fetched: workers that each
fetched their own would knock each other's out. The fetch happens inside the
transaction that holds the token's row (PostgreSQL: FOR UPDATE; SQLite: the
write lock of BEGIN IMMEDIATE), so one worker fetches and the others then read
its token. That holds the lock for one HTTP call about every two hours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.wechat_window import Window, window
from storage.db import Store
from storage.models import ChannelIdentity, Conversation, Message, OutboxRow, WeChatToken, table_of

tokens = table_of(WeChatToken)
outbox = table_of(OutboxRow)
messages = table_of(Message)
conversations = table_of(Conversation)
identities = table_of(ChannelIdentity)
MARGIN = timedelta(minutes=5)  # refreshed this long before it expires

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # -> (token, seconds it lives)


async def shared_token(
    engine: Store, app_id: str, now: datetime, fetch: Fetch, refused: str | None = None,
) -> tuple[str, datetime]:
    """The valid token (and when to refresh it), fetched if the stored one is
    missing, near its expiry, or the one WeChat just refused (`refused`)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as conn:
        await conn.execute(dialect.insert(tokens).values(app_id=app_id).on_conflict_do_nothing())
        row = (await conn.execute(
            select(tokens.c.token, tokens.c.expires_at).where(tokens.c.app_id == app_id).with_for_update()
        )).one()
        if row.token and row.token != refused and row.expires_at and row.expires_at - MARGIN > now:
            return row.token, row.expires_at - MARGIN
        token, lifetime = await fetch()
        expires = now + timedelta(seconds=lifetime)
        await conn.execute(update(tokens).where(tokens.c.app_id == app_id).values(token=token, expires_at=expires))
    return token, expires - MARGIN


async def wake_waiting(engine: Store, channel: str, chat_id: str, now: datetime) -> int:
    """Make the chat's waiting replies due now (the customer wrote again)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(outbox)
            .where(
                outbox.c.channel == channel, outbox.c.status == "pending",
                outbox.c.chat_id == chat_id, outbox.c.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
    return int(result.rowcount)


async def window_of(engine: Store, conversation_id: int, now: datetime) -> Window:
    """The customer-service window of a WeChat conversation: after the customer's last message,
    how many customer-service messages went out since (passive replies and templates do not count)."""
    async with engine.connect() as conn:
        last = await conn.scalar(
            select(func.max(messages.c.created_at))
            .where(messages.c.conversation_id == conversation_id, messages.c.direction == "in")
        )
        sent = 0
        if last is not None:
            chat_id = select(identities.c.chat_id).join(conversations, conversations.c.identity_id == identities.c.id)
            sent = int(await conn.scalar(
                select(func.count()).select_from(outbox).where(
                    outbox.c.channel == "wechat", outbox.c.status == "sent",
                    outbox.c.chat_id == chat_id.where(conversations.c.id == conversation_id).scalar_subquery(),
                    outbox.c.sent_at >= last, outbox.c.channel_message_id.like("cs:%"),
                )
            ) or 0)
    return window(last, sent, now)
