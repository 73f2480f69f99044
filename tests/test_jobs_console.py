"""The running service's job loop, and the dead jobs on the supervisors' page."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from services.handoff import Role
from storage import jobs
from storage.jobs import JobStatus
from storage.models import utcnow
from tests.test_console import agent, browsers, service  # noqa: F401 - fixtures


async def test_the_service_runs_due_jobs_and_supervisors_see_the_dead_ones(
    service: Service, engine: AsyncEngine, browsers: Any,  # noqa: F811
) -> None:
    await agent(engine, "sue", Role.SUPERVISOR)
    await agent(engine, "ann", Role.AGENT)
    async with engine.begin() as conn:
        job_id = await jobs.schedule(conn, "test.nobody", utcnow() - timedelta(seconds=1), cause="visit:5", max_attempts=1)
    service.jobs.wake()
    for _ in range(400):  # the service's own loop runs it (nothing handles that kind): dead
        async with engine.connect() as conn:
            if await jobs.listing(conn, JobStatus.DEAD):
                break
        await asyncio.sleep(0.05)
    sue, ann = browsers(), browsers()
    assert await sue.log_in("sue") == 303 and await ann.log_in("ann") == 303
    status, page = await sue.get("/console/supervisor")
    assert status == 200 and "Jobs that failed for good" in page
    assert f"<td>{job_id}</td>" in page and "test.nobody" in page and "visit:5" in page
    assert "UnknownJob: no handler for job kind &#39;test.nobody&#39;" in page
    assert (await ann.get("/console/supervisor"))[0] == 403  # supervisors only
