"""Issue 8 item 12: every per-chat and per-conversation lookup uses an index.

The statements are recorded as the real code runs them (a customer's turns, a web chat's
history on connect, the outbox sender, retention) and then explained: SQLite's EXPLAIN
QUERY PLAN must not SCAN a table, PostgreSQL's plan (sequential scans disabled, so an index
and hash and merge joins, so an index is taken whenever one fits) must not scan one sequentially nor walk an index without a
condition.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.dispatcher import Dispatcher
from bot.core.events import Reply
from bot.outbox import OutboxSender, Unreachable
from handlers.router import route
from storage import retention
from storage.models import Base, OutboxRow, utcnow
from storage.transcripts import customer_locale, history, mark_delivered
from tests.memory_channel import Chat

TABLES = set(Base.metadata.tables)


class Refusing:
    channel = "memory"

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        raise Unreachable("blocked")


async def _statements(engine: AsyncEngine, company: Company) -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        first = statement.lstrip()[:6].upper()
        if first in ("SELECT", "UPDATE", "DELETE"):
            seen.setdefault(statement, parameters[0] if executemany else parameters)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        core = Dispatcher(engine, company, route)
        chat = Chat(core, engine, user_id="u1", language="en")
        await chat.say("/start")
        await chat.tap("🛠")
        await core.close()
        await history(engine, "memory", "u1")
        await mark_delivered(engine, "memory", "u1")
        await customer_locale(engine, "memory", "u1")
        now = utcnow()
        async with engine.begin() as conn:
            await conn.execute(insert(OutboxRow).values(
                channel="memory", chat_id="u1", payload=Reply("x").to_payload(), status="pending",
                attempts=0, next_attempt_at=now, created_at=now,
            ))
        sender = OutboxSender(engine, [Refusing()])
        await sender.recover()
        for row in await sender.claim():
            sender._enqueue(row)
        while sender._workers:  # the refusal marks the chat unreachable: its per-chat updates
            await next(iter(sender._workers.values()))
        await retention.prune(engine, now, retention.Policy())
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert any("channel_identities.chat_id" in s for s in seen)  # the lookups did run
    return list(seen.items())


def _sqlite_scans(plan: list[Any]) -> list[str]:
    bad = []
    for row in plan:
        detail = row[-1]
        words = detail.split()
        if words[0] == "SCAN" and words[1] in TABLES:  # a whole table (or a whole index)
            bad.append(detail)
    return bad


def _postgres_scans(node: dict[str, Any]) -> list[str]:
    bad = []
    if node.get("Relation Name") in TABLES:
        kind = node["Node Type"]
        if kind == "Seq Scan" or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node):
            bad.append(f"{kind} on {node['Relation Name']}")
    for child in node.get("Plans", []):
        bad += _postgres_scans(child)
    return bad


async def test_per_chat_and_per_conversation_lookups_use_indexes(engine: AsyncEngine, company: Company) -> None:
    statements = await _statements(engine, company)
    problems = {}
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # On near-empty tables the planner would rather scan; forbid what needs no index.
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                await conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        for statement, parameters in statements:
            if engine.dialect.name == "postgresql":
                result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
                plan = result.scalar()
                plan = json.loads(plan) if isinstance(plan, str) else plan
                bad = _postgres_scans(plan[0]["Plan"])
            else:
                bad = _sqlite_scans((await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)).all())
            if bad:
                problems[statement] = bad
        await conn.rollback()
    assert problems == {}
