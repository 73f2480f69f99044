"""The console's visit desk (issue 12): an agent moves or cancels a customer's visit, and records
the engineer's arrival, which the reports hold against the on-site promise. The real Service
(console over HTTP, core, jobs) on SQLite and PostgreSQL, time from a hand-moved clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Service
from bot.config import Settings
from bot.i18n import Translator
from bot.visit_desk import local_time
from handlers.visit import window_label
from services.handoff import Role
from services.reports import promises
from services.slots import Window
from services.visit_reports import BadReport, Problem
from storage import jobs
from storage import visits as store
from storage.models import AuditEntry, ChannelIdentity, Conversation, Ticket, Visit, VisitSlot
from storage.reports import ticket_facts
from storage.visits import VisitInfo, VisitJob
from tests.clock import ManualClock
from tests.memory_channel import Chat
from tests.telegram_support import eventually
from tests.test_console import Browser, agent

# Monday 30 Nov 2026, 08:00 in Shanghai: the first window is 09:00-12:00, promised on site by 11:00.
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
ON_SITE_DUE = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SHANGHAI = "Asia/Shanghai"
MOVE_FORM = re.compile(r'visit/reschedule".*?</select>', re.S)
OPTION = re.compile(r'<option value="([^"]+)"')


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def service(db_url: str, engine: AsyncEngine, clock: ManualClock, tmp_path: Any) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None, media_dir=tmp_path / "media"),
                      clock=clock)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def desk(service: Service, engine: AsyncEngine) -> AsyncIterator[Browser]:
    await agent(engine, "sue", Role.SUPERVISOR)
    browser = Browser(service)
    assert await browser.log_in("sue") == 303
    yield browser
    await browser.close()


async def booked(service: Service, user: str, language: str = "en", choice: int = 0) -> tuple[Chat, VisitInfo]:
    """A customer reports a repair in the chat and books the `choice`-th window offered."""
    chat = Chat(service.core, service.engine, user_id=user, language=language)
    await chat.report_repair("household_ac")
    await chat.press(chat.last[0].choices[choice].id)
    async with service.engine.connect() as conn:
        conversation = await conn.scalar(
            select(Conversation.id).join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
            .where(ChannelIdentity.external_id == user))
        visit = next(v for v in await store.of_conversation(conn, conversation) if v.status == "booked")
    return chat, visit


async def heard(service: Service, chat: Chat) -> str:
    """What the customer is told by the jobs now due (the job loop may run them first)."""
    await service.jobs.run_due()

    async def said() -> bool:
        return bool(await chat.collect()) or bool(chat.last)

    chat.last = []
    assert await eventually(said, True)
    return chat.text


async def snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    """Everything a visit action may change."""
    async with engine.connect() as conn:
        return (
            (await conn.execute(select(Visit.id, Visit.status, Visit.starts_at, Visit.log).order_by(Visit.id))).all(),
            (await conn.execute(select(VisitSlot.engineer, VisitSlot.starts_at, VisitSlot.visit_id)
                                .order_by(VisitSlot.starts_at))).all(),
            [(j.id, j.kind, j.run_at) for j in await jobs.pending(conn)],
            (await conn.execute(select(Ticket.id, Ticket.details).order_by(Ticket.id))).all(),
            (await conn.execute(select(AuditEntry.action).where(AuditEntry.action.like("visit.%")))).all(),
        )


async def test_an_agent_moves_a_visit_and_the_customer_is_told_in_their_language(
        service: Service, engine: AsyncEngine, desk: Browser) -> None:
    chat, old = await booked(service, "c1", language="ru")
    conversation = old.conversation_id
    _status, page = await desk.get(f"/console/c/{conversation}")
    assert "Move the visit" in page and "Cancel the visit" in page and "Engineer arrived" in page
    offered = OPTION.findall(MOVE_FORM.search(page).group(0))
    key = offered[-1]  # the latest window offered to move to: a later day
    assert Window.from_key(key).start != old.starts_at

    status, _ = await desk.post(f"/console/c/{conversation}/visit/reschedule", {"visit": old.id, "window": key})
    assert status == 200
    async with engine.connect() as conn:
        visits = {v.id: v for v in await store.of_conversation(conn, conversation)}
        new = next(v for v in visits.values() if v.status == "booked")
        held = (await conn.execute(select(VisitSlot.visit_id, VisitSlot.starts_at))).all()
        old_jobs = await jobs.pending(conn, cause=store.cause(old.id))
        new_jobs = await jobs.pending(conn, cause=store.cause(new.id))
        audit = (await conn.execute(select(AuditEntry.action, AuditEntry.detail, AuditEntry.agent_id)
                                    .where(AuditEntry.action == "visit.reschedule"))).one()
        ticket = (await conn.execute(select(Ticket.visit_window, Ticket.visit_date).where(Ticket.id == old.ticket_id))).one()
    # One transaction: the old time freed with its reminders, the new one held with its own.
    assert visits[old.id].status == "cancelled" and visits[old.id].log[-1]["notice"] == "moved"
    assert visits[old.id].log[-1]["to"] == new.id
    assert (new.starts_at, new.ticket_id) == (Window.from_key(key).start, old.ticket_id)
    assert {visit for visit, _ in held} == {new.id} and len(held) == len(new.window.units())
    assert old_jobs == [] and {j.kind for j in new_jobs} == {VisitJob.REMINDER_DAY, VisitJob.REMINDER_HOUR}
    assert audit.detail["visit"] == old.id and audit.detail["to"] == new.id and audit.agent_id is not None
    assert ticket.visit_date == new.starts_at.date()

    told = await heard(service, chat)
    t = Translator("ru", SHANGHAI)
    expected = t._("Your visit for request %(number)s is moved: %(engineer)s will come on %(window)s.",
                   number=(await ticket_number(engine, old.ticket_id)), engineer="Zhang Wei 张伟",
                   window=window_label(t, new.window))
    assert expected in told and "moved" not in told  # in Russian

    # The moved visit can be moved no more from the old id: a stale page changes nothing.
    before = await snapshot(engine)
    status, body = await desk.post(f"/console/c/{conversation}/visit/reschedule", {"visit": old.id, "window": key})
    assert status == 409 and "no longer booked" in body
    assert await snapshot(engine) == before


async def ticket_number(engine: AsyncEngine, ticket_id: int) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(select(Ticket.number).where(Ticket.id == ticket_id)))


async def test_cancelling_asks_for_a_reason_frees_the_time_and_tells_the_customer(
        service: Service, engine: AsyncEngine, desk: Browser) -> None:
    chat, visit = await booked(service, "c1")
    conversation = visit.conversation_id
    before = await snapshot(engine)
    status, body = await desk.post(f"/console/c/{conversation}/visit/cancel", {"visit": visit.id, "reason": "  "})
    assert status == 409 and "give the reason" in body
    assert await snapshot(engine) == before

    status, _ = await desk.post(f"/console/c/{conversation}/visit/cancel",
                                {"visit": visit.id, "reason": "The customer called: away this week"})
    assert status == 200
    async with engine.connect() as conn:
        after = await store.get(conn, visit.id)
        held = (await conn.execute(select(VisitSlot.__table__))).all()
        reminders = await jobs.pending(conn, cause=store.cause(visit.id))
        audit = (await conn.execute(select(AuditEntry.detail).where(AuditEntry.action == "visit.cancel"))).scalar_one()
    assert after is not None and after.status == "cancelled"
    assert after.log[0] == {"notice": "cancelled", "reason": "The customer called: away this week", "at": START.isoformat()}
    assert held == [] and reminders == [] and audit["reason"] == "The customer called: away this week"
    told = await heard(service, chat)
    assert f"on {window_label(Translator('en', SHANGHAI), visit.window)} is cancelled" in told
    assert "away this week" not in told  # the reason is ours, not the customer's

    # The freed window can be booked again (by the agent, for the customer).
    _status, page = await desk.get(f"/console/c/{conversation}")
    assert "Book a visit for" in page
    status, _ = await desk.post(f"/console/c/{conversation}/visit/book", {"window": visit.window.key})
    assert status == 200


async def test_roles_forged_visits_and_windows_change_nothing(service: Service, engine: AsyncEngine,
                                                              desk: Browser) -> None:
    _chat, mine = await booked(service, "c1", choice=1)  # Mon 12:00-15:00
    _other_chat, other = await booked(service, "c2")  # Mon 09:00-12:00, and a third customer takes
    await booked(service, "c3")  # the other skilled engineer's 09:00-12:00: that window is full
    conversation = mine.conversation_id
    assert other.conversation_id != conversation
    before = await snapshot(engine)

    # An agent may not act on a conversation that is only with the bot (as for the other visit actions).
    await agent(engine, "ann", Role.AGENT)
    ann = Browser(service)
    try:
        assert await ann.log_in("ann") == 303
        for what, form in (("reschedule", {"visit": mine.id, "window": other.window.key}),
                           ("cancel", {"visit": mine.id, "reason": "no"}), ("arrived", {"visit": mine.id})):
            status, _ = await ann.post(f"/console/c/{conversation}/visit/{what}", form)
            assert status == 403, what
    finally:
        await ann.close()

    # Another conversation's visit through this page, a window that is not one, a past one, one
    # taken by the other customer, the visit's own window, and an unknown action: all refused.
    late = Window(START - timedelta(days=1), START - timedelta(days=1) + timedelta(hours=3))
    for what, form, why in (
        ("reschedule", {"visit": other.id, "window": mine.window.key}, "No such visit"),
        ("cancel", {"visit": other.id, "reason": "forged"}, "No such visit"),
        ("arrived", {"visit": other.id}, "No such visit"),
        ("arrived", {"visit": "x1"}, "please check"),
        ("reschedule", {"visit": mine.id, "window": "garbage"}, "please check"),
        ("reschedule", {"visit": mine.id, "window": late.key}, "no longer free"),
        ("reschedule", {"visit": mine.id, "window": mine.window.key}, "no longer free"),
    ):
        status, body = await desk.post(f"/console/c/{conversation}/visit/{what}", form)
        assert status == 409 and why in body, (what, form, body)
    taken = Window(other.starts_at, other.ends_at)  # both skilled engineers are held then
    status, body = await desk.post(f"/console/c/{conversation}/visit/reschedule", {"visit": mine.id, "window": taken.key})
    assert status == 409 and "no longer free" in body
    status, _ = await desk.post(f"/console/c/{conversation}/visit/teleport", {"visit": mine.id})
    assert status == 404
    assert await snapshot(engine) == before


async def test_the_engineers_arrival_keeps_or_misses_the_on_site_promise(
        service: Service, engine: AsyncEngine, desk: Browser, clock: ManualClock) -> None:
    _c1, early = await booked(service, "c1")
    _c2, later = await booked(service, "c2")
    async with engine.connect() as conn:
        dues = dict((await conn.execute(select(Ticket.id, Ticket.onsite_due))).all())
    assert dues[early.ticket_id] == ON_SITE_DUE and dues[later.ticket_id] is not None

    clock.now = ON_SITE_DUE - timedelta(minutes=30)  # 10:30: before the promise
    status, _ = await desk.post(f"/console/c/{early.conversation_id}/visit/arrived", {"visit": early.id})
    assert status == 200
    status, body = await desk.post(f"/console/c/{early.conversation_id}/visit/arrived", {"visit": early.id})
    assert status == 409 and "recorded already" in body  # the first arrival stands
    missed = max(dues[later.ticket_id], later.ends_at) + timedelta(minutes=45)  # after the promise and the window
    clock.now = missed
    status, _ = await desk.post(f"/console/c/{later.conversation_id}/visit/arrived", {"visit": later.id})
    assert status == 200

    async with engine.connect() as conn:
        facts = {f.id: f for f in await ticket_facts(conn, START - timedelta(days=1))}
        logged = await store.get(conn, early.id)
        audit = (await conn.execute(select(AuditEntry.action).where(AuditEntry.action == "visit.arrived"))).all()
    assert facts[early.ticket_id].onsite_at == ON_SITE_DUE - timedelta(minutes=30)
    assert facts[later.ticket_id].onsite_at == missed
    assert logged is not None and [e["notice"] for e in logged.log] == ["arrived"] and len(audit) == 2
    # Per SLA class: (class, responses due, kept, on-site visits due, kept): one kept, one missed.
    counted = promises(list(facts.values()), clock.now)
    assert sum(row[3] for row in counted) == 2 and sum(row[4] for row in counted) == 1
    kept = promises([facts[early.ticket_id]], clock.now)
    late = promises([facts[later.ticket_id]], clock.now)
    assert [row[3:] for row in kept] == [(1, 1)] and [row[3:] for row in late] == [(1, 0)]


async def test_a_later_window_the_customer_chose_is_their_promise(
        service: Service, engine: AsyncEngine, desk: Browser, clock: ManualClock) -> None:
    _chat, visit = await booked(service, "c1", choice=3)  # Tue 09:00-12:00: after our promise (Mon 11:00)
    assert visit.customer_chose_later
    clock.now = visit.starts_at + timedelta(hours=2)  # Tue 11:00: late for ours, within theirs
    assert await desk.log_in("sue") == 303  # (a day on: a new session)
    status, _ = await desk.post(f"/console/c/{visit.conversation_id}/visit/arrived", {"visit": visit.id})
    assert status == 200
    async with engine.connect() as conn:
        fact = next(f for f in await ticket_facts(conn, START - timedelta(days=1)) if f.id == visit.ticket_id)
    assert (fact.onsite_due, fact.onsite_chosen_until) == (ON_SITE_DUE, visit.ends_at)
    assert [row[3:] for row in promises([fact], clock.now)] == [(1, 1)]

    # Moved by an agent into our promise, the customer's choice is forgotten: ours counts again.
    _chat2, other = await booked(service, "c2", choice=3)
    clock.now = START  # Monday 08:00
    assert await desk.log_in("sue") == 303
    _status, page = await desk.get(f"/console/c/{other.conversation_id}")
    first = OPTION.findall(MOVE_FORM.search(page).group(0))[0]  # Mon 09:00-12:00
    status, _ = await desk.post(f"/console/c/{other.conversation_id}/visit/reschedule", {"visit": other.id, "window": first})
    assert status == 200
    async with engine.connect() as conn:
        details = await conn.scalar(select(Ticket.details).where(Ticket.id == other.ticket_id))
    assert "onsite_chosen_until" not in details and "onsite_chosen_by_customer" not in details


async def test_a_customer_absent_records_the_arrival_for_the_promise(
        service: Service, engine: AsyncEngine, desk: Browser, clock: ManualClock) -> None:
    _chat, visit = await booked(service, "c1")
    clock.now = ON_SITE_DUE  # 11:00 in Shanghai; the supervisor reads Shanghai time too
    status, _ = await desk.post(f"/console/c/{visit.conversation_id}/visit/absent",
                                {"visit": visit.id, "arrived": "10:00", "left": "10:25"})
    assert status == 200
    async with engine.connect() as conn:
        fact = next(f for f in await ticket_facts(conn, START - timedelta(days=1)) if f.id == visit.ticket_id)
    assert fact.onsite_at == ON_SITE_DUE - timedelta(hours=1)
    assert [row[3:] for row in promises([fact], clock.now)] == [(1, 1)]


@pytest.mark.parametrize(("text", "expected"), [("14:05", (14, 5)), ("9:05", (9, 5)), (" 09.30 ", (9, 30))])
def test_a_local_time_as_the_engineer_reads_the_watch(text: str, expected: tuple[int, int]) -> None:
    zone = ZoneInfo(SHANGHAI)
    at = local_time(text, zone, START)
    assert (at.date(), at.hour, at.minute, at.tzinfo) == (START.astimezone(zone).date(), *expected, zone)


@pytest.mark.parametrize("text", ["", "soon", "25:00", "12:60", "1405", "12:05:07"])
def test_a_garbled_time_is_refused(text: str) -> None:
    with pytest.raises(BadReport) as refused:
        local_time(text, ZoneInfo(SHANGHAI), START)
    assert refused.value.problem is Problem.GARBLED
