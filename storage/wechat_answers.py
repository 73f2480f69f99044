"""The answers given to WeChat pushes, shared by the workers through the store.

WeChat retries a push it got no answer to (after 5 s, up to 3 times) and may
send the retry to another worker. The core processes a delivery once (its
receipts) and says whether a push was a copy; the worker that processed it
records its answer here, and a copy on any worker waits for that answer (or,
when it is not there within WeChat's time, answers `success`). Answers of
concurrent pushes are written together, one multi-row statement per round,
after the answer has gone back to WeChat: nothing of this is on the way of a
first push.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
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
        self._answers: dict[str, str] = {}
        self._written: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._swept = clock()

    async def record(self, key: str, answer: str) -> None:
        """Store the answer given to `key` (returns once written)."""
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
        while self._answers:
            recorded, self._answers = self._answers, {}
            written, self._written = self._written, []
            try:
                await self._write(recorded)
            except Exception as error:  # a copy then answers `success`; WeChat asks again
                log.warning("recording WeChat answers failed: %s", error)
                for future in written:
                    if not future.done():
                        future.set_exception(error)
                continue
            for future in written:
                if not future.done():
                    future.set_result(None)

    async def _write(self, recorded: dict[str, str]) -> None:
        now = self._clock()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        rows = [{"key": key, "answer": answer, "created_at": now} for key, answer in sorted(recorded.items())]
        async with self._engine.begin() as conn:
            # One statement, many parameter sets: compiled once (a multi-row VALUES is compiled anew for each size).
            await conn.execute(dialect.insert(answers).on_conflict_do_nothing(), rows)
            if now - self._swept > KEPT:
                self._swept = now
                await conn.execute(delete(answers).where(answers.c.created_at < now - KEPT))
