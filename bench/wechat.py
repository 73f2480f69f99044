"""WeChat: concurrent followers through the encrypted endpoint; latency of the passive reply.

    .venv/bin/python -m bench.wechat                       # SQLite, 200 followers, 6 pushes each
    .venv/bin/python -m bench.wechat --customers 50 --rounds 10

The real Service (store on a fresh migrated SQLite file, the core, the outbox
sender, the WeChat endpoint) runs in this process; WeChat's side (the pushes,
signed and AES-encrypted as WeChat sends them) and WeChat's API (the double of
tests/wechat_server.py: token, user info) each run in a process of their own,
as they are other machines in production. Each follower pushes its messages one
after another, all followers at once. Measured per push: from sending the
request to having the decrypted passive reply; and the service's CPU time per
push (what the machine's other load does not change).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bot.app import Service
from bot.config import Settings
from storage.db import upgrade
from tests.wechat_server import ACCOUNT, AES_KEY, APP_ID, SECRET, TOKEN, WeChatAPI, WeChatPusher

# A walk through the menu: greeting, repair, product line, model, back to the menu, my tickets.
STEPS = ["/start", "1", "1", "1", "/menu", "5"]


async def follower(
    pusher: WeChatPusher, number: int, rounds: int, timings: list[float], empty: list[int], firsts: list[float],
) -> None:
    openid = f"oBench{number:06d}"
    for step in range(rounds):
        text = STEPS[step % len(STEPS)]
        fields = {"ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": int(time.time()),
                  "MsgType": "text", "Content": text, "MsgId": pusher.next_msg_id()}
        started = time.perf_counter()
        answer = await pusher.push(fields)
        timings.append(time.perf_counter() - started)
        if step == 0:
            firsts.append(timings[-1])
        if answer.status != 200 or not answer.text:
            empty.append(number)


Result = tuple[list[float], list[int], int, float, list[float], float]


def wechat_side(url: str, customers: int, rounds: int) -> Result:
    async def run() -> Result:
        pusher = WeChatPusher(url)
        timings: list[float] = []
        empty: list[int] = []
        firsts: list[float] = []
        try:
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(follower(pusher, n, rounds, timings, empty, firsts) for n in range(customers)))
            return timings, empty, pusher.attempts, time.perf_counter() - started, firsts, time.process_time() - cpu
        finally:
            await pusher.close()

    return asyncio.run(run())


def api_side(pipe: Any) -> None:
    """WeChat's API double in a process of its own: sends its port, then (asked) how many
    customer-service messages it got."""

    async def run() -> None:
        api = WeChatAPI()
        await api.start()
        pipe.send(api.port)
        await asyncio.to_thread(pipe.recv)
        pipe.send(len(api.sent))
        await api.stop()

    asyncio.run(run())


async def main(url: str, customers: int, rounds: int) -> None:
    ours, theirs = multiprocessing.Pipe()
    api_process = multiprocessing.Process(target=api_side, args=(theirs,), daemon=True)
    api_process.start()
    api = WeChatAPI()
    api.port = await asyncio.to_thread(ours.recv)
    if True:
        service = Service(Settings(
            database_url=url, port=0, telegram_bot_token=None, wechat_token=TOKEN, wechat_app_id=APP_ID,
            wechat_app_secret=SECRET, wechat_aes_key=AES_KEY, wechat_account=ACCOUNT, wechat_api_base=api.base,
        ))
        await service.start()
        try:
            # WeChat's side runs in a process of its own: its crypto and HTTP client are not ours to pay.
            with ProcessPoolExecutor(1) as pool:
                cpu = time.process_time()
                timings, empty, attempts, elapsed, firsts, their_cpu = await asyncio.get_running_loop().run_in_executor(
                    pool, wechat_side, f"http://127.0.0.1:{service.port}/wechat", customers, rounds,
                )
                cpu = time.process_time() - cpu
        finally:
            await service.stop()
            ours.send("stop")
            sent = await asyncio.to_thread(ours.recv)
            api_process.join(10)
    timings.sort()
    q = statistics.quantiles(timings, n=100)
    print(f"{customers} followers x {rounds} pushes = {len(timings)} pushes in {elapsed:.1f} s "
          f"({len(timings) / elapsed:.0f}/s); {attempts - len(timings)} retries")
    print(f"passive reply: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
          f"max {timings[-1] * 1000:.0f} ms; without a passive reply: {len(empty)}; "
          f"customer-service messages: {sent}")
    print(f"first contact (user-info lookup, new customer): max {max(firsts) * 1000:.0f} ms; "
          f"later pushes: p99 {statistics.quantiles(sorted(set(timings) - set(firsts)), n=100)[98] * 1000:.0f} ms")
    print(f"service CPU: {cpu:.1f} s, {cpu / len(timings) * 1000:.1f} ms a push; "
          f"WeChat's side: {their_cpu:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)  # (runs an event loop of its own)
        asyncio.run(main(url, args.customers, args.rounds))
