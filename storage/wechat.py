"""WeChat's access token in the store, so that the workers share one.

WeChat invalidates the old token when a new one is fetched: workers that each
fetched their own would knock each other's out. One worker at a time holds a
short lease on the token's row and fetches (with no transaction open); the
others wait for its token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
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
LEASE = timedelta(seconds=15)  # how long one worker may take to fetch a token before another tries

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # -> (token, seconds it lives)


async def shared_token(
    engine: Store, app_id: str, now: datetime, fetch: Fetch, refused: str | None = None,
) -> tuple[str, datetime]:
    """The valid token (and when to refresh it), fetched if the stored one is
    missing, near its expiry, or the one WeChat just refused (`refused`).

    One worker fetches: it takes a short lease on the row (a conditional UPDATE,
    committed at once), calls WeChat with no transaction open, and stores the
    token; the others wait for it. No store lock is held during the HTTP call
    (on SQLite that would stop every turn of the process meanwhile)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    loop = asyncio.get_running_loop()
    give_up = loop.time() + LEASE.total_seconds()
    stale = or_(tokens.c.token.is_(None), tokens.c.expires_at.is_(None), tokens.c.expires_at <= now + MARGIN)
    if refused:
        stale = or_(stale, tokens.c.token == refused)
    while True:
        async with engine.connect() as conn:
            row = (await conn.execute(select(tokens.c.token, tokens.c.expires_at).where(tokens.c.app_id == app_id))).first()
        if row and row.token and row.token != refused and row.expires_at and row.expires_at - MARGIN > now:
            return row.token, row.expires_at - MARGIN
        async with engine.begin() as conn:
            if row is None:
                await conn.execute(dialect.insert(tokens).values(app_id=app_id).on_conflict_do_nothing())
            leased = (await conn.execute(
                update(tokens)
                .where(tokens.c.app_id == app_id, stale,
                       or_(tokens.c.refreshing_until.is_(None), tokens.c.refreshing_until <= now))
                .values(refreshing_until=now + LEASE)
            )).rowcount
        if leased:
            break
        if loop.time() > give_up:
            raise TimeoutError("another worker is fetching WeChat's access token")
        await asyncio.sleep(0.05)  # another worker is fetching it
    try:
        token, lifetime = await fetch()
    except BaseException:
        async with engine.begin() as conn:
            await conn.execute(update(tokens).where(tokens.c.app_id == app_id).values(refreshing_until=None))
        raise
    expires = now + timedelta(seconds=lifetime)
    async with engine.begin() as conn:
        await conn.execute(update(tokens).where(tokens.c.app_id == app_id)
                           .values(token=token, expires_at=expires, refreshing_until=None))
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
