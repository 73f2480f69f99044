"""Background loops that keep running: a loop that ends or raises is logged and
restarted after a back-off, and its state is what `/healthz` reports."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


def backoff(failures: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait after `failures` failures in a row (jittered, capped)."""
    return min(cap, base * 2.0 ** max(failures - 1, 0)) * random.uniform(0.8, 1.2)


@dataclass(slots=True)
class LoopState:
    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None


class Supervisor:
    """Runs named loops as tasks; restarts each one that stops."""

    def __init__(self, *, base: float = 0.5, cap: float = 30.0) -> None:
        self._base, self._cap = base, cap
        self.loops: dict[str, LoopState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._retired: set[str] = set()

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        state = self.loops[name] = LoopState(name)
        self._tasks[name] = asyncio.create_task(self._keep(state, factory), name=name)

    async def _keep(self, state: LoopState, factory: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while True:
            state.running = True
            try:
                await factory()
                reason = "returned"
            except asyncio.CancelledError:
                state.running = False
                raise
            except Exception as error:  # anything: the loop must come back
                reason = f"{type(error).__name__}: {error}"
                log.exception("background loop %r died", state.name)
            state.running = False
            if state.name in self._retired:
                return
            state.restarts += 1
            state.last_error = reason
            failures += 1
            delay = backoff(failures, base=self._base, cap=self._cap)
            log.warning("restarting background loop %r in %.1f s (%s)", state.name, delay, reason)
            await asyncio.sleep(delay)

    def retire(self, name: str) -> None:
        """The loop is being stopped on purpose: when it ends, do not restart it."""
        self._retired.add(name)

    def problems(self) -> list[str]:
        return [
            f"loop {s.name} not running ({s.last_error})"
            for s in self.loops.values() if not s.running and s.name not in self._retired
        ]

    async def stop(self, *names: str) -> None:
        """Cancel the named loops (all when none are named) and wait for them."""
        names = names or tuple(self._tasks)
        self._retired.update(names)
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
