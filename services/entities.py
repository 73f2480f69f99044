"""The details a customer gives in the same message: serial, phone, product, model, day.

"кондиционер HA2403000123 течёт, позвоните +7 912 345-67-89 завтра утром" gives
the serial, the phone, the line (by its serial, else by its names and synonyms in
data/products.yaml), and tomorrow morning in the customer's time zone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from services.address import AddressFinder
from services.contact import find_phone, region_for_locale
from services.intents import PartOfDay, WhenKind, WhenTerm, WhenTerms, spaceless, words
from services.serials import find_serial, normalize

# A ticket number, also with Chinese right after it (no word boundary there): "R-2026-000042处理到哪了".
TICKET_RE = re.compile(r"(?<![A-Za-z0-9])[RCHWV]-\d{4}-\d{6}(?!\d)", re.IGNORECASE)
INFLECTED_MIN, INFLECTED_SCORE = 6, 80  # "кондиционер" ~ "кондиционера"


@dataclass(frozen=True, slots=True)
class Details:
    serial: str | None = None
    phone: str | None = None
    product_line: str | None = None
    model: str | None = None
    day: date | None = None
    part: PartOfDay | None = None
    address: str | None = None

    @property
    def when(self) -> str | None:
        """`2026-12-04 morning`, `2026-12-04`, or None (the eval's form)."""
        if self.day is None:
            return None
        return f"{self.day.isoformat()} {self.part.value}" if self.part else self.day.isoformat()


class ProductTerms:
    """What the catalogue knows, as plain data, indexed once: line id -> serial prefix and
    names/synonyms; (line id, model code) -> model names. Whole words (Chinese: a run of
    characters); the longest name found wins; two lines at once: none."""

    def __init__(self, prefixes: Mapping[str, str], lines: Mapping[str, Iterable[str]],
                 models: Mapping[tuple[str, str], Iterable[str]]) -> None:
        self.prefixes = dict(prefixes)
        self._lines = _Index((term, line_id) for line_id, terms in lines.items() for term in terms)
        self._models = _Index((name, key) for key, names in models.items() for name in names)
        self._codes = [(_squeeze(code), key) for key in models for code in [key[1]] if len(_squeeze(code)) >= 4]
        # One-word names, for another ending or a typo ("кондиционера", "კონდიციონერს").
        self._single: dict[str, list[str]] = defaultdict(list)
        for line_id, terms in lines.items():
            for term in terms:
                parts = words(term)
                if len(parts) == 1 and len(parts[0]) >= INFLECTED_MIN and not spaceless(term):
                    self._single[parts[0]].append(line_id)
        self._single_words = sorted(self._single)

    def line(self, text: str, parts: frozenset[str] = frozenset()) -> str | None:
        """The line named in `text`; a line named only by a part word (`parts`, "screen") gives
        way to another line named too ("the screen of my laptop", "экран ноутбука")."""
        found = self._lines.found(text)
        named = {line: how for line, how in found.items() if not how[1] <= parts}
        if not named:
            inflected = self._inflected(text, parts)
            if inflected or not found:
                return inflected
            named = found
        size = max(n for n, _terms in named.values())
        best = [line for line, (n, _terms) in named.items() if n == size]
        return best[0] if len(best) == 1 else None

    def _inflected(self, text: str, parts: frozenset[str]) -> str | None:
        """A one-word name with another ending or a typo ("кондиционера"), if only one line fits."""
        tokens = [w for w in words(text) if len(w) >= INFLECTED_MIN]
        meant = {line for w in tokens
                 for match, _score, _k in process.extract(w, self._single_words, scorer=fuzz.ratio,
                                                         score_cutoff=INFLECTED_SCORE, limit=None)
                 if match not in parts
                 for line in self._single[match]}
        return meant.pop() if len(meant) == 1 else None

    def model(self, text: str, line: str | None) -> tuple[str, str] | None:
        """A model named by its code ("KFR-35GW", "kfr35gw") or its whole name, of `line` if known."""
        squeezed = _squeeze(text)
        for code, key in self._codes:
            if code in squeezed and (line is None or key[0] == line):
                return key
        found = self._models.best(text)
        return found if isinstance(found, tuple) and (line is None or found[0] == line) else None


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-_]", "", text).casefold()


class _Index:
    """Terms (names) to targets, found as whole words or a run of Chinese characters."""

    def __init__(self, entries: Iterable[tuple[str, Any]]) -> None:
        self._chinese: list[tuple[str, Any]] = []
        self._by_first: dict[str, list[tuple[list[str], Any]]] = defaultdict(list)
        for term, target in entries:
            parts = words(term)
            if not parts:
                continue
            if spaceless(term):
                self._chinese.append(("".join(parts), target))
            else:
                self._by_first[parts[0]].append((parts, target))

    def found(self, text: str) -> dict[Any, tuple[int, set[str]]]:
        """Each target named in `text`: the size of its longest term, and its terms found (folded)."""
        tokens = words(text)
        joined = "".join(tokens)
        found: dict[Any, tuple[int, set[str]]] = {}

        def add(target: Any, size: int, term: str) -> None:
            n, terms = found.get(target, (0, set()))
            found[target] = (max(n, size), terms | {term})

        if self._chinese and spaceless(text):
            for run, target in self._chinese:
                if run in joined:
                    add(target, len(run) * 2, run)  # a character is about a word
        for i, token in enumerate(tokens):
            for parts, target in self._by_first.get(token, ()):
                if tokens[i : i + len(parts)] == parts:
                    add(target, sum(map(len, parts)), "".join(parts))
        return found

    def best(self, text: str) -> Any:
        """The target of the longest term in `text`; AMBIGUOUS when two targets tie; None."""
        found = self.found(text)
        if not found:
            return None
        size = max(n for n, _terms in found.values())
        best = [target for target, (n, _terms) in found.items() if n == size]
        return best[0] if len(best) == 1 else AMBIGUOUS


AMBIGUOUS = object()


def find_when(text: str, terms: WhenTerms, today: date) -> tuple[date | None, PartOfDay | None]:
    """A day ("послезавтра", "в пятницу", "下周二": counted from `today`, the customer's today) and
    a part of it ("утром"); the longest term of each wins ("day after tomorrow" over "tomorrow")."""
    chinese, by_word = terms.index
    past_words, past_runs = terms.past_words
    tokens = words(text)
    found: list[WhenTerm] = []
    for i, token in enumerate(tokens):
        for term in by_word.get(token, ()):
            if tuple(tokens[i : i + len(term.parts)]) == term.parts:
                if not (term.kind is WhenKind.WEEKDAY and i and tokens[i - 1] in past_words):  # "since Monday"
                    found.append(term)
    if spaceless(text):
        joined = "".join(tokens)
        for i, ch in enumerate(joined):
            for term in chinese.get(ch, ()):
                if joined.startswith(term.parts[0], i):
                    if not (term.kind is WhenKind.WEEKDAY and _after(joined, i, past_runs)):
                        found.append(term)
    best: dict[WhenKind, WhenTerm] = {}
    for term in found:
        kind = WhenKind.DAYS if term.kind is WhenKind.WEEKDAY else term.kind  # one day: the longer term
        if kind not in best or term.size > best[kind].size:
            best[kind] = term
    day: date | None = None
    if (named := best.get(WhenKind.DAYS)) is not None:
        day = today + timedelta(days=_days_ahead(named, today, WhenKind.NEXT_WEEK in best))
    part = best.get(WhenKind.PART)
    return day, part.value if part is not None and isinstance(part.value, PartOfDay) else None


def _after(joined: str, at: int, runs: tuple[str, ...]) -> bool:
    """One of `runs` starts just before `at` (it may share a character: "上周" in "上周五")."""
    return any(joined.find(run, max(0, at - len(run)), at - 1 + len(run)) != -1 for run in runs)


def _days_ahead(term: WhenTerm, today: date, next_week: bool) -> int:
    assert isinstance(term.value, int)
    if term.kind is WhenKind.DAYS:
        return term.value
    if next_week:  # the weekday of the next calendar week (Monday to Sunday)
        return 7 - today.isoweekday() + term.value
    return (term.value - today.isoweekday()) % 7 or 7  # the next one after today


def find_details(text: str, locale: str, catalog: ProductTerms, *, today: date, when: WhenTerms,
                 default_region: str, parts: frozenset[str] = frozenset(), address: AddressFinder | None = None) -> Details:
    info = find_serial(text)
    serial = info.serial if info and info.prefix in catalog.prefixes.values() else None
    rest = TICKET_RE.sub(" ", text)  # a ticket number is no phone number either
    if info:  # the serial's digits are no phone number
        rest = re.sub(r"[\s\-]", " ", rest)
        for token in rest.split():
            if normalize(token).endswith(info.serial[2:]) or normalize(token) == info.serial:
                rest = rest.replace(token, " ")
    phone = find_phone(rest, region_for_locale(locale, default_region))
    line = next((lid for lid, prefix in catalog.prefixes.items() if serial and serial.startswith(prefix)), None)
    line = line or catalog.line(text, parts)
    model_line, model = catalog.model(text, line) or (None, None)
    line = line or model_line
    day, part = find_when(text, when, today)
    return Details(serial, phone, line, model, day, part, address.find(text) if address else None)
