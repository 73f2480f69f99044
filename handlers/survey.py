"""The customer answers a return-visit survey (domain.md §5), one question at a time.

A job asks the first question (handlers/survey_jobs.py); each answer button carries
the survey and the question it answers, so the customer may answer hours later, and
a button of an earlier question is recognised as such. A free-text question is
answered by typing (the conversation waits in state `survey`) or skipped with a button.
An answer that reports a problem puts the ticket back in the human queue with the
answers on it; a complaint whose return visit finds nothing wrong is closed as verified.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.events import Choice, Kind, Reply
from bot.core.turn import TicketInfo, Turn
from bot.i18n import Translator
from handlers import handoff, menu
from services.handoff import Step
from services.intents import IN_FORM_MAX_WORDS, Intent
from services.reports import ADVICE, TicketFact, maintenance_summary
from services.survey_plans import NO, RATINGS, YES, AnswerType, Plan, SurveyConfig
from services.surveys import (
    RESUME_CHOICE,
    SKIP_TEXT,
    STOP_CHOICE,
    SurveyStatus,
    button,
    next_question,
    parse_button,
    problems,
)
from storage.surveys import WINDOW_CHANNELS, SurveyRow

STATE = "survey"  # waiting for a typed answer; slot SURVEY: which survey
SURVEY_INTENTS = frozenset({Intent.STOP_SURVEYS, Intent.RESUME_SURVEYS})
SURVEY = "survey"


def question_reply(t: Translator, config: SurveyConfig, survey_id: int, plan: Plan, index: int, number: str,
                   *, reminder: bool = False) -> Reply:
    """Question `index` of the plan, with its answer buttons (WeChat numbers them)."""
    question = config.questions[plan.questions[index]]
    if reminder:
        head = t._("A reminder: we would still like to hear how the service for your request %(number)s went.",
                   number=number)
    else:
        head = t._("Return visit for your request %(number)s.", number=number)
    progress = t._("Question %(n)d of %(total)d:", n=index + 1, total=len(plan.questions))
    choices: list[Choice]
    if question.type is AnswerType.RATING:
        choices = [Choice(button(survey_id, index, r), "⭐" * int(r)) for r in RATINGS]
    elif question.type is AnswerType.YES_NO:
        choices = [Choice(button(survey_id, index, YES), t._("Yes")), Choice(button(survey_id, index, NO), t._("No"))]
    elif question.type is AnswerType.CHOICE:
        choices = [Choice(button(survey_id, index, key), names.get(t.locale) or names["en"])
                   for key, names in question.options.items()]
    else:
        choices = [Choice(button(survey_id, index, SKIP_TEXT), t._("Nothing to add"))]
    choices.append(Choice(STOP_CHOICE, t._("🔕 No more surveys")))
    return Reply(f"{head}\n{progress}\n{question.wording(t.locale)}", tuple(choices))


def _config(turn: Turn) -> SurveyConfig | None:
    return turn.company.surveys


async def answer_button(turn: Turn, choice: str) -> None:
    """An answer button: record it if it answers the question being asked, then go on."""
    config = _config(turn)
    parsed = parse_button(choice)
    survey = await turn.store.surveys.get(parsed[0]) if parsed and config else None
    if config is None or parsed is None or survey is None or survey.status is not SurveyStatus.ASKING:
        turn.say(turn.t._("This survey is already closed. Thank you!"))
        menu.show_menu(turn)
        return
    _, index, value = parsed
    plan = config.plan(survey.plan)
    question = config.questions[plan.questions[index]] if index < len(plan.questions) else None
    allowed = question.valid_answers() if question else None
    if question is None or index != survey.question or not (value in (allowed or ()) or value == SKIP_TEXT):
        turn.say(turn.t._("That button belongs to an earlier question; here is the current one."))
        await ask_current(turn, survey, config)
        return
    turn.chosen_label = _label(turn.t, question.type, value, question.options)
    await _record(turn, survey, config, plan, value)


def _label(t: Translator, kind: AnswerType, value: str, options: dict[str, dict[str, str]]) -> str:
    if kind is AnswerType.RATING:
        return "⭐" * int(value)
    if kind is AnswerType.YES_NO:
        return t._("Yes") if value == YES else t._("No")
    if kind is AnswerType.CHOICE:
        return options[value].get(t.locale) or options[value]["en"]
    return t._("Nothing to add")


async def typed_answer(turn: Turn) -> None:
    """State `survey`: the customer typed the answer to a free-text question."""
    config = _config(turn)
    survey = await turn.store.surveys.get(int(turn.slots.get(SURVEY, 0)))
    if config is None or survey is None or survey.status is not SurveyStatus.ASKING or turn.event.kind is not Kind.TEXT:
        menu.show_menu(turn)
        return
    if (intent := typed_stop(turn)) is not None:  # not an answer: "stop surveys" typed instead
        await (stop(turn) if intent is Intent.STOP_SURVEYS else resume(turn))
        return
    plan = config.plan(survey.plan)
    if config.questions[plan.questions[survey.question]].type is not AnswerType.TEXT:
        await ask_current(turn, survey, config)
        return
    await _record(turn, survey, config, plan, turn.event.text.strip())


async def _record(turn: Turn, survey: SurveyRow, config: SurveyConfig, plan: Plan, value: str) -> None:
    answers = {**survey.answers, plan.questions[survey.question]: value}
    following = next_question(plan, answers)
    if following is not None:
        await turn.store.surveys.change(survey.id, answers=answers, question=following)
        await ask_current(turn, _replace(survey, answers, following), config)
        return
    found = problems(config, plan, answers, turn.customer.locale)
    status = SurveyStatus.PROBLEM if found else SurveyStatus.ANSWERED
    await turn.store.surveys.change(survey.id, answers=answers, status=status, answered_at=turn.now)
    busy = turn.state not in ("", STATE)  # answered in the middle of a form: the form stays
    if not busy:
        turn.goto("")
    if found:
        await turn.store.surveys.record_problem(survey, answers, found)
        after = await turn.store.handoff(survey.ticket_id, Step.QUEUE)
        number = await turn.store.surveys.ticket_number(survey.ticket_id)
        if after is not None:
            handoff.follow(turn, after, survey.ticket_id)
            await turn.store.surveys.change(survey.id, follow_up_ticket_id=survey.ticket_id)
        turn.say(turn.t._("Thank you for telling us. A colleague will follow up on your request %(number)s and contact you here; "
                          "once it is sorted out we will ask you again.", number=number), [handoff.end_choice(turn)])
        return
    if plan.verifies:
        await turn.store.surveys.verify_complaint(survey.ticket_id)
    thanks = turn.t._("Thank you for your answers! They help us serve you better.")
    if busy:
        turn.say(thanks)
    else:
        menu.show_menu(turn, thanks)


def _replace(survey: SurveyRow, answers: dict[str, str], question: int) -> SurveyRow:
    return replace(survey, answers=answers, question=question)


async def ask_current(turn: Turn, survey: SurveyRow, config: SurveyConfig) -> None:
    """Ask the survey's current question in this turn; a text question waits for typing."""
    plan = config.plan(survey.plan)
    number = await turn.store.surveys.ticket_number(survey.ticket_id)
    reply = question_reply(turn.t, config, survey.id, plan, survey.question, number)
    if config.questions[plan.questions[survey.question]].type is AnswerType.TEXT and turn.state in ("", STATE):
        turn.goto(STATE, {SURVEY: survey.id})  # typed text answers it (in a form, the button still does)
    turn.say(reply.text, reply.choices)


async def stop(turn: Turn) -> None:
    """"No more surveys": honoured at once, and can be undone."""
    await turn.store.surveys.opt_out()
    turn.chosen_label = turn.t._("🔕 No more surveys")
    turn.goto("")
    turn.say(turn.t._("Understood: we will not send you any more surveys. You can change your mind at any time."),
             [Choice(RESUME_CHOICE, turn.t._("🔔 Send me surveys again")), *menu.menu_choices(turn)])


async def resume(turn: Turn) -> None:
    await turn.store.surveys.opt_in()
    turn.chosen_label = turn.t._("🔔 Send me surveys again")
    menu.show_menu(turn, turn.t._("Thank you: we will ask you again how our service went."))


async def window_reopened(turn: Turn) -> None:
    """The customer wrote on a channel with a reply window (WeChat): a survey that could not be
    sent in it is asked now, unless it has expired (handlers/survey_jobs.py asks it)."""
    config = _config(turn)
    if config is not None and turn.event.channel in WINDOW_CHANNELS:
        await turn.store.surveys.window_reopened(config)


def typed_stop(turn: Turn) -> Intent | None:
    """"Stop surveys" / "resume surveys" typed plainly (in any of our languages), else None."""
    if turn.event.kind is not Kind.TEXT:
        return None
    recognition = turn.company.intents.recognise(turn.event.text)
    # As a command in a form (services.intents.acts_in_form), but "stop" beside it may count for cancel too.
    plain = recognition.sure and not recognition.fault and recognition.words <= IN_FORM_MAX_WORDS
    return recognition.intent if plain and recognition.intent in SURVEY_INTENTS else None


def is_survey_choice(choice: str) -> bool:
    return choice in (STOP_CHOICE, RESUME_CHOICE) or parse_button(choice) is not None


async def on_choice(turn: Turn, choice: str) -> None:
    if choice == STOP_CHOICE:
        await stop(turn)
    elif choice == RESUME_CHOICE:
        await resume(turn)
    else:
        await answer_button(turn, choice)


async def file_lines(turn: Turn, tickets: list[TicketInfo]) -> list[str]:
    """The customer file's return visits and advice (§6: summarise their record and advise them)."""
    facts = [TicketFact(t.id, t.number, t.kind, t.status, t.created_at, t.product_line, t.model) for t in tickets]
    _kinds, advice = maintenance_summary(facts, turn.now)
    lines = []
    if await turn.store.surveys.opted_out():
        lines.append(turn.t._("You asked us not to send surveys."))
    lines += [turn.t._(ADVICE[key]) for key in advice]
    return [*lines, ""] if lines else []


async def file_choices(turn: Turn) -> list[Choice]:
    """Undo "no more surveys" from the customer file."""
    if await turn.store.surveys.opted_out():
        return [Choice(RESUME_CHOICE, turn.t._("🔔 Send me surveys again"))]
    return []
