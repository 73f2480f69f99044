"""Survey plans from the shipped data/surveys.yaml: every period of domain.md §5 pinned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.locales import SUPPORTED_LOCALES
from services.survey_plans import AnswerType, Level, Trigger, due_at, in_sample, load_surveys, trigger_for

CONFIG = load_surveys()
RESOLVED = datetime(2026, 1, 31, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(("plan_id", "trigger", "due", "level"), [
    # 000 §6.3/§6.5: 3 days after installation training, and again 3 months after it.
    ("install_3d", Trigger.INSTALLATION, datetime(2026, 2, 3, 10, 30, tzinfo=UTC), Level.FIRST),
    ("install_3m", Trigger.INSTALLATION, datetime(2026, 4, 30, 10, 30, tzinfo=UTC), Level.FIRST),  # clamps to 30 April
    # 002 §6, §11.22: the local station within 3 days after a service ...
    ("repair_3d", Trigger.REPAIR, datetime(2026, 2, 3, 10, 30, tzinfo=UTC), Level.FIRST),
    # 001 §2.1.3: a complaint verified by a return visit (within 3 days, like a service)
    ("complaint_3d", Trigger.COMPLAINT, datetime(2026, 2, 3, 10, 30, tzinfo=UTC), Level.FIRST),
    # ... and head office within a week (second level).
    ("head_office_7d", Trigger.REPAIR, datetime(2026, 2, 7, 10, 30, tzinfo=UTC), Level.SECOND),
])
def test_section_5_periods(plan_id: str, trigger: Trigger, due: datetime, level: Level) -> None:
    plan = CONFIG.plan(plan_id)
    assert trigger in plan.trigger
    assert plan.level is level
    assert due_at(RESOLVED, plan) == due


def test_installation_asks_the_four_questions_a_to_d() -> None:
    for plan_id in ("install_3d", "install_3m"):
        questions = CONFIG.plan(plan_id).questions
        assert questions[:4] == ("a_installed", "b_operation", "c_trainer", "d_hotline")


def test_every_event_gets_a_first_level_plan_and_the_head_office_sample() -> None:
    for trigger in Trigger:
        levels = [plan.level for plan in CONFIG.plans_for(trigger)]
        assert Level.FIRST in levels and Level.SECOND in levels
    second = CONFIG.plan("head_office_7d")
    assert 0 < second.sample < 1
    chosen = sum(in_sample(f"ticket:{n}", second.sample) for n in range(2000))
    assert abs(chosen / 2000 - second.sample) < 0.04
    assert in_sample("ticket:7", 0.5) == in_sample("ticket:7", 0.5)  # stable per event


def test_every_answer_type_is_used_and_worded_in_every_language() -> None:
    assert {q.type for q in CONFIG.questions.values()} == set(AnswerType)
    for question in CONFIG.questions.values():
        for loc in SUPPORTED_LOCALES:
            assert question.wording(loc)
            for names in question.options.values():
                assert names[loc]


@pytest.mark.parametrize(("question", "answer", "locale", "problem"), [
    ("rating", "1", "en", True), ("rating", "2", "en", True), ("rating", "3", "en", False), ("rating", "5", "ru", False),
    ("a_installed", "no", "en", True), ("d_hotline", "no", "ka", True), ("fixed", "yes", "en", False),
    ("channel_used", "dealer", "en", False),
    ("comment", "Thanks, all good", "en", False), ("comment", "it is still not working", "en", True),
    ("comment", "空调又坏了", "zh_Hans", True), ("comment", "Опять не работает", "ru", True),
    ("comment", "ისევ არ მუშაობს", "ka", True), ("comment", "謝謝", "zh_Hant", False),
])
def test_what_reaches_a_person(question: str, answer: str, locale: str, problem: bool) -> None:
    assert CONFIG.is_problem(question, answer, locale) is problem


@pytest.mark.parametrize(("kind", "details", "trigger"), [
    ("repair", {}, Trigger.REPAIR), ("complaint", {}, Trigger.COMPLAINT),
    ("visit", {"visit_type": "installation"}, Trigger.INSTALLATION), ("visit", {"visit_type": "training"}, Trigger.INSTALLATION),
    ("person", {}, None), ("warranty", {}, None),
])
def test_trigger_of_a_resolved_ticket(kind: str, details: dict[str, str], trigger: Trigger | None) -> None:
    assert trigger_for(kind, details) is trigger


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("questions: [rating, fixed, comment]", "questions: [rating, fixd, comment]", "plans[2].questions[1]: unknown question 'fixd'"),
    ("after: 7 days", "after: 7 weeks", "plans[4].after: '7 weeks' is not a period"),
    ("    sample: 0.2", "    sample: 2", "plans[4].sample: Input should be less than or equal to 1"),
    ('      ru: "Изделие теперь работает исправно?"\n', "", "questions.fixed.text.ru: missing"),
])
def test_a_bad_file_is_refused_with_field_and_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = (Path(__file__).resolve().parent.parent / "data" / "surveys.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "surveys.yaml"
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_surveys(bad)
    assert expected in str(err.value) and "(line " in str(err.value)
