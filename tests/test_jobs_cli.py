"""`aftersales worker --once` and `aftersales jobs`: a dead job is shown to a supervisor
and can be sent round again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from storage import jobs
from storage.db import create_engine
from storage.models import utcnow


def aftersales(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": url}, cwd=Path(__file__).resolve().parent.parent)


async def _schedule(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await jobs.schedule(conn, "test.later", utcnow() + timedelta(days=1), cause="visit:9")
            return await jobs.schedule(conn, "test.nobody", utcnow() - timedelta(minutes=1), {"x": 1}, max_attempts=1)
    finally:
        await engine.dispose()


def test_a_job_nobody_handles_dies_is_listed_and_can_be_retried(sqlite_url: str) -> None:
    job_id = asyncio.run(_schedule(sqlite_url))
    ran = aftersales(sqlite_url, "worker", "--once")
    assert ran.returncode == 0 and ran.stdout.strip() == "1 jobs run", ran.stderr
    listed = aftersales(sqlite_url, "jobs", "--status", "dead")
    assert listed.returncode == 0
    (line,) = listed.stdout.splitlines()
    dead = json.loads(line)
    assert (dead["id"], dead["kind"], dead["status"], dead["attempts"]) == (job_id, "test.nobody", "dead", 1)
    assert dead["last_error"] == "UnknownJob: no handler for job kind 'test.nobody'"
    assert "1 pending, 0 running, 0 done, 1 dead, 0 cancelled" in listed.stderr
    by_cause = aftersales(sqlite_url, "jobs", "list", "--cause", "visit:9")
    assert [json.loads(row)["kind"] for row in by_cause.stdout.splitlines()] == ["test.later"]
    assert aftersales(sqlite_url, "jobs", "retry", str(job_id)).stdout.strip() == f"job {job_id}: pending again"
    again = aftersales(sqlite_url, "jobs", "retry", str(job_id))
    assert again.returncode == 1 and again.stderr.strip() == f"job {job_id}: no such dead job"
    assert "2 pending" in aftersales(sqlite_url, "jobs").stderr
    refused = aftersales(sqlite_url, "jobs", "--status", "lost")
    assert refused.returncode == 2 and "invalid choice: 'lost'" in refused.stderr
