"""Web-chat visitor identities, issued and stored by the server (issue 9.2).

The cookie carries a random 192-bit token; the store keeps its SHA-256, the visitor
it stands for and when it expires. A value the server never issued names nobody.
Rotation gives the same visitor a new token and ends the old one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select

from storage.db import Store
from storage.models import WebSession, table_of

sessions = table_of(WebSession)

TOKEN_BYTES = 24  # 192 bits


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _well_formed(token: str | None) -> bool:
    return bool(token) and len(token or "") <= 64 and (token or "").replace("-", "").replace("_", "").isalnum()


@dataclass(frozen=True, slots=True)
class Session:
    visitor: str
    issued_at: datetime
    expires_at: datetime


async def find(engine: Store, token: str | None, now: datetime) -> Session | None:
    """The live session of a cookie value; None for an unknown, expired or malformed one."""
    if not _well_formed(token):
        return None
    query = select(sessions.c.visitor, sessions.c.issued_at, sessions.c.expires_at).where(
        sessions.c.token_hash == _hash(token or ""), sessions.c.expires_at > now
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return Session(row.visitor, row.issued_at, row.expires_at) if row else None


async def issue(
    engine: Store, now: datetime, lifetime: timedelta, visitor: str | None = None, replaces: str | None = None,
) -> tuple[str, Session]:
    """A new token for `visitor` (a new visitor if None), ending the token `replaces`."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    visitor = visitor or secrets.token_urlsafe(TOKEN_BYTES)
    session = Session(visitor, now, now + lifetime)
    async with engine.begin() as conn:
        if replaces:
            await conn.execute(delete(sessions).where(sessions.c.token_hash == _hash(replaces)))
        await conn.execute(delete(sessions).where(sessions.c.expires_at <= now))  # indexed; keeps the table small
        await conn.execute(insert(sessions).values(
            token_hash=_hash(token), visitor=visitor, issued_at=now, expires_at=session.expires_at,
        ))
    return token, session


async def forget(engine: Store, visitor: str) -> None:
    """End every session of the visitor ("forget this device")."""
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.visitor == visitor))
