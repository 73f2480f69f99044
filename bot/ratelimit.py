"""Keyed token buckets: per visitor, per IP, per Telegram chat (issue 9.4).

In memory, per process: with several workers each enforces its own share (the
limits are per worker; docs/security.md). Memory stays bounded: at most `max_keys`
buckets, the least recently used dropped first (a dropped bucket is a full one).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """`rate` events a second sustained, `burst` at once; `clock` returns seconds (injectable)."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000,
    ) -> None:
        self.rate, self.burst, self.clock, self._max_keys = rate, float(burst), clock, max_keys
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: Hashable) -> bool:
        """Take one token for `key`; False (and nothing taken) when its bucket is empty."""
        if not self.enabled:
            return True
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def refund(self, key: Hashable) -> None:
        """Give back the token `allow(key)` took."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self.burst, bucket.tokens + 1)


class Limits:
    """Several limiters that must all agree; `allow` takes from none of them when one says no."""

    def __init__(self, *pairs: tuple[RateLimiter, Hashable]) -> None:
        self._pairs = pairs

    def allow(self) -> bool:
        taken: list[tuple[RateLimiter, Hashable]] = []
        for limiter, key in self._pairs:
            if not limiter.allow(key):
                for earlier, earlier_key in taken:  # a refused event costs nothing
                    earlier.refund(earlier_key)
                return False
            taken.append((limiter, key))
        return True
