"""Return-visit survey plans (domain.md §5) from ``data/surveys.yaml``, and their rules.

No I/O beyond loading the file: which plans an event gets (`plans_for`), when each
is asked (`due_at`), whether an answer reports a problem (`is_problem`), and whether
an event falls in the head office's sample (`in_sample`, stable per event).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.locales import SUPPORTED_LOCALES
from services.datafile import load_model, problem
from services.periods import Period, add_period

DEFAULT_SURVEYS_PATH = Path(__file__).resolve().parent.parent / "data" / "surveys.yaml"


class Trigger(StrEnum):
    """The event after which a plan is asked."""

    INSTALLATION = "installation"  # an installation or training visit is done
    REPAIR = "repair"
    COMPLAINT = "complaint"


class Level(StrEnum):
    FIRST = "first"  # the local station
    SECOND = "second"  # head office, on a sample


class AnswerType(StrEnum):
    RATING = "rating"  # 1..5
    YES_NO = "yes_no"
    CHOICE = "choice"
    TEXT = "text"


YES, NO = "yes", "no"
RATINGS = ("1", "2", "3", "4", "5")


def _texts(v: dict[str, str]) -> dict[str, str]:
    for loc in v:
        if loc not in SUPPORTED_LOCALES:
            raise problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (loc,))
    for loc in SUPPORTED_LOCALES:
        if not v.get(loc):
            raise problem("missing", (loc,))
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Question(_Strict):
    type: AnswerType
    text: dict[str, str]
    options: dict[str, dict[str, str]] = {}  # choice: option id -> text in every language

    @field_validator("text")
    @classmethod
    def _text(cls, v: dict[str, str]) -> dict[str, str]:
        return _texts(v)

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for key, names in v.items():
            try:
                _texts(names)
            except Exception as e:  # re-raised with the option's place
                sub = getattr(e, "context", None) or {}
                raise problem(str(sub.get("msg", e)), (key, *sub.get("subpath", ()))) from e
        return v

    @model_validator(mode="after")
    def _choice_needs_options(self) -> Question:
        if self.type is AnswerType.CHOICE and len(self.options) < 2:
            raise problem("a choice question needs at least two options", ("options",))
        if self.type is not AnswerType.CHOICE and self.options:
            raise problem(f"a {self.type.value} question takes no options", ("options",))
        return self

    def wording(self, locale: str) -> str:
        return self.text.get(locale) or self.text["en"]

    def valid_answers(self) -> tuple[str, ...] | None:
        """The answers a button may carry; None: free text."""
        if self.type is AnswerType.RATING:
            return RATINGS
        if self.type is AnswerType.YES_NO:
            return (YES, NO)
        if self.type is AnswerType.CHOICE:
            return tuple(self.options)
        return None


def _triggers(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Plan(_Strict):
    id: str
    trigger: Annotated[tuple[Trigger, ...], BeforeValidator(_triggers)]
    after: Period
    level: Level = Level.FIRST
    sample: float = Field(default=1.0, ge=0.0, le=1.0)  # share of events that get this plan
    verifies: bool = False  # its answers confirm (or not) that a complaint is resolved
    questions: tuple[str, ...]

    @field_validator("questions")
    @classmethod
    def _some(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise problem("must list at least one question")
        return v


class SurveyConfig(_Strict):
    problem_rating: int = Field(default=2, ge=1, le=4)
    reminder_after: Period
    expires_after: Period
    problem_words: dict[str, tuple[str, ...]]
    questions: dict[str, Question]
    plans: tuple[Plan, ...]

    @field_validator("problem_words")
    @classmethod
    def _words(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for loc in SUPPORTED_LOCALES:
            if not v.get(loc):
                raise problem("missing", (loc,))
        for loc in v:
            if loc not in SUPPORTED_LOCALES:
                raise problem("unknown locale", (loc,))
        return v

    @model_validator(mode="after")
    def _references(self) -> SurveyConfig:
        seen: set[str] = set()
        for i, plan in enumerate(self.plans):
            if plan.id in seen:
                raise problem(f"duplicate plan id {plan.id!r}", ("plans", i, "id"))
            seen.add(plan.id)
            for j, q in enumerate(plan.questions):
                if q not in self.questions:
                    raise problem(f"unknown question {q!r}", ("plans", i, "questions", j))
        return self

    def plan(self, plan_id: str) -> Plan:
        for plan in self.plans:
            if plan.id == plan_id:
                return plan
        raise KeyError(plan_id)

    def plans_for(self, trigger: Trigger) -> list[Plan]:
        return [plan for plan in self.plans if trigger in plan.trigger]

    def is_problem(self, question_id: str, answer: str, locale: str) -> bool:
        """Whether this answer reports a problem that a person must follow up (§5)."""
        question = self.questions[question_id]
        if question.type is AnswerType.RATING:
            return answer.isdigit() and int(answer) <= self.problem_rating
        if question.type is AnswerType.YES_NO:
            return answer == NO
        if question.type is AnswerType.TEXT:
            lowered = answer.casefold()
            words = {*self.problem_words.get(locale, ()), *self.problem_words["en"]}
            return any(word.casefold() in lowered for word in words)
        return False


def load_surveys(path: Path = DEFAULT_SURVEYS_PATH) -> SurveyConfig:
    return load_model(path, SurveyConfig)


def due_at(event_at: datetime, plan: Plan) -> datetime:
    """When a plan is asked: `after` from the event, at the same time of day (months on the calendar)."""
    return after(event_at, plan.after)


def after(start: datetime, period: Period) -> datetime:
    """`start` plus a period of days or months (reminder, expiry)."""
    day = add_period(start.date(), period)
    assert day is not None  # a survey period is never "lifetime"
    return datetime.combine(day, start.timetz())


def in_sample(event_key: str, share: float) -> bool:
    """Whether an event falls in a sample of `share`: stable (a hash of its key), so a
    retried scheduling decides the same way, and about `share` of events are chosen."""
    if share >= 1.0:
        return True
    digest = hashlib.sha256(event_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def trigger_for(kind: str, details: dict[str, Any] | None) -> Trigger | None:
    """The survey trigger of a resolved ticket: repairs and complaints by kind; a visit
    whose type is installation or training; nothing for questions answered by a person."""
    if kind == "repair":
        return Trigger.REPAIR
    if kind == "complaint":
        return Trigger.COMPLAINT
    if kind == "visit" and (details or {}).get("visit_type") in ("installation", "training"):
        return Trigger.INSTALLATION
    if kind == "visit":
        return Trigger.REPAIR  # an on-site service visit: a service, surveyed like a repair
    return None

