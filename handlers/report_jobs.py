"""The reports' jobs (domain.md §6): the weekly report for supervisors, and the daily
early-warning check. Neither has a conversation: each runs in its own transaction and
schedules its next run, so exactly one of each is pending (cause `report:weekly`,
`report:warnings`). Supervisors are told on the console's reports page (an audit line)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.config import Settings
from bot.jobs import JobTurn, job_handler
from services.reports import Span, Window, build
from storage import jobs
from storage import reports as store
from storage.db import Store, StoreConnection
from storage.handoff import record

_thresholds: dict[Window, int] = {}  # set by `configure`; else read from the settings when first needed


class ReportJob(StrEnum):
    WEEKLY = "report.weekly"
    WARNINGS = "report.warnings"


EVERY = {ReportJob.WEEKLY: timedelta(days=7), ReportJob.WARNINGS: timedelta(days=1)}


def configure(thresholds: dict[str, int]) -> None:
    """The early warning's thresholds (settings EARLY_WARNING_*)."""
    _thresholds.update({Window(k): v for k, v in thresholds.items()})


def thresholds() -> dict[Window, int]:
    """The early warning's thresholds: configured, else the settings' (a job worker process)."""
    if not _thresholds:
        configure(Settings().early_warning_thresholds())
    return dict(_thresholds)


async def ensure_scheduled(engine: Store, now: datetime) -> None:
    """At start-up: each report job pending once (the first weekly report a week from now)."""
    async with engine.begin() as conn:
        for kind in ReportJob:
            if not await jobs.pending(conn, cause=f"report:{kind.value}"):
                await jobs.schedule(conn, kind, now + EVERY[kind], cause=f"report:{kind.value}")


async def check_warnings(conn: StoreConnection, now: datetime) -> list[str]:
    """Raise each new early warning once (an audit line supervisors see); their keys."""
    facts = await store.ticket_facts(conn, now - store.HISTORY)
    report = build(Span.WEEKLY, now, facts, [], thresholds())
    raised = []
    for w in report.warnings:
        key = f"{w.window.value}:{w.model}:{w.category}:{w.tickets[0]}"
        if not await store.warned(conn, key):
            await record(conn, None, store.Notice.EARLY_WARNING, now, key=key, window=w.window.value, model=w.model,
                         category=w.category, count=w.count, tickets=list(w.tickets))
            raised.append(key)
    return raised


@job_handler(ReportJob.WARNINGS)
async def warnings(turn: JobTurn) -> None:
    await check_warnings(turn.conn, turn.now)
    await jobs.schedule(turn.conn, ReportJob.WARNINGS, turn.now + EVERY[ReportJob.WARNINGS], cause="report:report.warnings")


@job_handler(ReportJob.WEEKLY)
async def weekly(turn: JobTurn) -> None:
    facts = await store.ticket_facts(turn.conn, turn.now - store.HISTORY)
    served = await store.survey_facts(turn.conn, turn.now - timedelta(days=7), turn.now)
    report = build(Span.WEEKLY, turn.now, facts, served, thresholds())
    tickets = sum(int(n) for _k, n in report.table("by_kind").rows)
    await record(turn.conn, None, store.Notice.WEEKLY_REPORT, turn.now, tickets=tickets, warnings=len(report.warnings),
                 start=report.start.isoformat(), end=report.end.isoformat())
    await check_warnings(turn.conn, turn.now)
    await jobs.schedule(turn.conn, ReportJob.WEEKLY, turn.now + EVERY[ReportJob.WEEKLY], cause="report:report.weekly")
