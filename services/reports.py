"""Service reports (domain.md §6) from plain records: no I/O.

A report covers a period [start, end): tickets by kind, product line, model and
fault category; service-time promises kept per SLA class; survey answer rate and
average rating per plan, per person and per engineer; complaints open / awaiting verification /
verified; and the early warning: a fault that recurs on one model within a month,
a quarter or a year beyond a threshold. Every table is a `Table` that renders as
HTML, exports as CSV and reads back from it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.handoff import TicketKind, TicketStatus
from services.periods import add_months

NONE = "-"  # a missing value in a table (no product line, no category)

def N_(message: str) -> str:
    """Marks a table's title or heading for the catalogs; the console translates it."""
    return message


class Span(StrEnum):
    """A report's period, and the early warning's windows."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Window(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


WINDOW_DAYS = {Window.MONTH: 30, Window.QUARTER: 91, Window.YEAR: 365}
WINDOW_NAMES = {Window.MONTH: N_("month"), Window.QUARTER: N_("quarter"), Window.YEAR: N_("year")}


@dataclass(frozen=True, slots=True)
class TicketFact:
    id: int
    number: str
    kind: str
    status: str
    created_at: datetime
    product_line: str | None = None
    model: str | None = None
    category: str | None = None
    sla_class: str | None = None
    first_response_due: datetime | None = None
    first_response_at: datetime | None = None
    onsite_due: datetime | None = None
    onsite_at: datetime | None = None  # when an engineer first stood at the door (the visit desk records it)
    resolution: str | None = None
    onsite_chosen_until: datetime | None = None  # the end of a later window the customer chose: their own promise

    @property
    def onsite_promised(self) -> datetime | None:
        """When the engineer must be there: our promise, or the later window the customer chose."""
        if self.onsite_due is None or self.onsite_chosen_until is None:
            return self.onsite_due
        return max(self.onsite_due, self.onsite_chosen_until)


@dataclass(frozen=True, slots=True)
class SurveyFact:
    plan: str
    status: str
    due_at: datetime
    rating: int | None = None
    served_by: str | None = None  # the agent (or team) who resolved the ticket
    engineer: str | None = None  # the engineer of the visit the survey asks about (their name)


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # the file name of its CSV export
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return out.getvalue()

    @classmethod
    def from_csv(cls, key: str, title: str, text: str) -> Table:
        rows = list(csv.reader(io.StringIO(text)))
        return cls(key, title, tuple(rows[0]), tuple(tuple(r) for r in rows[1:]))


@dataclass(frozen=True, slots=True)
class Warning:
    window: Window
    model: str
    category: str
    count: int
    threshold: int
    tickets: tuple[str, ...]  # their numbers, oldest first


@dataclass(frozen=True, slots=True)
class Report:
    span: Span
    start: datetime
    end: datetime
    tables: tuple[Table, ...]
    warnings: tuple[Warning, ...]
    weekly_volume: tuple[tuple[str, int], ...]  # (week start, tickets) for the chart
    sla_share: tuple[tuple[str, float | None, float | None], ...] = field(default=())  # class, first response %, on site %
    ratings: tuple[tuple[str, float | None], ...] = field(default=())  # plan, average rating

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def period(span: Span, end: datetime) -> tuple[datetime, datetime]:
    """The report's period ending at `end`: the 7 days, or the calendar month, before it."""
    if span is Span.WEEKLY:
        return end - timedelta(days=7), end
    start_day = add_months(end.date(), -1)
    return datetime.combine(start_day, end.timetz()), end


def _count_table(key: str, title: str, header: str, values: Iterable[str | None]) -> Table:
    counts = Counter(v or NONE for v in values)
    rows = tuple((name, str(n)) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return Table(key, title, (header, N_("tickets")), rows)


def _rating(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else NONE


def _share(kept: int, total: int) -> str:
    return f"{100 * kept / total:.0f}%" if total else NONE


def promises(tickets: Sequence[TicketFact], now: datetime) -> list[tuple[str, int, int, int, int]]:
    """Per SLA class: (class, first responses due, kept, on-site visits due, kept). A promise
    counts once it is due or met; one not yet due and not yet met is left out. On site: the
    engineer's first arrival, by our promise or within the later window the customer chose."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for t in tickets:
        cls = t.sla_class or NONE
        for due, done, i in ((t.first_response_due, t.first_response_at, 0), (t.onsite_promised, t.onsite_at, 2)):
            if due is None or (done is None and due > now):
                continue
            out[cls][i] += 1
            if done is not None and done <= due:
                out[cls][i + 1] += 1
    return [(cls, *values) for cls, values in sorted(out.items())]  # type: ignore[misc]


class By(StrEnum):
    """What survey figures are grouped by."""

    PLAN = "plan"
    PERSON = "person"  # the agent who resolved the ticket
    ENGINEER = "engineer"  # the engineer of the visit; surveys of tickets without a visit are left out


def survey_stats(surveys: Sequence[SurveyFact], by: By) -> list[tuple[str, int, int, float | None]]:
    """Per plan, person or engineer: (name, asked, answered, average rating). Asked: the question
    went out (answered, problem, expired, asking); answered: all questions answered."""
    asked: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    ratings: dict[str, list[int]] = defaultdict(list)
    for s in surveys:
        if by is By.ENGINEER and not s.engineer:
            continue
        name = {By.PLAN: s.plan, By.PERSON: s.served_by, By.ENGINEER: s.engineer}[by] or NONE
        if s.status in ("asking", "answered", "problem", "expired"):
            asked[name] += 1
        if s.status in ("answered", "problem"):
            answered[name] += 1
            if s.rating is not None:
                ratings[name].append(s.rating)
    return [(name, asked[name], answered[name], (sum(ratings[name]) / len(ratings[name])) if ratings[name] else None)
            for name in sorted(asked)]


def complaints(tickets: Sequence[TicketFact]) -> tuple[int, int, int]:
    """(open, awaiting verification, verified) complaints."""
    mine = [t for t in tickets if t.kind == TicketKind.COMPLAINT.value]
    open_ = sum(t.status in (TicketStatus.OPEN, TicketStatus.QUEUED, TicketStatus.ASSIGNED) for t in mine)
    awaiting = sum(t.status == TicketStatus.RESOLVED for t in mine)
    verified = sum(t.status == TicketStatus.CLOSED and t.resolution == "verified" for t in mine)
    return open_, awaiting, verified


def early_warnings(tickets: Sequence[TicketFact], end: datetime, thresholds: dict[Window, int]) -> list[Warning]:
    """Faults (repairs and complaints with a model) recurring on one model within each window
    ending at `end`: more than the window's threshold is flagged, with its tickets."""
    out = []
    for window, limit in thresholds.items():
        start = end - timedelta(days=WINDOW_DAYS[window])
        groups: dict[tuple[str, str], list[TicketFact]] = defaultdict(list)
        for t in tickets:
            if t.model and t.kind in (TicketKind.REPAIR, TicketKind.COMPLAINT) and start <= t.created_at < end:
                groups[(t.model, t.category or NONE)].append(t)
        for (model, category), found in sorted(groups.items()):
            if len(found) > limit:
                numbers = tuple(t.number for t in sorted(found, key=lambda t: (t.created_at, t.id)))
                out.append(Warning(window, model, category, len(found), limit, numbers))
    return out


def weekly_volume(tickets: Sequence[TicketFact], end: datetime, weeks: int = 8) -> list[tuple[str, int]]:
    """Tickets opened in each of the last `weeks` weeks before `end`."""
    out = []
    for i in range(weeks, 0, -1):
        start, stop = end - timedelta(days=7 * i), end - timedelta(days=7 * (i - 1))
        out.append((start.date().isoformat(), sum(start <= t.created_at < stop for t in tickets)))
    return out


def build(span: Span, end: datetime, tickets: Sequence[TicketFact], surveys: Sequence[SurveyFact],
          thresholds: dict[Window, int]) -> Report:
    """The report of `span` ending at `end`. `tickets`: at least a year back (for the warnings
    and the volume chart); `surveys`: those due in the period."""
    start, end = period(span, end)
    inside = [t for t in tickets if start <= t.created_at < end]
    served = [s for s in surveys if start <= s.due_at < end]
    kept = promises(inside, end)
    plans = survey_stats(served, By.PLAN)
    people = survey_stats(served, By.PERSON)
    engineers = survey_stats(served, By.ENGINEER)
    open_, awaiting, verified = complaints(tickets)
    tables: tuple[Table, ...] = (
        _count_table("by_kind", N_("Tickets by kind"), N_("kind"), (t.kind for t in inside)),
        _count_table("by_product_line", N_("Tickets by product line"), N_("product line"), (t.product_line for t in inside)),
        _count_table("by_model", N_("Tickets by model"), N_("model"), (t.model for t in inside)),
        _count_table("by_category", N_("Tickets by fault category"), N_("category"), (t.category for t in inside)),
        Table("promises", N_("Promises kept per SLA class"),
              (N_("SLA class"), N_("first responses due"), N_("kept"), N_("share"), N_("on-site visits due"), N_("kept"), N_("share")),
              tuple((c, str(fd), str(fk), _share(fk, fd), str(od), str(ok), _share(ok, od)) for c, fd, fk, od, ok in kept)),
        Table("surveys_by_plan", N_("Surveys per plan"), (N_("plan"), N_("asked"), N_("answered"), N_("answer rate"), N_("average rating")),
              tuple((n, str(a), str(b), _share(b, a), _rating(r)) for n, a, b, r in plans)),
        Table("surveys_by_person", N_("Surveys per person who served"), (N_("served by"), N_("asked"), N_("answered"), N_("answer rate"), N_("average rating")),
              tuple((n, str(a), str(b), _share(b, a), _rating(r)) for n, a, b, r in people)),
        Table("surveys_by_engineer", N_("Surveys per engineer"), (N_("engineer"), N_("asked"), N_("answered"), N_("answer rate"), N_("average rating")),
              tuple((n, str(a), str(b), _share(b, a), _rating(r)) for n, a, b, r in engineers)),
        Table("complaints", N_("Complaints"), (N_("open"), N_("awaiting verification"), N_("verified")), ((str(open_), str(awaiting), str(verified)),)),
    )
    warnings = early_warnings(tickets, end, thresholds)
    tables += (Table("early_warnings", N_("Early warnings"), (N_("window"), N_("model"), N_("category"), N_("tickets"), N_("threshold"), N_("numbers")),
                     tuple((w.window.value, w.model, w.category, str(w.count), str(w.threshold), " ".join(w.tickets))
                           for w in warnings)),)
    share = tuple((c, (100 * fk / fd) if fd else None, (100 * ok / od) if od else None) for c, fd, fk, od, ok in kept)
    return Report(span, start, end, tables, tuple(warnings), tuple(weekly_volume(tickets, end)), share,
                  tuple((n, r) for n, _a, _b, r in plans))


# Advice from a customer's maintenance record, in their words (the agent sees the same).
ADVICE = {
    "repeated_repairs": N_("Your unit needed repairs more than once this year. We recommend an inspection visit; choose Talk to a person to book one."),
    "periodic_check": N_("Within the warranty you are entitled to a free check every 3 months; choose Talk to a person to book one."),
    "open_requests": N_("Some of your requests are still open; we will keep you informed here."),
}


def maintenance_summary(tickets: Sequence[TicketFact], now: datetime) -> tuple[dict[str, int], list[str]]:
    """A customer's maintenance record in brief (tickets per kind) and advice keys
    (§6: summarise each customer's record and advise them); the caller words the advice."""
    kinds = Counter(t.kind for t in tickets)
    advice = []
    recent = [t for t in tickets if t.kind == TicketKind.REPAIR and now - t.created_at <= timedelta(days=365)]
    models = Counter(t.model for t in recent if t.model)
    if any(n >= 2 for n in models.values()):
        advice.append("repeated_repairs")  # the same model repaired twice in a year: an inspection visit
    if not recent:
        advice.append("periodic_check")  # in warranty: a free check every 3 months (§4)
    if any(t.status in (TicketStatus.OPEN, TicketStatus.QUEUED, TicketStatus.ASSIGNED) for t in tickets):
        advice.append("open_requests")
    return dict(kinds), advice
