"""WeChat retries a push it got no answer to, and may send the retry to another
worker: two worker processes on one store (SQLite file or PostgreSQL) give a
retried MsgId the same answer and process it once (storage/wechat_answers.py)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.test_wechat import Follower, inbound
from tests.wechat_server import WeChatAPI, WeChatPusher


@pytest.fixture
async def api() -> AsyncIterator[WeChatAPI]:
    double = WeChatAPI()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def workers(db_url: str, engine: Any, api: WeChatAPI, tmp_path: Any) -> AsyncIterator[list[WeChatPusher]]:
    processes = []
    pushers = []
    try:
        for _ in range(2):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.wechat_worker", db_url, api.base, str(tmp_path / "media"),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            processes.append(process)
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line.startswith("port "), line
            pushers.append(WeChatPusher(f"http://127.0.0.1:{int(line.split()[1])}/wechat"))
        yield pushers
    finally:
        for pusher in pushers:
            await pusher.close()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
            await asyncio.wait_for(process.wait(), 30)


async def test_a_retry_on_another_worker_gets_the_first_answer(workers: list[WeChatPusher], engine: Any) -> None:
    first, second = workers
    fields = Follower(first).fields(MsgType="text", Content="/start", MsgId=first.next_msg_id())
    answer = await first.push(fields)
    assert answer.status == 200 and answer.text
    retried = await second.push(fields)  # WeChat's retry, to the other worker: a new timestamp and nonce
    assert (retried.status, retried.text) == (200, answer.text)
    assert await inbound(engine) == 1


async def test_copies_arriving_at_two_workers_at_once_get_one_answer(workers: list[WeChatPusher], engine: Any) -> None:
    first, second = workers
    for number in range(5):
        fields = {**Follower(first, f"oTwin_{number}").fields(MsgType="text", Content="/start"),
                  "MsgId": 9_000_000 + number, "CreateTime": int(time.time())}
        answers = await asyncio.gather(first.push(fields), second.push(fields))
        assert all(a.status == 200 for a in answers)
        assert answers[0].text and answers[0].text == answers[1].text, (number, answers)
    assert await inbound(engine) == 5
