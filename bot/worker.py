"""`aftersales worker` and `aftersales jobs`: durable jobs outside the serving process.

The worker runs only the job loop, with a core of its own for conversation jobs (they
are serialised with the customers' turns by the conversation's lock, as between two
serving processes). Their replies are written `pending`: the serving processes'
senders deliver them (the web chat's connections live there). Any number of workers
and serving processes may run jobs at once: a job is claimed by one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from bot.config import Settings
from storage import jobs as store
from storage.db import Store, create_engine
from storage.jobs import JobStatus
from storage.models import utcnow

log = logging.getLogger(__name__)


async def work(settings: Settings, stop: asyncio.Event | None = None, *, once: bool = False) -> int:
    """Run jobs as they fall due until `stop` is set; `once`: run what is due now and return how many."""
    import bot.app  # noqa: F401 - the service's imports register the features' job handlers
    from bot.company import load_company
    from bot.core.dispatcher import Dispatcher
    from bot.jobs import JobRunner
    from bot.supervisor import Supervisor
    from handlers.router import route

    engine = create_engine(settings.database_url)
    company = load_company(settings)
    core = Dispatcher(engine, company, route, max_batch=settings.commit_max_batch)
    runner = JobRunner(engine, core, timezone=settings.company_timezone, lease=settings.jobs_lease, poll=settings.jobs_poll,
                       timeout=settings.jobs_timeout)
    supervisor = Supervisor()
    ran = 0
    try:
        if once:
            await runner.upkeep()
            ran = await runner.run_due()
        else:
            supervisor.start("jobs", runner.run)
            await (stop or asyncio.Event()).wait()
            log.info("stopping")
    finally:
        supervisor.retire("jobs")
        await runner.close()
        await supervisor.stop()
        await core.close()
        await engine.dispose()
    return ran


def run_worker(settings: Settings, once: bool) -> int:
    from bot.startup import migrated, until_signalled

    if not migrated(settings.database_url):
        return 2
    if not once:
        print("Job worker running. Ctrl+C stops it.", flush=True)
    ran = asyncio.run(until_signalled(lambda stop: work(settings, stop, once=once)))
    if once:
        print(f"{ran} jobs run")
    return 0


def jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    """`aftersales jobs [list] [--status dead] ...` prints jobs as JSON lines (a count per
    status on stderr); `aftersales jobs retry ID` sends a dead job round again."""

    from bot.jobs import describe

    async def listing(engine: Store) -> tuple[list[dict[str, Any]], dict[JobStatus, int]]:
        async with engine.connect() as conn:
            statuses = [JobStatus(s) for s in args.status or []]
            found = await store.listing(conn, *statuses, cause=args.cause, kind=args.kind, limit=args.limit)
            return [describe(job) for job in found], await store.counts(conn)

    async def retry(engine: Store) -> bool:
        async with engine.begin() as conn:
            return await store.retry(conn, args.id, utcnow())

    if getattr(args, "action", None) == "retry":
        if not _on_store(settings, retry):
            print(f"job {args.id}: no such dead job", file=sys.stderr)
            return 1
        print(f"job {args.id}: pending again")
        return 0
    rows, counts = _on_store(settings, listing)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(", ".join(f"{count} {status.value}" for status, count in counts.items()), file=sys.stderr)
    return 0


def _on_store(settings: Settings, work: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def add_arguments(commands: Any) -> None:
    """The `worker` and `jobs` commands' arguments (bot/cli.py)."""
    worker = commands.add_parser("worker", help="run only the durable jobs, as a process of its own")
    worker.add_argument("--once", action="store_true", help="run the jobs due now, then exit")
    jobs = commands.add_parser("jobs", help="durable jobs: list them (dead ones to look at), retry a dead one")
    actions = jobs.add_subparsers(dest="action")
    for parser in (jobs, actions.add_parser("list", help="list jobs (the default)")):
        parser.add_argument("--status", action="append", choices=[s.value for s in JobStatus],
                            help="only these (repeatable); default: all")
        parser.add_argument("--cause", help='only this cause, e.g. "visit:42"')
        parser.add_argument("--kind")
        parser.add_argument("--limit", type=int, default=100)
    actions.add_parser("retry", help="send a dead job round again (tries counted afresh)").add_argument("id", type=int)
