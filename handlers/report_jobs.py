"""The reports' jobs (domain.md §6): the weekly report for supervisors, and the daily
early-warning check. Neither has a conversation: each runs in its own transaction and
schedules its next run, so exactly one of each is pending (cause `report:weekly`,
`report:warnings`). Supervisors are told on the console's reports page (an audit line)
and, when the agents' Telegram group is set up, by a post in its General topic, in the
language most supervisors use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from bot.channels.telegram_group import CHANNEL as GROUP_CHANNEL
from bot.channels.telegram_group import Post
from bot.config import Settings
from bot.i18n import N_, Translator
from bot.jobs import JobTurn, job_handler
from services.reports import Report, Span, Warning, Window, build
from storage import agent_group, jobs
from storage import reports as store
from storage.db import Store, StoreConnection
from storage.handoff import record


@dataclass(slots=True)
class _Config:
    thresholds: dict[Window, int] = field(default_factory=dict)
    group: str | None = None  # the agents' Telegram group, if any
    timezone: str = "UTC"
    loaded: bool = False


_config = _Config()  # set by `configure`; else read from the settings when first needed (a job worker process)


class ReportJob(StrEnum):
    WEEKLY = "report.weekly"
    WARNINGS = "report.warnings"


EVERY = {ReportJob.WEEKLY: timedelta(days=7), ReportJob.WARNINGS: timedelta(days=1)}


def configure(settings: Settings) -> None:
    """The early warning's thresholds (settings EARLY_WARNING_*) and where supervisors are told."""
    _config.thresholds = {Window(k): v for k, v in settings.early_warning_thresholds().items()}
    _config.group, _config.timezone, _config.loaded = settings.agent_group_id, settings.company_timezone, True


def _configured() -> _Config:
    if not _config.loaded:
        configure(Settings())
    return _config


def thresholds() -> dict[Window, int]:
    return dict(_configured().thresholds)


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
            await _tell_the_group(conn, now, partial(warning_text, warning=w))
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
    await _tell_the_group(turn.conn, turn.now, lambda t: weekly_text(t, report))
    await check_warnings(turn.conn, turn.now)
    await jobs.schedule(turn.conn, ReportJob.WEEKLY, turn.now + EVERY[ReportJob.WEEKLY], cause="report:report.weekly")


# --- telling the supervisors in the agents' group -----------------------------------------


async def _tell_the_group(conn: StoreConnection, now: datetime, text: Callable[[Translator], str]) -> None:
    """A post in the group's General topic, in this job's transaction (none without a group)."""
    config = _configured()
    if not config.group:
        return
    t = Translator(await agent_group.supervisors_locale(conn), config.timezone)
    payload = {"text": text(t), "group": {"post": Post.GENERAL.value}}
    await agent_group.post(conn, GROUP_CHANNEL, config.group, None, payload, now)


def weekly_text(t: Translator, report: Report) -> str:
    tickets = sum(int(n) for _k, n in report.table("by_kind").rows)
    plans = report.table("surveys_by_plan").rows
    asked, answered = sum(int(row[1]) for row in plans), sum(int(row[2]) for row in plans)
    last_day = (report.end - timedelta(seconds=1)).astimezone(t.tz).date()
    return "\n".join((
        t._("📊 Weekly report, %(first)s – %(last)s", first=t.day(report.start.astimezone(t.tz).date()), last=t.day(last_day)),
        t._("Tickets: %(count)d", count=tickets),
        t._("Surveys answered: %(answered)d of %(asked)d", answered=answered, asked=asked),
        t._("Early warnings: %(count)d", count=len(report.warnings)),
        t._("The tables and charts are on the console's Reports page."),
    ))


_WITHIN = {  # whole sentences: the window's name takes another case in some languages
    Window.MONTH: N_("Tickets within a month: %(count)d (threshold %(threshold)d)"),
    Window.QUARTER: N_("Tickets within a quarter: %(count)d (threshold %(threshold)d)"),
    Window.YEAR: N_("Tickets within a year: %(count)d (threshold %(threshold)d)"),
}


def warning_text(t: Translator, warning: Warning) -> str:
    return "\n".join((
        t._("⚠️ Early warning: %(model)s, fault “%(category)s”", model=warning.model, category=warning.category),
        t._(_WITHIN[warning.window], count=warning.count, threshold=warning.threshold),
        t._("Tickets: %(numbers)s", numbers=", ".join(warning.tickets)),
    ))
