"""Live updates inside one process: the core says which conversations changed,
every open console stream hears it. Across processes on PostgreSQL, `bot.live.PgBus`
adds LISTEN/NOTIFY to the same interface."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

ALL = -1  # "something changed, reload everything": sent when a slow listener fell behind


class LocalBus:
    def __init__(self, backlog: int = 100) -> None:
        self._listeners: set[asyncio.Queue[set[int]]] = set()
        self._backlog = backlog

    async def start(self) -> None:
        """Nothing to connect in one process (PgBus connects here)."""

    async def close(self) -> None:
        """Nothing to close in one process."""

    def changed(self, conversation_ids: set[int]) -> None:
        for queue in self._listeners:
            try:
                queue.put_nowait(set(conversation_ids))
            except asyncio.QueueFull:  # a stalled browser: collapse its backlog into one "reload"
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({ALL})

    @contextmanager
    def listen(self) -> Iterator[asyncio.Queue[set[int]]]:
        queue: asyncio.Queue[set[int]] = asyncio.Queue(self._backlog)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._listeners)
