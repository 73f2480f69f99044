"""The keyed token buckets behind the rate limits (issue 9.4), on an injected clock."""

from __future__ import annotations

from bot.ratelimit import Limits, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # every key has its own bucket
    clock.now = 0.5  # one token back at 2/s
    assert [limiter.allow("a") for _ in range(2)] == [True, False]
    clock.now = 100.0  # never more than the burst
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_a_refused_event_takes_from_no_limiter() -> None:
    clock = Clock()
    visitor, ip = RateLimiter(1.0, 5, clock=clock), RateLimiter(1.0, 1, clock=clock)
    assert Limits((visitor, "v"), (ip, "1.2.3.4")).allow()
    for _ in range(3):
        assert not Limits((visitor, "v"), (ip, "1.2.3.4")).allow()
    assert [visitor.allow("v") for _ in range(5)] == [True, True, True, True, False]  # 4 left, not 1


def test_memory_stays_bounded() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_keys=100)
    for key in range(1000):
        limiter.allow(key)
    assert len(limiter._buckets) == 100


def test_a_zero_rate_switches_the_limit_off() -> None:
    limiter = RateLimiter(0.0, 0, clock=Clock())
    assert all(limiter.allow("a") for _ in range(100))
