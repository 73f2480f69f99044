"""Issuing and redeeming the one-time codes that join a customer's channels (issue 18).
The rules (length, lifetime, tries) are in services/link_codes.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, insert, select, update

from services.link_codes import LIFETIME, MAX_WRONG, WRONG_WINDOW, code_hash, new_code
from storage.customer_files import JoinOutcome, join
from storage.db import StoreConnection
from storage.models import LinkAttempt, LinkCode, table_of

codes = table_of(LinkCode)
attempts = table_of(LinkAttempt)


class Redeemed(StrEnum):
    JOINED = "joined"
    SAME_FILE = "same_file"  # this channel already belongs to that file
    WRONG = "wrong"  # unknown, expired or used
    TOO_MANY = "too_many"  # too many wrong codes lately: refused without looking
    NEEDS_PERSON = "needs_person"  # both files hold different proven phones


@dataclass(frozen=True, slots=True)
class Redemption:
    outcome: Redeemed
    other_customer_id: int | None = None  # the file the code came from
    other_identity_id: int | None = None  # the chat that asked for it (to be told)


async def issue(conn: StoreConnection, customer_id: int, identity_id: int, now: datetime) -> str:
    """A new code for this chat; its earlier unused codes stop working."""
    await conn.execute(delete(codes).where(codes.c.identity_id == identity_id, codes.c.used_at.is_(None)))
    code = new_code()
    await conn.execute(insert(codes).values(
        code_hash=code_hash(code), customer_id=customer_id, identity_id=identity_id, created_at=now, expires_at=now + LIFETIME,
    ))
    return code


async def redeem(conn: StoreConnection, code: str, customer_id: int, identity_id: int, now: datetime) -> Redemption:
    """The code typed in another chat (`identity_id` of file `customer_id`): join the two files."""
    wrong = await conn.scalar(select(func.count()).select_from(attempts).where(
        attempts.c.identity_id == identity_id, attempts.c.at > now - WRONG_WINDOW))
    if (wrong or 0) >= MAX_WRONG:
        return Redemption(Redeemed.TOO_MANY)
    found = (await conn.execute(select(codes.c.id, codes.c.customer_id, codes.c.identity_id).where(
        codes.c.code_hash == code_hash(code), codes.c.used_at.is_(None), codes.c.expires_at > now))).first()
    # Single use, also when two chats type it at once: only one conditional UPDATE wins.
    if found is None or found.identity_id == identity_id or (await conn.execute(
        update(codes).where(codes.c.id == found.id, codes.c.used_at.is_(None)).values(used_at=now)
    )).rowcount != 1:
        await conn.execute(insert(attempts).values(identity_id=identity_id, at=now))
        return Redemption(Redeemed.WRONG)
    outcome = await join(conn, found.customer_id, customer_id, now, by=f"code from identity {identity_id}",
                         reason="the customer linked their channels with a one-time code")
    result = {
        JoinOutcome.JOINED: Redeemed.JOINED, JoinOutcome.SAME_FILE: Redeemed.SAME_FILE,
        JoinOutcome.PHONES_DIFFER: Redeemed.NEEDS_PERSON, JoinOutcome.UNKNOWN: Redeemed.WRONG,
    }[outcome]
    return Redemption(result, found.customer_id, found.identity_id)
