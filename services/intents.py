"""What a customer means by what they typed: an intent, with the reasons for it.

Terms per intent and language come from data/intents.yaml (see its header). Each
term found in the message adds its size to its intent (words in it; Chinese:
half its characters), typo matches a little less; the highest score wins, ties go
by `PRIORITY`. Every score carries the terms that made it, for the log and for
an operator asking "why". No model, no downloads: a message costs some dozen
dictionary look-ups and a few rapidfuzz calls (bench/nlu.py).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from rapidfuzz import process
from rapidfuzz.distance import OSA

from services.address import AddressFinder
from services.datafile import load_model, problem

log = logging.getLogger(__name__)

# The bot's languages (bot/locales.py; services do not import the bot).
LOCALES = ("en", "zh_Hans", "zh_Hant", "ka", "ru")
DEFAULT_INTENTS_PATH = Path(__file__).resolve().parent.parent / "data" / "intents.yaml"


class Intent(StrEnum):
    REPAIR = "repair"
    COMPLAINT = "complaint"
    WARRANTY = "warranty"
    VISIT = "visit"
    PERSON = "person"
    TICKETS = "tickets"
    MY_DATA = "my_data"
    LANGUAGE = "language"
    GREETING = "greeting"
    THANKS = "thanks"
    CANCEL = "cancel"
    STOP_SURVEYS = "stop_surveys"  # "no more surveys" (handlers/survey.py), typed instead of the button
    RESUME_SURVEYS = "resume_surveys"  # undoes it
    OTHER = "other"


class PartOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


# Ties between intents go to the first of these: a request for a person must never be lost.
PRIORITY = (Intent.PERSON, Intent.STOP_SURVEYS, Intent.RESUME_SURVEYS, Intent.CANCEL, Intent.COMPLAINT, Intent.WARRANTY, Intent.VISIT, Intent.TICKETS,
            Intent.MY_DATA, Intent.LANGUAGE, Intent.REPAIR, Intent.THANKS, Intent.GREETING)
# Small talk counts half: "hi, my fridge is broken" is a repair.
SOCIAL = {Intent.GREETING: 0.5, Intent.THANKS: 0.5}
SURE = 0.8  # the least score of a recognised intent (small talk: its own weight)
TYPO = 0.85  # a term matched with a typo counts this much
FUZZY_MIN = 5  # words this long or longer match with a typo
TYPOS = 1  # edits allowed (optimal string alignment: a swap is one)
LOOSE, LOOSE_MIN = 0.9, 4  # a term's words in another order count this much; only words this long
CANCEL_BESIDE = 0.4  # "cancel" beside another intent counts this much (below a one-word term) ("I don't want to talk to a bot")
WORD_CACHE = 50_000
IN_FORM = {Intent.PERSON, Intent.CANCEL}  # the intents that act in the middle of a form
IN_FORM_MAX_WORDS = 8  # longer than this, a message in a form is an answer

# Words; a run of Chinese characters is a word of its own, also glued to Latin ("UPS一直在叫").
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\W\u3400-\u9fff\uf900-\ufaff]+")
_TERM_WORD = re.compile(r"[^\W_]+\*?|\d+")


def fold(text: str) -> str:
    """Case, ё/е and typographic apostrophes do not matter."""
    return text.casefold().replace("ё", "е").replace("’", "'")


def spaceless(text: str) -> bool:
    """Chinese (written without spaces between words)."""
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


# --- the data file ------------------------------------------------------------------------


def _check_terms(v: dict[str, tuple[str, ...]], at: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    for loc, terms in v.items():
        if loc not in LOCALES:
            raise problem(f"unknown locale (expected {', '.join(LOCALES)})", (*at, loc))
        for i, term in enumerate(terms):
            if not words(term):
                raise problem("must contain a word", (*at, loc, i))
            if any("*" in w[:-1] for w in term.split()) or (spaceless(term) and "*" in term):
                raise problem("* may only end a word (and not in Chinese)", (*at, loc, i))
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class WhenKind(StrEnum):
    DAYS = "days"  # days from today
    WEEKDAY = "weekday"  # ISO weekday, 1 Monday .. 7 Sunday: the next one after today
    NEXT_WEEK = "next_week"  # puts the weekday in the next calendar week ("下周二")
    PART = "part"  # part of the day


@dataclass(frozen=True, slots=True)
class WhenTerm:
    parts: tuple[str, ...]  # folded words; one run of characters for Chinese
    chinese: bool
    kind: WhenKind
    value: int | PartOfDay

    @property
    def size(self) -> int:
        """How much of the message it covers: the longest of a kind wins ("послезавтра" over "завтра")."""
        return len(self.parts[0]) * 2 if self.chinese else sum(map(len, self.parts))


class WhenTerms(_Strict):
    days: dict[str, dict[str, int]]  # locale -> term -> days from today
    parts: dict[str, dict[str, PartOfDay]]  # locale -> term -> part of the day
    weekdays: dict[str, dict[str, int]] = {}  # locale -> term -> ISO weekday (1 Monday .. 7 Sunday)
    next_week: dict[str, tuple[str, ...]] = {}  # locale -> terms that put a weekday in next week
    past: dict[str, tuple[str, ...]] = {}  # locale -> words right before a weekday that put it in the past

    @field_validator("days", "parts", "weekdays", "next_week", "past")
    @classmethod
    def _locales(cls, v: dict[str, object], info: ValidationInfo) -> dict[str, object]:
        for loc, terms in v.items():
            if loc not in LOCALES:
                raise problem(f"unknown locale (expected {', '.join(LOCALES)})", (loc,))
            if not isinstance(terms, dict):
                continue
            for term, value in terms.items():
                if info.field_name == "days" and not 1 <= value <= 14:
                    raise problem("must be 1 to 14 days from today (visits are booked from tomorrow)", (loc, term))
                if info.field_name == "weekdays" and not 1 <= value <= 7:
                    raise problem("must be a weekday from 1 (Monday) to 7 (Sunday)", (loc, term))
        return v

    @cached_property
    def index(self) -> tuple[dict[str, list[WhenTerm]], dict[str, list[WhenTerm]]]:
        """Every term folded once, by its first character (Chinese) or first word (the rest)."""
        chinese: dict[str, list[WhenTerm]] = defaultdict(list)
        by_word: dict[str, list[WhenTerm]] = defaultdict(list)
        tables: list[tuple[WhenKind, dict[str, dict[str, Any]]]] = [
            (WhenKind.DAYS, self.days), (WhenKind.WEEKDAY, self.weekdays), (WhenKind.PART, self.parts),
            (WhenKind.NEXT_WEEK, {loc: dict.fromkeys(terms, 0) for loc, terms in self.next_week.items()}),
        ]
        for kind, table in tables:
            for terms in table.values():
                for text, value in terms.items():
                    folded = words(text)
                    if spaceless(text):
                        run = "".join(folded)
                        chinese[run[0]].append(WhenTerm((run,), True, kind, value))
                    else:
                        by_word[folded[0]].append(WhenTerm(tuple(folded), False, kind, value))
        return dict(chinese), dict(by_word)

    @cached_property
    def past_words(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """The `past` terms folded: (words, Chinese runs)."""
        terms = [term for per_locale in self.past.values() for term in per_locale]
        return (frozenset("".join(words(t)) for t in terms if not spaceless(t)),
                tuple("".join(words(t)) for t in terms if spaceless(t)))


class IntentsFile(_Strict):
    intents: dict[Intent, dict[str, tuple[str, ...]]]
    faults: dict[str, tuple[str, ...]]
    when: WhenTerms
    # Words for a part many products have ("screen"): another product named beside one is the one meant.
    product_parts: dict[str, tuple[str, ...]] = {}
    # Street words that mark an address (services/address.py).
    address: dict[str, tuple[str, ...]] = {}

    @cached_property
    def addresses(self) -> AddressFinder:
        return AddressFinder(term for terms in self.address.values() for term in terms)

    @cached_property
    def product_part_words(self) -> frozenset[str]:
        return frozenset("".join(words(term)) for terms in self.product_parts.values() for term in terms)

    @field_validator("intents")
    @classmethod
    def _intents(cls, v: dict[Intent, dict[str, tuple[str, ...]]]) -> dict[Intent, dict[str, tuple[str, ...]]]:
        for intent, terms in v.items():
            if intent is Intent.OTHER:
                raise problem("'other' is what matches no term: it has no terms", (intent.value,))
            _check_terms(terms, (intent.value,))
        return v

    @field_validator("faults", "product_parts", "address")
    @classmethod
    def _faults(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _check_terms(v)


def load_intents(path: Path = DEFAULT_INTENTS_PATH) -> Recogniser:
    """The recogniser for the terms in `path`; ValueError names the file, field and line of each problem."""
    return Recogniser(load_model(path, IntentsFile))


# --- recognising --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Term:
    intent: Intent
    text: str  # as written in the data file
    parts: tuple[str, ...]  # folded words ("ремонт*" a stem); one run of characters for Chinese
    fault: bool = False
    size: float = field(init=False)  # words in it; Chinese: half its characters

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.parts[0]) / 2 if spaceless(self.text) else float(len(self.parts)))


@dataclass
class Recognition:
    intent: Intent  # the best guess; OTHER: no term at all
    sure: bool  # False: ask the customer which they mean
    scores: dict[Intent, float]  # every intent with a term in the message
    why: list[str] = field(default_factory=list)  # "repair += 1.0 for 'не работает' (ru)"
    fault: bool = False  # a fault is described: the message is the fault description
    words: int = 0

    def ranked(self) -> list[Intent]:
        """Intents with a score, best first."""
        return sorted(self.scores, key=lambda i: (-self.scores[i], PRIORITY.index(i)))

    def explain(self) -> str:
        return f"{self.intent.value} ({'sure' if self.sure else 'unsure'}): " + ("; ".join(self.why) or "no term matched")


class Recogniser:
    def __init__(self, data: IntentsFile) -> None:
        self.data = data
        self._chinese: dict[str, list[_Term]] = defaultdict(list)  # by first character
        self._loose: list[_Term] = []  # terms of several content words, found in any order too
        self._by_first: dict[str, list[_Term]] = defaultdict(list)
        self._language: dict[str, str] = {}  # term text -> locale, for the explanation
        self._keys: set[tuple[Intent, tuple[str, ...], bool]] = set()
        for intent, per_locale in data.intents.items():
            for loc, terms in per_locale.items():
                for text in terms:
                    self._add(_Term(intent, text, self._parts(text)), loc)
        for loc, terms in data.faults.items():
            for text in terms:
                self._add(_Term(Intent.REPAIR, text, self._parts(text), fault=True), loc)
        vocab = {w for first in list(self._by_first) for t in self._by_first[first] for w in t.parts}
        self._exact = {w for w in vocab if not w.endswith("*")}
        self._stems: dict[int, set[str]] = defaultdict(set)
        for w in vocab - self._exact:
            self._stems[len(w) - 1].add(w[:-1])
        self._fuzzy_words: dict[str, list[str]] = defaultdict(list)
        for w in sorted(self._exact):
            if len(w) >= FUZZY_MIN:
                self._fuzzy_words[w[0]].append(w)
        # Words recur from message to message; a bounded cache (some MB) skips the fuzzy search.
        self._cached = lru_cache(maxsize=WORD_CACHE)(self._match_word)
        self._fuzzy_stems: dict[tuple[str, int], list[str]] = defaultdict(list)
        for n, stems in self._stems.items():
            for stem in sorted(stems):
                if n >= FUZZY_MIN:
                    self._fuzzy_stems[(stem[0], n)].append(stem)
        self._stem_lengths: dict[str, list[int]] = defaultdict(list)
        for first, n in sorted(self._fuzzy_stems):
            self._stem_lengths[first].append(n)

    @staticmethod
    def _parts(text: str) -> tuple[str, ...]:
        folded = fold(text)
        if spaceless(folded):
            return ("".join(_WORD.findall(folded)),)
        return tuple(_TERM_WORD.findall(folded))

    def _add(self, term: _Term, loc: str) -> None:
        key = (term.intent, term.parts, term.fault)
        if key in self._keys:  # the same in two languages (zh_Hans and zh_Hant), or ё and е
            return
        self._keys.add(key)
        self._language[term.text] = loc
        if spaceless(term.text):
            self._chinese[term.parts[0][0]].append(term)
        else:
            if len(term.parts) > 1 and all(len(part.rstrip("*")) >= LOOSE_MIN for part in term.parts):
                self._loose.append(term)
            self._by_first[term.parts[0]].append(term)

    def _match_word(self, word: str) -> dict[str, float]:
        """The data-file words `word` stands for, with how well (1, or TYPO for a typo)."""
        found = dict.fromkeys([word] if word in self._exact else [], 1.0)
        for n, stems in self._stems.items():
            if len(word) >= n and word[:n] in stems:
                found[word[:n] + "*"] = 1.0
        if found or len(word) < FUZZY_MIN:
            return found
        # One slip (a letter wrong, missing, added, or two swapped), never in the first letter:
        # "warrenty", "опреатором"; not "washing" for "flashing".
        for match, _d, _k in process.extract(word, self._fuzzy_words.get(word[0], ()), scorer=OSA.distance,
                                             score_cutoff=TYPOS, limit=None):
            found[match] = TYPO
        for n in self._stem_lengths.get(word[0], ()):
            if n > len(word) + 1:
                break
            choices = self._fuzzy_stems[(word[0], n)]
            for prefix in {word[: n - 1], word[:n], word[: n + 1]}:  # a letter missing or added
                for match, _d, _k in process.extract(prefix, choices, scorer=OSA.distance,
                                                     score_cutoff=TYPOS, limit=None):
                    found.setdefault(match + "*", TYPO)
        return found

    def recognise(self, text: str, *, extra: dict[Intent, tuple[float, str]] | None = None) -> Recognition:
        """The intent of `text`; `extra` adds outside evidence, e.g. a product named (REPAIR, 0.5)."""
        scores: dict[Intent, float] = defaultdict(float)
        why: list[str] = []
        fault = False

        tokens = words(text)
        joined = "".join(tokens)
        # (term, positions it covers, quality, as seen); a term counts only for positions
        # no longer term of its intent covered ("人工客服" then not "人工" again).
        found: list[tuple[_Term, set[tuple[str, int]], float, str]] = []
        if spaceless(text):  # Chinese terms, by the character they start with
            seen_terms: set[int] = set()
            for at, ch in enumerate(joined):
                for term in self._chinese.get(ch, ()):
                    run = term.parts[0]
                    if id(term) not in seen_terms and joined.startswith(run, at):
                        seen_terms.add(id(term))
                        found.append((term, {("c", k) for k in range(at, at + len(run))}, 1.0, run))
        matches = [self._cached(w) for w in tokens]
        present: dict[str, tuple[int, float]] = {}  # data word -> (first position, quality)
        for i, here in enumerate(matches):
            for word, quality in here.items():
                present.setdefault(word, (i, quality))
        for i, here in enumerate(matches):
            for first in here:
                for term in self._by_first.get(first, ()):
                    n = len(term.parts)
                    qualities = [matches[i + j].get(part) for j, part in enumerate(term.parts)] if i + n <= len(tokens) else [None]
                    if None not in qualities:
                        found.append((term, {("w", k) for k in range(i, i + n)}, min(q for q in qualities if q), " ".join(tokens[i : i + n])))
        # Content words of a longer term in another order or apart ("ремонт будет бесплатный",
        # "screen went black"): Russian and Georgian order words freely; counts a little less.
        for term in self._loose:
            if term.parts[0] in present and all(part in present for part in term.parts):
                spots = sorted(present[part] for part in term.parts)
                found.append((term, {("w", k) for k, _q in spots}, LOOSE * min(q for _k, q in spots),
                              " … ".join(tokens[k] for k, _q in spots)))
        covered: dict[Intent, set[tuple[str, int]]] = defaultdict(set)
        for term, positions, quality, seen in sorted(found, key=lambda f: (-f[0].size, -f[2])):
            if positions <= covered[term.intent]:
                continue
            covered[term.intent] |= positions
            gain = term.size * quality * SOCIAL.get(term.intent, 1.0)
            scores[term.intent] += gain
            fault = fault or term.fault
            typo = f" as {seen!r}" if quality < 1 else ""
            kind = "fault " if term.fault else ""
            why.append(f"{term.intent.value} +{gain:.2f} {kind}{term.text!r} ({self._language[term.text]}){typo}")
        for intent, (gain, reason) in (extra or {}).items():
            scores[intent] += gain
            why.append(f"{intent.value} +{gain:.2f} {reason}")

        if Intent.CANCEL in scores and any(i not in SOCIAL and i is not Intent.CANCEL for i in scores):
            scores[Intent.CANCEL] *= CANCEL_BESIDE
            why.append(f"cancel x{CANCEL_BESIDE} beside another intent")
        result = Recognition(Intent.OTHER, False, dict(scores), why, fault, len(tokens) if not spaceless(text) else len(joined) // 2)
        ranked = result.ranked()
        if ranked:
            best = ranked[0]
            tie = len(ranked) > 1 and scores[ranked[1]] >= scores[best]
            if best is Intent.VISIT and fault:  # a visit for a fault is a repair request, which books one
                best = Intent.REPAIR
                why.append("repair: a fault with a visit")
            result.intent = best
            result.sure = not tie and scores[best] >= SURE * SOCIAL.get(best, 1.0)
        log.debug("intent %s", result.explain())
        return result


def acts_in_form(result: Recognition, commands: frozenset[Intent] | set[Intent] = IN_FORM) -> bool:
    """In the middle of a form (or of a wait), only a short, plain "a person, please" or "cancel"
    (or another of `commands`) is a command; anything else is the answer to the question ("the
    operator panel is broken")."""
    return (
        result.intent in commands
        and result.sure
        and not result.fault
        and len(result.scores) == 1
        and result.words <= IN_FORM_MAX_WORDS
    )
