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

from services.contact import find_phone, region_for_locale
from services.intents import PartOfDay, WhenTerms, spaceless, words
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

    def line(self, text: str) -> str | None:
        found = self._lines.best(text)
        if found:
            return found if isinstance(found, str) else None
        tokens = [w for w in words(text) if len(w) >= INFLECTED_MIN]
        meant = {line for w in tokens
                 for match, _score, _k in process.extract(w, self._single_words, scorer=fuzz.ratio,
                                                         score_cutoff=INFLECTED_SCORE, limit=None)
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

    def best(self, text: str) -> Any:
        """The target of the longest term in `text`; AMBIGUOUS when two targets tie; None."""
        tokens = words(text)
        joined = "".join(tokens)
        found: dict[Any, int] = {}
        for run, target in self._chinese:
            if run in joined:
                found[target] = max(found.get(target, 0), len(run) * 2)  # a character is about a word
        for i, token in enumerate(tokens):
            for parts, target in self._by_first.get(token, ()):
                if tokens[i : i + len(parts)] == parts:
                    found[target] = max(found.get(target, 0), sum(map(len, parts)))
        if not found:
            return None
        size = max(found.values())
        best = [target for target, n in found.items() if n == size]
        return best[0] if len(best) == 1 else AMBIGUOUS


AMBIGUOUS = object()


def find_when(text: str, terms: WhenTerms, today: date) -> tuple[date | None, PartOfDay | None]:
    """A day ("послезавтра", counted from `today`, the customer's today) and a part of it ("утром");
    the longest term wins ("day after tomorrow" over "tomorrow")."""
    tokens = words(text)
    joined = "".join(tokens)
    day: date | None = None
    part: PartOfDay | None = None
    best_day = best_part = 0
    for parts, chinese, value in terms.terms:
        size = len(parts[0]) * 2 if chinese else sum(map(len, parts))
        if size <= (best_part if isinstance(value, PartOfDay) else best_day):
            continue
        if chinese:
            found = parts[0] in joined
        else:
            n = len(parts)
            found = any(tokens[i : i + n] == list(parts) for i in range(len(tokens) - n + 1))
        if not found:
            continue
        if isinstance(value, PartOfDay):
            part, best_part = value, size
        else:
            day, best_day = today + timedelta(days=value), size
    return day, part


def find_details(text: str, locale: str, catalog: ProductTerms, *, today: date, when: WhenTerms,
                 default_region: str) -> Details:
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
    line = line or catalog.line(text)
    model_line, model = catalog.model(text, line) or (None, None)
    line = line or model_line
    day, part = find_when(text, when, today)
    return Details(serial, phone, line, model, day, part)
