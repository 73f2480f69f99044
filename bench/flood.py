"""Floods against the web chat (issue 9.4): how much of a flood is taken, and what it does
to other visitors' latency.

    .venv/bin/python -m bench.flood                  # SQLite, 10 observers, 3 rounds of 2 x 10 s
    .venv/bin/python -m bench.flood --observers 20 --rounds 5 --connect-rate 200

The real Service on a fresh SQLite file, behind a pretend trusted proxy (127.0.0.1) so that
each simulated client has its own address (X-Forwarded-For). Observers, each its own
visitor and address, send "/start" every 1.2 s and time it to the server's ack (the turn
committed). Phase 1: the observers alone (idle). Phase 2: the same while, from another process,
one client sends `--frames` frames on one socket as fast as it can and another opens
connections (page + socket) at `--connect-rate` a second (the issue's 71/s). Printed: the observers' p50/p99 in both phases and what the flood got
stored. Default limits (bot/config.py) apply.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.app import Service
from bot.config import Settings
from storage.db import upgrade
from storage.models import Message


class Client:
    def __init__(self, base: str, address: str) -> None:
        self.base, self.headers = base, {"X-Forwarded-For": address}
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> bool:
        async with self.http.get(self.base + "/", headers=self.headers) as page:
            if page.status != 200:
                return False
        self.ws = await self.http.ws_connect(self.base + "/ws", headers=self.headers)
        first = await self.ws.receive_json(timeout=30)
        return bool(first["type"] == "hello")

    async def close(self) -> None:
        if self.ws:
            await self.ws.close()
        await self.http.close()


async def observe(client: Client, until: float, latencies: list[float], number: int) -> None:
    assert client.ws is not None
    await asyncio.sleep(number * 0.12)  # spread the observers over the period
    sequence = 0
    while time.monotonic() < until:
        sequence += 1
        frame_id = f"o{number}-{sequence}"
        started = time.perf_counter()
        await client.ws.send_json({"type": "text", "text": "/start", "id": frame_id})
        while True:
            frame = await client.ws.receive_json(timeout=30)
            if frame.get("id") == frame_id and frame["type"] in ("ack", "error"):
                break
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(max(0.0, 1.2 - (time.perf_counter() - started)))


async def flood_frames(base: str, frames: int) -> tuple[int, int, float]:
    client = Client(base, "203.0.113.66")
    await client.open()
    assert client.ws is not None
    ws = client.ws
    started = time.monotonic()

    async def send() -> None:
        for number in range(frames):
            await ws.send_json({"type": "text", "text": f"flood {number}", "id": f"f{number}"})

    sender = asyncio.create_task(send())
    acks = errors = 0
    while acks + errors < frames:
        message = await ws.receive(timeout=60)
        if message.type is not aiohttp.WSMsgType.TEXT:
            break  # closed by the server: flooding
        frame = message.json()
        acks += frame["type"] == "ack"
        errors += frame["type"] == "error"
    try:
        await sender
    except ConnectionError:
        pass
    elapsed = time.monotonic() - started
    await client.close()
    return acks, errors, elapsed


async def flood_connects(base: str, until: float, rate: float) -> tuple[int, int]:
    opened = refused = 0
    started = time.monotonic()
    while time.monotonic() < until:
        ahead = (opened + refused) / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
        client = Client(base, "203.0.113.77")
        try:
            if await client.open():
                opened += 1
            else:
                refused += 1
        except (aiohttp.ClientError, TimeoutError):
            refused += 1
        finally:
            await client.close()
    return opened, refused


def run_floods(base: str, frames: int, seconds: float, rate: float) -> tuple[tuple[int, int, float], tuple[int, int]]:
    async def both() -> Any:
        until = time.monotonic() + seconds
        return await asyncio.gather(flood_frames(base, frames), flood_connects(base, until, rate))

    first, second = asyncio.run(both())
    return first, second


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def quantiles(values: list[float]) -> str:
    return f"n={len(values)} p50={statistics.median(values) * 1000:.1f} ms p99={p99(values) * 1000:.1f} ms"


async def main(args: argparse.Namespace, url: str) -> None:
    if True:
        service = Service(Settings(database_url=url, port=0, telegram_bot_token=None, trusted_proxies="127.0.0.1"))
        await service.start()
        base = f"http://127.0.0.1:{service.port}"
        observers = [Client(base, f"198.51.100.{n + 1}") for n in range(args.observers)]
        idle: list[float] = []
        busy: list[float] = []
        ratios: list[float] = []
        try:
            for observer in observers:
                await observer.open()
            # Interleaved rounds: the machine's background load hits both phases alike.
            for _round in range(args.rounds):
                calm: list[float] = []
                until = time.monotonic() + args.seconds
                await asyncio.gather(*(observe(o, until, calm, n) for n, o in enumerate(observers)))
                flooded: list[float] = []
                until = time.monotonic() + args.seconds
                # The flooders run in another process: their own work must not load the server's loop.
                loop = asyncio.get_running_loop()
                with ProcessPoolExecutor(1) as pool:
                    floods = loop.run_in_executor(pool, run_floods, base, args.frames, args.seconds, args.connect_rate)
                    await asyncio.gather(*(observe(o, until, flooded, n) for n, o in enumerate(observers)))
                    (acks, errors, elapsed), (opened, refused) = await floods
                ratios.append(p99(flooded) / p99(calm))
                idle += calm
                busy += flooded
                print(f"round {_round + 1}: idle {quantiles(calm)} | flood {quantiles(flooded)} | p99 ratio {ratios[-1]:.2f}")
            async with service.engine.connect() as conn:
                stored = await conn.scalar(select(func.count()).select_from(Message).where(Message.text.like("flood %")))
        finally:
            for observer in observers:
                await observer.close()
            await service.stop()
    print(f"all rounds: idle {quantiles(idle)} | flood {quantiles(busy)} | p99 ratio {p99(busy) / p99(idle):.2f}"
          f" (median of rounds {statistics.median(ratios):.2f})")
    print(f"frame flood (last round): {args.frames} frames sent; {acks} taken, {errors} refused, then closed after"
          f" {elapsed:.1f} s; {stored} stored in all {args.rounds} rounds")
    print(f"connect flood at {args.connect_rate:.0f}/s: {opened} opened, {refused} refused in {args.seconds:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--connect-rate", type=float, default=71.0, help="page + socket opens a second")
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'flood.db'}"
        upgrade(database)  # Alembic runs its own event loop
        asyncio.run(main(parser.parse_args(), database))
