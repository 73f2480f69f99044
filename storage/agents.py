"""Agents, their console sessions and the audit trail (plain records out, no ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from services.handoff import Role, TicketStatus
from storage.db import Store, StoreConnection
from storage.models import Agent, AgentSession, AuditEntry, table_of
from storage.turns import tickets

agents = table_of(Agent)
sessions = table_of(AgentSession)
audit = table_of(AuditEntry)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: int
    login: str
    name: str
    role: Role
    languages: tuple[str, ...]
    product_lines: tuple[str, ...]
    team: str | None
    capacity: int
    locale: str
    timezone: str
    active: bool


_COLUMNS = (agents.c.id, agents.c.login, agents.c.name, agents.c.role, agents.c.languages, agents.c.product_lines,
            agents.c.team, agents.c.capacity, agents.c.locale, agents.c.timezone, agents.c.active)


def _info(row: Any) -> AgentInfo:
    return AgentInfo(row.id, row.login, row.name, Role(row.role), tuple(row.languages or ()), tuple(row.product_lines or ()),
                     row.team, row.capacity, row.locale, row.timezone, row.active)


class AgentExists(ValueError):
    pass


async def add_agent(
    engine: Store, *, login: str, name: str, password_hash: str, role: Role, now: datetime,
    languages: list[str] | None = None, product_lines: list[str] | None = None, team: str | None = None,
    capacity: int = 5, locale: str = "en", timezone: str = "Asia/Shanghai", by: int | None = None,
) -> int:
    async with engine.begin() as conn:
        if await conn.scalar(select(agents.c.id).where(agents.c.login == login)) is not None:
            raise AgentExists(login)
        agent_id: int = await conn.scalar(insert(agents).values(
            login=login, name=name, password_hash=password_hash, role=role.value, languages=languages or [],
            product_lines=product_lines or [], team=team, capacity=capacity, locale=locale, timezone=timezone,
            active=True, failed_logins=0, created_at=now,
        ).returning(agents.c.id))
        await _audit(conn, by, "agent.add", now, agent=agent_id, login=login, role=role.value)
    return agent_id


async def _audit(conn: StoreConnection, agent_id: int | None, action: str, now: datetime, **detail: Any) -> None:
    await conn.execute(insert(audit).values(agent_id=agent_id, action=action, detail=detail, created_at=now))


async def audit_entry(engine: Store, agent_id: int | None, action: str, now: datetime, **detail: Any) -> None:
    async with engine.begin() as conn:
        await _audit(conn, agent_id, action, now, **detail)


async def set_active(engine: Store, agent_id: int, active: bool, now: datetime, by: int | None = None) -> bool:
    """Disable (or enable) an agent; disabling revokes their sessions."""
    async with engine.begin() as conn:
        done = (await conn.execute(update(agents).where(agents.c.id == agent_id).values(active=active))).rowcount == 1
        if done and not active:
            await conn.execute(update(sessions).where(sessions.c.agent_id == agent_id, sessions.c.revoked_at.is_(None))
                               .values(revoked_at=now))
        if done:
            await _audit(conn, by, "agent.enable" if active else "agent.disable", now, agent=agent_id)
    return done


async def set_password(engine: Store, agent_id: int, password_hash: str, now: datetime, by: int | None = None) -> bool:
    """A new password; every session of the agent is revoked."""
    async with engine.begin() as conn:
        done = (await conn.execute(update(agents).where(agents.c.id == agent_id)
                                   .values(password_hash=password_hash, failed_logins=0, locked_until=None))).rowcount == 1
        if done:
            await conn.execute(update(sessions).where(sessions.c.agent_id == agent_id, sessions.c.revoked_at.is_(None))
                               .values(revoked_at=now))
            await _audit(conn, by, "agent.password", now, agent=agent_id)
    return done


async def agent_id_by_login(engine: Store, login: str) -> int | None:
    async with engine.connect() as conn:
        value: int | None = await conn.scalar(select(agents.c.id).where(agents.c.login == login))
        return value


async def credentials(engine: Store, login: str) -> tuple[int, str, bool, int, datetime | None] | None:
    """(id, password hash, active, failed log-ins, locked until) of a login."""
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(agents.c.id, agents.c.password_hash, agents.c.active, agents.c.failed_logins, agents.c.locked_until)
            .where(agents.c.login == login)
        )).first()
    return (row[0], row[1], row[2], row[3], row[4]) if row else None


async def login_failed(engine: Store, agent_id: int, locked_until: datetime | None, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(agents).where(agents.c.id == agent_id)
                           .values(failed_logins=agents.c.failed_logins + 1, locked_until=locked_until))
        await _audit(conn, agent_id, "login.failed", now)


async def open_session(engine: Store, agent_id: int, token_hash: str, csrf: str, now: datetime,
                       lifetime: timedelta, new_hash: str | None = None) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(agents).where(agents.c.id == agent_id).values(failed_logins=0, locked_until=None))
        if new_hash:  # the stored hash used older parameters
            await conn.execute(update(agents).where(agents.c.id == agent_id).values(password_hash=new_hash))
        await conn.execute(insert(sessions).values(
            token_hash=token_hash, agent_id=agent_id, csrf=csrf, created_at=now, expires_at=now + lifetime,
        ))
        await _audit(conn, agent_id, "login", now)


async def session_agent(engine: Store, token_hash: str, now: datetime) -> tuple[AgentInfo, str] | None:
    """The agent of a live session (not expired, not revoked, agent active) and its CSRF token."""
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(*_COLUMNS, sessions.c.csrf)
            .join(agents, agents.c.id == sessions.c.agent_id)
            .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None),
                   sessions.c.expires_at > now, agents.c.active.is_(True))
        )).first()
    return (_info(row), row.csrf) if row else None


async def revoke_session(engine: Store, token_hash: str, now: datetime) -> None:
    async with engine.begin() as conn:
        agent_id = await conn.scalar(update(sessions).where(sessions.c.token_hash == token_hash)
                                     .values(revoked_at=now).returning(sessions.c.agent_id))
        await _audit(conn, agent_id, "logout", now)


async def list_agents(engine: Store) -> list[tuple[AgentInfo, int]]:
    """Every agent with the number of conversations they own now."""
    load = (select(tickets.c.assigned_agent_id, func.count().label("n"))
            .where(tickets.c.status == TicketStatus.ASSIGNED.value).group_by(tickets.c.assigned_agent_id).subquery())
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(*_COLUMNS, func.coalesce(load.c.n, 0).label("load"))
            .outerjoin(load, load.c.assigned_agent_id == agents.c.id).order_by(agents.c.name)
        )).all()
    return [(_info(row), int(row.load)) for row in rows]


async def get_agent(engine: Store, agent_id: int) -> AgentInfo | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_COLUMNS).where(agents.c.id == agent_id))).first()
    return _info(row) if row else None
