"""Agents' log-in: argon2 passwords, server-side sessions, CSRF tokens, slowed failures.

The session cookie carries a random token; the store keeps only its SHA-256, the
expiry and the revocation (log-out, a disabled agent, a new password). Each session
has its own CSRF token, which every state-changing request must echo (form field
`csrf` or header `X-CSRF-Token`). After `FREE_FAILURES` wrong passwords in a row an
account is locked for a time that doubles with each further failure (up to
`MAX_LOCK`), so guessing is slowed without locking anyone out for long.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage import agents as store
from storage.agents import AgentInfo
from storage.db import Store

HASHER = PasswordHasher()
FREE_FAILURES = 3
MAX_LOCK = timedelta(minutes=5)
MIN_PASSWORD = 10


@cache
def _dummy() -> str:
    """Verified against when the login is unknown, so both cases cost the same time."""
    return HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lock_after(failures: int, now: datetime) -> datetime | None:
    """Locked until when, after `failures` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return None
    return now + min(timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)), MAX_LOCK)


class LoginRefused(StrEnum):
    WRONG = "wrong"  # unknown login or wrong password (not told apart)
    LOCKED = "locked"  # too many failures: try again later


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str


async def log_in(engine: Store, login: str, password: str, now: datetime, lifetime: timedelta) -> Session | LoginRefused:
    found = await store.credentials(engine, login)
    if found is None:
        await asyncio.to_thread(_verify, _dummy(), password)
        return LoginRefused.WRONG
    agent_id, hashed, active, failures, locked_until = found
    if locked_until is not None and locked_until > now:
        return LoginRefused.LOCKED
    # argon2 takes a good part of a second by design: in a worker thread, not the event loop.
    if not await asyncio.to_thread(_verify, hashed, password) or not active:
        await store.login_failed(engine, agent_id, lock_after(failures + 1, now), now)
        return LoginRefused.WRONG
    session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    rehash = await asyncio.to_thread(HASHER.hash, password) if HASHER.check_needs_rehash(hashed) else None
    await store.open_session(engine, agent_id, token_hash(session.token), session.csrf, now, lifetime, rehash)
    return session


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def session_agent(engine: Store, token: str | None, now: datetime) -> tuple[AgentInfo, str] | None:
    """The agent and CSRF token of a live session, or None."""
    if not token or len(token) > 128:
        return None
    return await store.session_agent(engine, token_hash(token), now)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


async def hash_in_thread(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)
