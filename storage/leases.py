"""One leased-queue mechanism for the outbox (bot/outbox.py) and the jobs (storage/jobs.py).

A queue is a table whose rows wait (`pending`) until due, are claimed by one process
(`held`: the outbox's `sending`, a job's `running`) with a lease (`lease_owner`,
`lease_until`, `attempts` + 1), and are then finished by their owner. A live owner
renews its leases; a row whose lease ran out belonged to a process that died, and
`recover` decides what becomes of it (the outbox: `uncertain`, never re-sent; a job:
`pending` again, since its effects commit with its completion, or `dead`).

The claim is one UPDATE ... WHERE id IN (due rows, LIMIT n) AND status = waiting
RETURNING: on PostgreSQL the inner SELECT takes the rows `FOR UPDATE SKIP LOCKED`
(two processes claim different rows at once, neither waits); on SQLite the
transaction is BEGIN IMMEDIATE and holds the file's write lock, so claims are
serialised there. Either way the status test makes a row claimed meanwhile drop out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, Update, bindparam, select, update

from storage.db import StoreConnection


@dataclass(frozen=True, slots=True)
class LeasedQueue:
    table: Table
    due: str  # the column of the due time
    held: str  # the status of a claimed row
    waiting: str = "pending"
    order: tuple[str, ...] = ("id",)

    def column(self, name: str) -> Column[Any]:
        column: Column[Any] = self.table.c[name]
        return column

    def due_rows(self, dialect: str, *where: ColumnElement[bool]) -> Select[Any]:
        """The ids of waiting rows due at `:now`, in queue order, at most `:limit`."""
        c = self.table.c
        claimable = (
            select(c.id)
            .where(c.status == self.waiting, self.column(self.due) <= bindparam("now", type_=self.column(self.due).type), *where)
            .order_by(*(self.column(name) for name in self.order))
            .limit(bindparam("limit"))
        )
        if dialect == "postgresql":
            claimable = claimable.with_for_update(skip_locked=True)
        return claimable

    def claim(self, claimable: Select[Any], owner: str, *returning: Column[Any]) -> Update:
        """Claim the rows `claimable` selects for `owner` until `:lease`; returns `returning`.
        `claimable` is usually `due_rows`; the outbox's rate-limited channels bring their own."""
        c = self.table.c
        return (
            update(self.table)
            .where(c.id.in_(claimable.scalar_subquery()), c.status == self.waiting)
            .values(status=self.held, lease_owner=owner, lease_until=bindparam("lease", type_=c.lease_until.type),
                    attempts=c.attempts + 1)
            .returning(*returning)
        )

    async def renew(self, conn: StoreConnection, owner: str, until: datetime) -> int:
        """Extend the lease of every row `owner` holds."""
        c = self.table.c
        result = await conn.execute(
            update(self.table).where(c.lease_owner == owner, c.status == self.held).values(lease_until=until)
        )
        return int(result.rowcount)

    async def recover(self, conn: StoreConnection, now: datetime, **values: Any) -> int:
        """Rows held past their lease (their owner died): set `values` on them."""
        c = self.table.c
        result = await conn.execute(
            update(self.table).where(c.status == self.held, c.lease_until < now).values(**values)
        )
        return int(result.rowcount)

    async def give_back_held(self, conn: StoreConnection, owner: str, keep: list[int]) -> int:
        """Every row `owner` still holds, but `keep`, back to waiting, not counted as a try: a stop."""
        c = self.table.c
        result = await conn.execute(
            update(self.table).where(c.lease_owner == owner, c.status == self.held, c.id.not_in(keep))
            .values(status=self.waiting, attempts=c.attempts - 1, lease_owner=None, lease_until=None)
        )
        return int(result.rowcount)

    async def give_back(self, conn: StoreConnection, ids: list[int], owner: str | None = None, **values: Any) -> int:
        """Held rows back to waiting, not counted as a try (claimed, never started): a stop."""
        if not ids:
            return 0
        c = self.table.c
        mine = (c.lease_owner == owner,) if owner is not None else ()
        result = await conn.execute(
            update(self.table).where(c.id.in_(ids), c.status == self.held, *mine)
            .values(status=self.waiting, attempts=c.attempts - 1, lease_owner=None, lease_until=None, **values)
        )
        return int(result.rowcount)
