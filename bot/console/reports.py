"""The supervisors' reports page (domain.md §6): tables, server-rendered SVG charts, CSV exports.

Every view asks `allowed(role, Permission.REPORTS)` through the console's `_require`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp_jinja2
from aiohttp import web

from bot.console.charts import CHARTS, render
from bot.i18n import N_
from services.permissions import Permission
from services.reports import ADVICE as ADVICE
from services.reports import WINDOW_NAMES as WINDOW_NAMES
from services.reports import Span, Window
from services.surveys import SurveyStatus
from storage import reports as store
from storage.db import Store

if TYPE_CHECKING:
    from bot.console.web import Console

SURVEY_STATUSES = {
    SurveyStatus.SCHEDULED: N_("scheduled"), SurveyStatus.ASKING: N_("waiting for answers"),
    SurveyStatus.ANSWERED: N_("answered"), SurveyStatus.PROBLEM: N_("found a problem"),
    SurveyStatus.SKIPPED: N_("not asked: the customer opted out"),
    SurveyStatus.UNDELIVERABLE: N_("not sent: the channel's reply window was closed"),
    SurveyStatus.EXPIRED: N_("no answer"),
}
DEFAULT_THRESHOLDS = {Window.MONTH: 3, Window.QUARTER: 6, Window.YEAR: 12}


def _span(request: web.Request) -> Span:
    value = request.query.get("span", Span.WEEKLY.value)
    return Span(value) if value in Span._value2member_map_ else Span.WEEKLY


class ReportCache:
    """One report per span and minute: the page, its three charts and its CSV exports are
    separate requests, and a year of tickets takes a while to count (bench/reports.py)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Span, datetime], store.Report] = {}

    async def get(self, engine: Store, span: Span, now: datetime, thresholds: dict[Window, int],
                  engineers: Mapping[str, str] | None = None) -> store.Report:
        end = now.replace(second=0, microsecond=0)
        key = (span, end)
        if key not in self._kept:
            self._kept = {k: v for k, v in self._kept.items() if k[1] == end}  # older minutes go
            self._kept[key] = await store.report(engine, span, end, thresholds, engineers)
        return self._kept[key]


async def _report(console: Console, request: web.Request) -> store.Report:
    roster = console.company.roster
    return await console.report_cache.get(console.engine, _span(request), console.clock(), console.report_thresholds,
                                          roster.names() if roster else None)


async def page(console: Console, request: web.Request) -> web.Response:
    console._require(request, Permission.REPORTS)
    report = await _report(console, request)
    async with console.engine.connect() as conn:
        awaiting = await store.awaiting_verification(conn)
        unsent = await store.not_sent(conn)
    return aiohttp_jinja2.render_template("reports.html", request, console._context(
        request, report=report, span=report.span.value, spans=[s.value for s in Span], charts=CHARTS,
        awaiting=awaiting, unsent=unsent, window_names=WINDOW_NAMES, notices=await store.notices(console.engine),
    ))


async def service_record(console: Console, customer_id: int) -> store.ServiceRecord:
    """The customer's return visits and maintenance summary, for the customer file beside a conversation."""
    return await store.service_record(console.engine, customer_id, console.clock())


async def recent_warnings(engine: Store, now: datetime) -> list[dict[str, object]]:
    """Early warnings raised in the last 30 days, for the supervisors' page (the alert)."""
    return [detail for kind, at, detail in await store.notices(engine, 50)
            if kind == store.Notice.EARLY_WARNING and now - at <= timedelta(days=30)]


async def csv_export(console: Console, request: web.Request) -> web.StreamResponse:
    console._require(request, Permission.REPORTS)
    report = await _report(console, request)
    key = request.match_info["key"]
    try:
        table = report.table(key)
    except StopIteration:
        raise web.HTTPNotFound(text="no such table") from None
    stamp = report.end.strftime("%Y%m%d")
    return web.Response(body=table.to_csv().encode("utf-8-sig"), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{key}-{report.span.value}-{stamp}.csv"'})


async def chart(console: Console, request: web.Request) -> web.StreamResponse:
    console._require(request, Permission.REPORTS)
    name = request.match_info["name"]
    if name not in CHARTS:
        raise web.HTTPNotFound(text="no such chart")
    report = await _report(console, request)
    t = console._context(request)["t"]
    return web.Response(body=render(name, report, t._), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})
