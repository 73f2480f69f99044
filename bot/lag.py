"""A warning when the event loop stalls, naming what held it.

A heartbeat on the loop notes the time every `interval`; a watchdog thread that
sees no beat for longer than `threshold` takes the loop thread's stack at that
moment (sys._current_frames), so the warning logged when the loop comes back
says what ran, not only for how long.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stall:
    seconds: float
    stack: str


class LagMonitor:
    def __init__(self, threshold: float = 0.1, interval: float = 0.05) -> None:
        self.threshold, self.interval = threshold, interval
        self.stalls: list[Stall] = []  # the latest few, for tests and /healthz
        self._beat = time.monotonic()
        self._stack: str | None = None
        self._lock = threading.Lock()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(loop_thread, stop), name="loop-watchdog", daemon=True)
        watchdog.start()
        try:
            while True:
                with self._lock:
                    self._beat, self._stack = time.monotonic(), None
                before = loop.time()
                await asyncio.sleep(self.interval)
                lag = loop.time() - before - self.interval
                if lag > self.threshold:
                    with self._lock:
                        stack = self._stack or "(not caught: the stall held the interpreter)\n"
                    self.stalls = [*self.stalls[-9:], Stall(lag, stack)]
                    log.warning("event loop stalled for %.0f ms; it was running:\n%s", lag * 1000, stack.rstrip())
        finally:
            stop.set()

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        while not stop.wait(self.threshold / 4):
            with self._lock:
                stalled = time.monotonic() - self._beat > self.interval + self.threshold
                if stalled and self._stack is None:
                    frame = sys._current_frames().get(loop_thread)
                    self._stack = "".join(traceback.format_stack(frame)) if frame else None
