"""A return-visit survey's life (domain.md §5), as plain rules.

    scheduled --due, may ask--> asking --last answer--> answered | problem
        |  \\--opted out------> skipped            \\--no answer by the expiry--> expired
        |   \\--window closed--> undeliverable (shown in the console, tried again daily until it expires)
        '-- a person handles the customer: postponed (stays scheduled, later due time)

A `problem` survey put its ticket back in the human queue; once that ticket is
resolved, the same plan is asked again (the next round).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from services.survey_plans import Plan, SurveyConfig

POSTPONE_WHILE_PERSON = timedelta(hours=6)  # a person is talking with them: ask later, not now
RETRY_UNDELIVERABLE = timedelta(days=1)  # the channel's window was closed: look again this often
STOP_CHOICE = "sv:stop"  # the customer's "no more surveys" button
RESUME_CHOICE = "sv:resume"  # ... and its undo
SKIP_TEXT = "-"  # the answer of the "nothing to add" button to a text question
CHOICE_PREFIX = "sv:"


class SurveyStatus(StrEnum):
    SCHEDULED = "scheduled"
    ASKING = "asking"
    ANSWERED = "answered"  # every answer fine
    PROBLEM = "problem"  # an answer reported a problem: a person follows up
    SKIPPED = "skipped"  # not asked: the customer opted out
    UNDELIVERABLE = "undeliverable"  # not asked: the channel's reply window was closed
    EXPIRED = "expired"  # asked, not answered in time


OPEN_SURVEYS = (SurveyStatus.SCHEDULED, SurveyStatus.ASKING)


class Due(StrEnum):
    """What to do with a survey whose time has come."""

    ASK = "ask"
    POSTPONE = "postpone"
    SKIP = "skip"
    UNDELIVERABLE = "undeliverable"
    NOTHING = "nothing"  # no longer scheduled (answered, skipped ...)


def when_due(status: SurveyStatus, *, opted_out: bool, with_person: bool, window_open: bool) -> Due:
    """An undeliverable survey is tried again (daily, until it expires): the customer may
    write meanwhile, which opens the channel's window."""
    if status not in (SurveyStatus.SCHEDULED, SurveyStatus.UNDELIVERABLE):
        return Due.NOTHING
    if opted_out:
        return Due.SKIP
    if with_person:
        return Due.POSTPONE
    if not window_open:
        return Due.UNDELIVERABLE
    return Due.ASK


def next_question(plan: Plan, answers: dict[str, Any]) -> int | None:
    """The index of the first unanswered question; None when all are answered."""
    for i, question in enumerate(plan.questions):
        if question not in answers:
            return i
    return None


def problems(config: SurveyConfig, plan: Plan, answers: dict[str, Any], locale: str) -> list[str]:
    """The questions whose answers report a problem."""
    return [q for q in plan.questions if q in answers and answers[q] != SKIP_TEXT
            and config.is_problem(q, str(answers[q]), locale)]


def button(survey_id: int, index: int, answer: str) -> str:
    """The id of an answer button: survey, question index, answer (Telegram: 64 bytes at most)."""
    return f"{CHOICE_PREFIX}{survey_id}:{index}:{answer}"


def parse_button(choice: str) -> tuple[int, int, str] | None:
    """(survey id, question index, answer) of an answer button; None for anything else."""
    parts = choice.removeprefix(CHOICE_PREFIX).split(":", 2)
    if not choice.startswith(CHOICE_PREFIX) or len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1]), parts[2]
