"""A job-runner process for the two-process and restart tests (tests/test_jobs_processes.py).

    python -m tests.jobs_worker DATABASE_URL TAG NOW [--lease SECONDS] [--batch N] [--hang] [--wait]

Runs a `JobRunner` (its clock fixed at NOW, ISO 8601) with the test handlers below:
first its upkeep (renew, recover), then every job due, and prints one JSON line: the
ids of the jobs this process ran to completion. `--wait`: prints "ready" once
connected and waits for a line on stdin first (both workers of a race start
together). `--hang`: a `test.hang` job hangs after printing "hanging <id>" (the test
kills the process there: a runner that dies in the middle of a job).

Handlers: `test.note` (a job alone) and `test.say` (a conversation job: a reply
through the outbox) write an audit line `job` with the job id and the worker's tag,
in the job's transaction: the store's count of them is how often each job took effect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

from bot.company import load_company
from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.core.events import Reply
from bot.jobs import JobRunner, JobTurn
from handlers.router import route
from storage import handoff
from storage.db import create_engine


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(args.url)
    core = Dispatcher(engine, load_company(Settings()), route, clock=lambda: now)
    now = datetime.fromisoformat(args.now)
    done: list[int] = []

    async def note(turn: JobTurn) -> None:
        await handoff.record(turn.conn, None, "job", turn.now, job=turn.job.id, by=args.tag)
        done.append(turn.job.id)  # as good as done: the transaction commits next

    async def say(turn: JobTurn) -> None:
        await turn.send(Reply(f"job {turn.job.id}"))
        await note(turn)

    async def hang(turn: JobTurn) -> None:
        if args.hang:
            print(f"hanging {turn.job.id}", flush=True)
            await asyncio.Event().wait()
        await note(turn)

    runner = JobRunner(engine, core, timezone="Asia/Shanghai", clock=lambda: now, owner=args.tag,
                       handlers={"test.note": note, "test.say": say, "test.hang": hang},
                       lease=args.lease, batch=args.batch)
    try:
        async with engine.connect():
            pass  # connected before the start signal
        if args.wait:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        await runner.upkeep()
        await runner.run_due()
    finally:
        await core.close()
        await engine.dispose()
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("tag")
    parser.add_argument("now")
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--wait", action="store_true")
    asyncio.run(main(parser.parse_args()))
