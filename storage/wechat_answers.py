"""The answers given to WeChat pushes, shared by the workers through the store.

WeChat retries a push it got no answer to (after 5 s, up to 3 times) and may
send the retry to another worker. The first worker to *claim* a push's key
prepares the answer and records it; any other copy waits for that answer
(or, when it is not ready within WeChat's time, answers `success`) and is
never processed twice. Claims and answers of concurrent pushes are written
together, a few statements in one transaction per round (group commit), so
the ledger costs one short write per round, not two per push.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Store
from storage.models import WeChatAnswer, table_of, utcnow

log = logging.getLogger(__name__)
answers = table_of(WeChatAnswer)
KEPT = timedelta(minutes=10)  # WeChat's retries come within about 15 s
POLL = 0.05  # seconds between looks at an answer another worker is preparing


class AnswerBook:
    def __init__(self, engine: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._claims: dict[str, asyncio.Future[bool]] = {}
        self._answers: dict[str, str] = {}
        self._written: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._swept = clock()

    async def claim(self, key: str) -> bool:
        """True: this worker is the first with `key` and must answer it."""
        future = self._claims.get(key)
        if future is None:
            future = self._claims[key] = asyncio.get_running_loop().create_future()
        self._kick()
        return await asyncio.shield(future)

    async def record(self, key: str, answer: str) -> None:
        """Store the answer of a claimed key (returns once written)."""
        self._answers[key] = answer
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written.append(done)
        self._kick()
        await asyncio.shield(done)

    async def wait(self, key: str, seconds: float) -> str | None:
        """The answer another worker gives to `key`, if it is there within `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            async with self._engine.connect() as conn:
                found = await conn.scalar(select(answers.c.answer).where(answers.c.key == key))
            if found is not None or loop.time() + POLL > deadline:
                return str(found) if found is not None else None
            await asyncio.sleep(POLL)

    def _kick(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._claims or self._answers:
            claims, self._claims = self._claims, {}
            recorded, self._answers = self._answers, {}
            written, self._written = self._written, []
            try:
                won = await self._write(list(claims), recorded)
            except Exception as error:
                waiting: list[asyncio.Future[Any]] = [*claims.values(), *written]
                for future in waiting:
                    if not future.done():
                        future.set_exception(error)
                continue
            for key, future in claims.items():
                if not future.done():
                    future.set_result(key in won)
            for future in written:
                if not future.done():
                    future.set_result(None)

    async def _write(self, claims: list[str], recorded: dict[str, str]) -> set[str]:
        now = self._clock()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        won: set[str] = set()
        async with self._engine.begin() as conn:
            if recorded:
                await conn.execute(
                    update(answers).where(answers.c.key == bindparam("b_key")).values(answer=bindparam("b_answer")),
                    [{"b_key": key, "b_answer": answer} for key, answer in recorded.items()],
                )
            if claims:
                statement = (dialect.insert(answers).values([{"key": key, "created_at": now} for key in sorted(claims)])
                             .on_conflict_do_nothing().returning(answers.c.key))
                won = {row[0] for row in await conn.execute(statement)}
            if now - self._swept > KEPT:
                self._swept = now
                await conn.execute(delete(answers).where(answers.c.created_at < now - KEPT))
        return won
