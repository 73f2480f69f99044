"""The visit's jobs through the dispatcher and store with a manual clock (issue 12): reminders go with a
cancelled booking, a customer absent after the 20-minute wait, a long repair updated every two days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers.visit_jobs  # noqa: F401 - registers the visit jobs
from bot.company import Company
from bot.console import visits as desk
from bot.core.dispatcher import Dispatcher
from bot.i18n import Translator
from bot.jobs import JobRunner
from storage import jobs
from storage.jobs import JobStatus
from storage.models import Conversation, Ticket, Visit, VisitSlot
from tests.clock import ManualClock
from tests.memory_channel import Chat

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
AGENT = Translator("en", "Asia/Shanghai")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def booked(chat: Chat, engine: AsyncEngine, day: str = "Tue, Dec 1") -> tuple[int, int]:
    await chat.report_repair("household_ac")
    await chat.press(next(c.id for c in chat.last[0].choices if c.label.startswith(day)))
    assert "Booked:" in chat.text
    async with engine.connect() as conn:
        return tuple((await conn.execute(select(Visit.id, Visit.conversation_id))).one())  # type: ignore[return-value]


def form(**values: object) -> MultiDictProxy[object]:
    return MultiDictProxy(MultiDict(values))


async def test_cancelling_the_visit_cancels_its_reminders(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner,
                                                          clock: ManualClock) -> None:
    chat = Chat(dispatcher, engine)
    visit_id, _ = await booked(chat, engine)
    async with engine.connect() as conn:
        assert len(await jobs.pending(conn, cause=f"visit:{visit_id}")) == 2
    await chat.say("/start")
    await chat.tap("Book a visit")
    await chat.tap("Cancel the visit")
    assert "The visit is cancelled" in chat.text
    async with engine.connect() as conn:
        assert await jobs.pending(conn, cause=f"visit:{visit_id}") == []
        statuses = {job.status for job in await jobs.listing(conn)}
    assert statuses == {JobStatus.CANCELLED}
    clock.advance(days=2)
    assert await runner.run_due() == 0 and await chat.collect() == []


async def test_a_rescheduled_visit_moves_its_reminders(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner,
                                                       clock: ManualClock) -> None:
    chat = Chat(dispatcher, engine)
    old, _ = await booked(chat, engine)
    await chat.say("/start")
    await chat.tap("Book a visit")
    await chat.tap("Another time")
    await chat.press(next(c.id for c in chat.last[0].choices if c.label.startswith("Wed, Dec 2")))
    assert "Booked:" in chat.text and "Wed, Dec 2" in chat.text
    async with engine.connect() as conn:
        visits = (await conn.execute(select(Visit.id, Visit.status).order_by(Visit.id))).all()
        new_reminders = await jobs.pending(conn, kind="visit.reminder_day")
    assert [v.status for v in visits] == ["cancelled", "booked"]
    assert [job.cause for job in new_reminders] == [f"visit:{visits[1].id}"] and visits[0].id == old
    clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00: the day before Wednesday
    assert await runner.run_due() == 1
    assert "Reminder: tomorrow, Wed, Dec 2" in (await chat.collect())[0].text


async def test_customer_absent_after_the_20_minute_wait(engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner,
                                                         clock: ManualClock, company: Company) -> None:
    chat = Chat(dispatcher, engine)
    visit_id, conversation = await booked(chat, engine)
    clock.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00
    short = await desk.act(engine, company, conversation, "absent", form(visit=visit_id, arrived="09:30", left="09:40"),
                           AGENT, clock.now)
    assert short and "waits at least 20 minutes" in short
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.status))).scalar_one() == "booked"  # nothing changed
    assert await desk.act(engine, company, conversation, "absent", form(visit=visit_id, arrived="09:30", left="09:52"),
                          AGENT, clock.now) is None
    assert await runner.run_due() == 1
    told = (await chat.collect())[0].text
    assert "came at 9:30" in told and "waited until 9:52" in told and "Book a visit" in told
    async with engine.connect() as conn:
        visit = (await conn.execute(select(Visit.status, Visit.log))).one()
        assert (await conn.execute(select(VisitSlot.__table__))).all() == []  # the engineer's time is free
    assert visit.status == "absent" and visit.log[0]["arrived"].startswith("2026-12-01T09:30")
    await chat.say("/start")
    await chat.tap("Book a visit")  # a new booking is offered for the same request
    assert "Choose a time window" in chat.text


async def test_a_repair_that_goes_on_is_updated_every_two_days(engine: AsyncEngine, dispatcher: Dispatcher,
                                                               runner: JobRunner, clock: ManualClock,
                                                               company: Company) -> None:
    chat = Chat(dispatcher, engine)
    visit_id, conversation = await booked(chat, engine, "Mon, Nov 30")
    clock.now = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)  # Monday 11:30, the fix is due Tuesday
    assert await desk.act(engine, company, conversation, "result",
                          form(visit=visit_id, result="workshop", report="Compressor to be replaced"),
                          AGENT, clock.now) is None
    assert await runner.run_due() == 2  # the result and the first update, both at once
    said = " ".join(r.text for r in await chat.collect())
    assert "goes to our workshop" in said and "cannot be finished by the promised" in said
    clock.advance(days=1)
    assert await runner.run_due() == 0
    clock.advance(days=1)
    assert await runner.run_due() == 1
    assert "still in progress" in (await chat.collect())[0].text
    async with engine.begin() as conn:  # repaired: the next update finds it resolved and stops
        await conn.execute(update(Ticket).values(status="resolved"))
    clock.advance(days=2)
    assert await runner.run_due() == 1 and await chat.collect() == []
    async with engine.connect() as conn:
        assert await jobs.pending(conn) == []
        assert (await conn.execute(select(Conversation.state))).scalar_one() == ""


async def test_a_fixed_unit_in_warranty_is_offered_maintenance_every_three_months(
    engine: AsyncEngine, dispatcher: Dispatcher, runner: JobRunner, clock: ManualClock, company: Company,
) -> None:
    chat = Chat(dispatcher, engine)
    visit_id, conversation = await booked(chat, engine, "Mon, Nov 30")
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).values(warranty={"in_warranty": True}))
    clock.now = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)
    assert await desk.act(engine, company, conversation, "result",
                          form(visit=visit_id, result="fixed", report="Cleaned the filters"), AGENT, clock.now) is None
    assert await runner.run_due() == 1
    await chat.collect()
    clock.now = datetime(2027, 2, 28, 3, 29, tzinfo=UTC)  # 30 Nov + 3 months is 28 Feb (the month is shorter)
    await runner.run_due()  # the repair's return-visit survey (issue 13) falls due meanwhile
    assert all("free maintenance visit" not in r.text for r in await chat.collect())
    clock.now = datetime(2027, 2, 28, 3, 31, tzinfo=UTC)
    assert await runner.run_due() >= 1
    [prompt] = [r for r in await chat.collect() if "free maintenance visit" in r.text]
    assert "free maintenance visit" in prompt.text
    await chat.press(prompt.choices[0].id)
    windows = [c.label for c in chat.last[0].choices if c.id.startswith("visit:pick:")]
    assert windows and "9:00" in windows[0] and "11:00" in windows[0]  # a maintenance visit: 1 h plus travel
    await chat.press(chat.last[0].choices[0].id)
    assert "Booked:" in chat.text
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Ticket.kind, Ticket.status).order_by(Ticket.id))).all()
        visit = (await conn.execute(select(Visit.kind).order_by(Visit.id.desc()))).first()
    assert [tuple(k) for k in kinds] == [("repair", "resolved"), ("visit", "open")] and visit.kind == "maintenance"
