"""The survey's jobs: ask when the plan falls due, remind once, expire (domain.md §5).

Each runs in the transaction that holds the customer's conversation (bot/jobs.py), so
a question never crosses the customer's own turn. Not now while a person handles the
customer (postponed), never to a customer who opted out (skipped), and a survey the
channel will not carry (WeChat's 48-hour window) is marked undeliverable, shown in
the console, never dropped silently.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Settings
from bot.core.events import Reply
from bot.core.numbered import OFFERED
from bot.jobs import JobTurn, job_handler
from handlers.survey import STATE, SURVEY, question_reply
from services.handoff import Mode
from services.survey_plans import AnswerType, SurveyConfig, after, load_surveys
from services.surveys import POSTPONE_WHILE_PERSON, RETRY_UNDELIVERABLE, Due, SurveyStatus, when_due
from storage import jobs
from storage import surveys as store
from storage.db import Store
from storage.handoff import address
from storage.turns import ConversationRow

_config: list[SurveyConfig] = []


def configure(config: SurveyConfig | None) -> None:
    """The company's survey plans (bot/app.py, at start-up); the shipped ones otherwise."""
    _config[:] = [config] if config else []


def config() -> SurveyConfig:
    """The configured plans; unconfigured (a job worker process): the settings' data directory's."""
    if not _config:
        path = Settings().data_dir / "surveys.yaml"
        _config.append(load_surveys(path) if path.exists() else load_surveys())
    return _config[0]


def offer(row: ConversationRow, reply: Reply) -> None:
    """Remember the question's choices as the conversation's numbered list, so that on WeChat
    "2" answers it (bot/core/numbered.py; a customer's turn does this for its own replies)."""
    row.slots = {**row.slots, OFFERED: [choice.id for choice in reply.choices]}


@job_handler(store.SurveyJob.ASK)
async def ask(turn: JobTurn) -> None:
    survey = await store.get(turn.conn, int(turn.job.payload["survey"]))
    row = turn.conversation
    if survey is None or row is None or turn.t is None:
        return
    plans = config()
    where = await address(turn.conn, row.identity_id)
    due = when_due(
        survey.status,
        opted_out=await store.opted_out(turn.conn, survey.customer_id),
        with_person=row.mode != Mode.BOT.value,
        window_open=await store.window_open(turn.conn, row.id, where.channel, turn.now),
    )
    if due is Due.POSTPONE:
        later = turn.now + POSTPONE_WHILE_PERSON
        await store.change(turn.conn, survey.id, due_at=later)
        await jobs.schedule(turn.conn, store.SurveyJob.ASK, later, {"survey": survey.id}, conversation_id=row.id,
                            ticket_id=survey.ticket_id, cause=f"survey:{survey.id}")
    elif due is Due.SKIP:
        await store.change(turn.conn, survey.id, status=SurveyStatus.SKIPPED, note="opted_out")
    elif due is Due.UNDELIVERABLE:
        await store.change(turn.conn, survey.id, status=SurveyStatus.UNDELIVERABLE, note=f"{where.channel}_window_closed")
        retry = turn.now + RETRY_UNDELIVERABLE
        if retry < after(survey.due_at, plans.expires_after):  # until then: asked once the customer writes again
            await jobs.schedule(turn.conn, store.SurveyJob.ASK, retry, {"survey": survey.id}, conversation_id=row.id,
                                ticket_id=survey.ticket_id, cause=f"survey:{survey.id}")
    elif due is Due.ASK:
        plan = plans.plan(survey.plan)
        number = await store.TurnSurveys(turn.conn, survey.customer_id, turn.now).ticket_number(survey.ticket_id)
        reply = question_reply(turn.t, plans, survey.id, plan, 0, number)
        await turn.send(reply, here=True)  # the answers belong to this conversation
        offer(row, reply)
        if plans.questions[plan.questions[0]].type is AnswerType.TEXT and not row.state:
            row.state, row.slots = STATE, {SURVEY: survey.id}
        await store.change(turn.conn, survey.id, status=SurveyStatus.ASKING, asked_at=turn.now, question=0)
        cause = f"survey:{survey.id}"
        await jobs.schedule(turn.conn, store.SurveyJob.REMIND, after(turn.now, plans.reminder_after), {"survey": survey.id},
                            conversation_id=row.id, ticket_id=survey.ticket_id, cause=cause)
        await jobs.schedule(turn.conn, store.SurveyJob.EXPIRE, after(turn.now, plans.expires_after), {"survey": survey.id},
                            conversation_id=row.id, ticket_id=survey.ticket_id, cause=cause)


@job_handler(store.SurveyJob.REMIND)
async def remind(turn: JobTurn) -> None:
    """One reminder, with the question the customer stopped at; not while a person handles them."""
    survey = await store.get(turn.conn, int(turn.job.payload["survey"]))
    row = turn.conversation
    if survey is None or row is None or turn.t is None or survey.status is not SurveyStatus.ASKING or survey.reminded_at:
        return
    if row.mode != Mode.BOT.value or await store.opted_out(turn.conn, survey.customer_id):
        return
    where = await address(turn.conn, row.identity_id)
    if not await store.window_open(turn.conn, row.id, where.channel, turn.now):
        return  # the question already went out; the expiry counts it as unanswered
    plans = config()
    number = await store.TurnSurveys(turn.conn, survey.customer_id, turn.now).ticket_number(survey.ticket_id)
    reply = question_reply(turn.t, plans, survey.id, plans.plan(survey.plan), survey.question, number, reminder=True)
    await turn.send(reply, here=True)  # the answers belong to this conversation
    offer(row, reply)
    await store.change(turn.conn, survey.id, reminded_at=turn.now)


@job_handler(store.SurveyJob.EXPIRE)
async def expire(turn: JobTurn) -> None:
    survey = await store.get(turn.conn, int(turn.job.payload["survey"]))
    if survey is not None and survey.status is SurveyStatus.ASKING:
        await store.change(turn.conn, survey.id, status=SurveyStatus.EXPIRED)


SWEEP_EVERY = timedelta(hours=1)
SWEEP_BACK = timedelta(days=7)  # how far back a resolution without its surveys is looked for


async def ensure_scheduled(engine: Store, now: datetime) -> None:
    """At start-up: the hourly sweep pending once."""
    async with engine.begin() as conn:
        if not await jobs.pending(conn, cause="survey:sweep"):
            await jobs.schedule(conn, store.SurveyJob.SWEEP, now + SWEEP_EVERY, cause="survey:sweep")


@job_handler(store.SurveyJob.SWEEP)
async def sweep(turn: JobTurn) -> None:
    """Resolutions that did not go through the core's RESOLVE (an engineer's visit report) get
    their surveys too, due as from their resolution."""
    await store.sweep(turn.conn, config(), turn.now, turn.now - SWEEP_BACK)
    await jobs.schedule(turn.conn, store.SurveyJob.SWEEP, turn.now + SWEEP_EVERY, cause="survey:sweep")
