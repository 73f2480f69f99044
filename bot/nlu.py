"""Typed messages understood with the company's data, and `aftersales nlu eval`.

`understand` joins the intent recogniser (services/intents.py) with the details
(services/entities.py) and what the catalogue knows: a product or serial named
alone means a repair, a ticket number the customer's tickets.
"""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from bot.core.language import from_text
from services.entities import TICKET_RE, Details, ProductTerms, find_details
from services.intents import Intent, Recogniser, Recognition

PRODUCT_ALONE = 0.5  # a product or serial named with nothing else: probably a repair, ask
DAY_NAMED = 1.0  # "tomorrow evening?", "мастера в пятницу?": about a visit (a fault makes it a repair)
# A day named in other requests is when something happened, not a visit wanted ("nobody came on Tuesday").
DAY_FOR = {Intent.REPAIR, Intent.VISIT, Intent.OTHER}
NO_PRODUCT = {Intent.LANGUAGE, Intent.GREETING, Intent.THANKS, Intent.CANCEL, Intent.MY_DATA, Intent.STOP_SURVEYS,
              Intent.RESUME_SURVEYS}
TICKET_NUMBER = 1.0  # "R-2026-000042 where is it": the customer's tickets


@dataclass
class Understood:
    locale: str
    recognition: Recognition
    details: Details

    @property
    def intent(self) -> Intent:
        return self.recognition.intent


def understand(recogniser: Recogniser, terms: ProductTerms, text: str, locale: str | None, *,
               today: date, default_region: str) -> Understood:
    """`text`'s intent and details; `locale` None: detected from the text (English if it does not tell)."""
    locale = locale or from_text(text) or "en"
    details = find_details(text, locale, terms, today=today, when=recogniser.data.when, default_region=default_region,
                           parts=recogniser.data.product_part_words, address=recogniser.data.addresses)
    extra: dict[Intent, tuple[float, str]] = {}
    if TICKET_RE.search(text):
        extra[Intent.TICKETS] = (TICKET_NUMBER, "a ticket number")
    if details.product_line or details.serial:
        extra[Intent.REPAIR] = (PRODUCT_ALONE, f"product {details.product_line or details.serial} named")
    if details.day:
        extra[Intent.VISIT] = (DAY_NAMED, "a day named")
    recognition = recogniser.recognise(text, extra=extra)
    if details.day and recognition.intent not in DAY_FOR:
        details = replace(details, day=None, part=None)
    if recognition.intent in NO_PRODUCT:  # "switch to Russian" names no network switch
        details = replace(details, product_line=None, model=None)
    return Understood(locale, recognition, details)


def explain(recogniser: Recogniser, terms: ProductTerms, text: str, locale: str | None, *,
            today: date, default_region: str) -> list[str]:
    """For an operator: the intent, every term that counted (data/intents.yaml), the details."""
    got = understand(recogniser, terms, text, locale, today=today, default_region=default_region)
    scores = ", ".join(f"{i.value} {got.recognition.scores[i]:.2f}" for i in got.recognition.ranked()) or "none"
    found = {name: getattr(got.details, name) for name in ENTITIES if getattr(got.details, name)}
    return [
        f"language: {got.locale}{'' if locale else ' (from the text)'}",
        f"intent: {got.intent.value} ({'sure: acted on' if got.recognition.sure else 'unsure: the customer is asked'})",
        f"scores: {scores}",
        *(f"  {reason}" for reason in got.recognition.why),
        "details: " + (", ".join(f"{k} {v}" for k, v in found.items()) or "none"),
    ]


def warm_up(recogniser: Recogniser, terms: ProductTerms, today: date, default_region: str) -> None:
    """Load what is loaded once per process (each region's phone-number metadata), so that
    timings are of messages, not of start-up."""
    for locale, text in (("en", "+44 7911 123456"), ("ru", "89123456789"), ("zh_Hans", "13812345678"),
                         ("zh_Hant", "0912 345 678"), ("ka", "599 12 34 56")):
        understand(recogniser, terms, text, locale, today=today, default_region=default_region)


# --- evaluation -------------------------------------------------------------------------------

ENTITIES = ("serial", "phone", "product_line", "model", "when", "address")


@dataclass
class Report:
    total: Counter[str] = field(default_factory=Counter)  # per language
    right: Counter[str] = field(default_factory=Counter)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    entity: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # name -> tp/fp/fn
    person: Counter[str] = field(default_factory=Counter)  # asked / recognised
    millis: list[float] = field(default_factory=list)  # wall time per message
    cpu: list[float] = field(default_factory=list)  # this thread's CPU time per message

    def accuracy(self, language: str | None = None) -> float:
        if language is None:
            return sum(self.right.values()) / max(1, sum(self.total.values()))
        return self.right[language] / max(1, self.total[language])

    def prf(self, name: str | None = None) -> tuple[float, float, float]:
        c: Counter[str] = Counter()
        for n, counts in self.entity.items():
            if name is None or n == name:
                c.update(counts)
        p = c["tp"] / max(1, c["tp"] + c["fp"])
        r = c["tp"] / max(1, c["tp"] + c["fn"])
        return p, r, 2 * p * r / (p + r) if p + r else 0.0

    @staticmethod
    def p99(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    def lines(self) -> Iterable[str]:
        yield "intent accuracy"
        for language in sorted(self.total):
            yield f"  {language:8} {self.accuracy(language):6.1%}  ({self.right[language]}/{self.total[language]})"
        yield f"  {'overall':8} {self.accuracy():6.1%}  ({sum(self.right.values())}/{sum(self.total.values())})"
        yield f"requests for a person recognised: {self.person['recognised']}/{self.person['asked']}"
        yield "entities      precision  recall     F1"
        for name in [*ENTITIES, None]:
            if name is None or self.entity.get(name):
                p, r, f = self.prf(name)
                yield f"  {name or 'all':12} {p:6.1%}   {r:6.1%}  {f:6.3f}"
        yield (f"time per message: CPU p99 {self.p99(self.cpu):.2f} ms, wall p99 {self.p99(self.millis):.2f} ms "
               f"(wall counts the machine's other work too)")
        if self.confusions:
            yield "confusions (expected -> got: count, examples)"
            for (want, got), n in self.confusions.most_common():
                yield f"  {want} -> {got}: {n}  " + " | ".join(self.examples[(want, got)][:3])


def _entity(report: Report, name: str, want: str, got: str | None) -> None:
    counts = report.entity[name]
    if name == "address":  # as written, but spacing, case and end punctuation do not matter
        want, got = _plain(want), _plain(got) if got else got
    if got and want and got == want:
        counts["tp"] += 1
        return
    if got:
        counts["fp"] += 1
    if want:
        counts["fn"] += 1


def _plain(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .,")


def evaluate(path: Path, recogniser: Recogniser, terms: ProductTerms, *, today: date, default_region: str) -> Report:
    """Read rows `locale,text,intent[,serial,phone,product_line,model,when]` and score them."""
    report = Report()
    warm_up(recogniser, terms, today, default_region)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"locale", "text", "intent"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        columns = [name for name in ENTITIES if name in (reader.fieldnames or ())]
        for number, row in enumerate(reader, start=2):
            try:
                want = Intent(row["intent"].strip())
            except ValueError:
                raise ValueError(f"{path}: line {number}: unknown intent {row['intent']!r}") from None
            locale = row["locale"].strip() or None
            started, started_cpu = time.perf_counter(), time.thread_time()
            got = understand(recogniser, terms, row["text"], locale, today=today, default_region=default_region)
            report.millis.append((time.perf_counter() - started) * 1000)
            report.cpu.append((time.thread_time() - started_cpu) * 1000)
            language = locale or "(none)"
            report.total[language] += 1
            if got.intent is want:
                report.right[language] += 1
            else:
                report.confusions[(want.value, got.intent.value)] += 1
                report.examples[(want.value, got.intent.value)].append(row["text"])
            if want is Intent.PERSON:
                report.person["asked"] += 1
                report.person["recognised"] += got.intent is Intent.PERSON
            for name in columns:
                _entity(report, name, (row.get(name) or "").strip(), getattr(got.details, name))
    return report
