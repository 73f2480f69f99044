"""`/metrics` in Prometheus' text format (prometheus-client).

Two kinds of figures:
- counted by this worker in memory: updates and turns per channel, the turn latency,
  sends by result. Each worker has its own registry and is scraped on its own
  (per-worker scrape, the `instance` label tells them apart; sum them in PromQL).
  No multiprocess mode: the workers are separate services, not forks of one.
- read from the store at each scrape (storage/gauges.py): outbox backlog and the
  oldest due reply, the human queue and its oldest wait, SLA breaches, jobs due and
  dead. Every worker reports the same value: take `max` across workers.

Access: `Authorization: Bearer <METRICS_TOKEN>` on the service's port, or without a
token on a listener of its own (`METRICS_ADDRESS`, e.g. 127.0.0.1:9108) that only
the monitoring host can reach. With neither set, `/metrics` answers 404.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from storage.db import Store
from storage.gauges import backlogs
from storage.models import utcnow

log = logging.getLogger(__name__)

# Seconds from an update's arrival to its turn committed (group commit included).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One worker's registry. The dispatcher and the outbox sender report into it."""

    def __init__(self, engine: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self.registry = r = CollectorRegistry()
        self.updates = Counter("aftersales_updates", "Updates received (duplicates included)", ["channel"], registry=r)
        self.turns = Counter("aftersales_turns", "Customer turns committed", ["channel"], registry=r)
        self.latency = Histogram("aftersales_turn_seconds", "From an update's arrival to its turn committed",
                                 ["channel"], buckets=LATENCY_BUCKETS, registry=r)
        self.sends = Counter("aftersales_sends", "Outbox send attempts by result", ["channel", "result"], registry=r)
        self.outbox_backlog = Gauge("aftersales_outbox_backlog", "Replies not yet sent (pending or being sent)",
                                    ["channel"], registry=r)
        self.outbox_oldest = Gauge("aftersales_outbox_oldest_pending_seconds", "How long the oldest due reply has waited",
                                   registry=r)
        self.queue_length = Gauge("aftersales_queue_length", "Conversations waiting for a person", registry=r)
        self.queue_oldest = Gauge("aftersales_queue_oldest_wait_seconds", "The longest current wait for a person",
                                  registry=r)
        self.sla_breaches = Gauge("aftersales_sla_breaches", "Tickets whose promised first response was missed (all time)",
                                  registry=r)
        self.jobs_due = Gauge("aftersales_jobs_due", "Pending jobs whose time has come", registry=r)
        self.jobs_dead = Gauge("aftersales_jobs_dead", "Jobs that used their last try", registry=r)
        self._channels: set[str] = set()
        self.store_up = Gauge("aftersales_store_up", "1 when the last scrape could read the store", registry=r)

    # --- reported by the core and the sender -------------------------------------------
    def update(self, channel: str, seconds: float | None) -> None:
        self.updates.labels(channel).inc()
        if seconds is not None:  # None: the store failed and the update was not taken
            self.latency.labels(channel).observe(seconds)

    def turn(self, channel: str) -> None:
        self.turns.labels(channel).inc()

    def send(self, channel: str, result: str) -> None:
        self.sends.labels(channel, result).inc()

    # --- the endpoint ----------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read the shared backlogs from the store; an outage shows as store_up 0."""
        try:
            b = await backlogs(self._engine, self._clock())
        except Exception as error:
            log.warning("metrics: could not read the store: %s: %s", type(error).__name__, error)
            self.store_up.set(0)
            return
        self.store_up.set(1)
        self._channels |= set(b.outbox_pending)  # a channel drained to 0 still shows 0
        for channel in self._channels:
            self.outbox_backlog.labels(channel).set(b.outbox_pending.get(channel, 0))
        self.outbox_oldest.set(b.outbox_oldest_seconds)
        self.queue_length.set(b.queue_length)
        self.queue_oldest.set(b.queue_oldest_seconds)
        self.sla_breaches.set(b.sla_breaches)
        self.jobs_due.set(b.jobs_due)
        self.jobs_dead.set(b.jobs_dead)

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    def handler(self, token: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The `/metrics` handler: with `token`, only a request bearing it; None: anyone who
        can reach the listener (the admin address)."""

        async def metrics(request: web.Request) -> web.Response:
            if token is not None:
                scheme, _, given = request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                    return web.Response(status=401, text="metrics: a valid bearer token is required\n",
                                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            body = await self.render()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return metrics
