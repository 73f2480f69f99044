"""The engineer's word from the agents' Telegram group (issue 12): /late, /absent, /result ... in a
ticket's topic, through the real Service and the Bot API test server with a forum supergroup, on
SQLite and PostgreSQL; time from a hand-moved clock. The rules are the console's (bot/visit_desk.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Service
from bot.i18n import Translator
from bot.visit_desk import PROBLEMS
from services.handoff import Role
from services.visit_reports import Problem
from storage.agent_group import new_link_code
from storage.agents import add_agent
from storage.models import AuditEntry, Ticket, Visit, utcnow
from tests.clock import ManualClock
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer
from tests.test_agent_group import GROUP, group_settings, in_topic, link

# Monday 30 Nov 2026, 08:00 in Shanghai: the first window is 09:00-12:00.
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
ANN, BORIS = 9101, 9102  # Telegram users in the group: Ann reads English, Boris Russian


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        server.forums.add_supergroup(GROUP)
        yield server


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(group_settings(db_url, api, tmp_path), clock=clock)
    await running.start()
    yield running
    await running.stop()


async def heard(customer: Customer) -> str:
    """What the bot said on its own (a job), once it is out."""
    return "\n".join(s["text"] for s in await customer._answer(confirmed=False))


class Topic:
    """A ticket's topic in the group: members write in it and read the bot's answers."""

    def __init__(self, api: FakeBotAPI, thread: int) -> None:
        self.api, self.thread = api, thread

    async def command(self, user: int, text: str) -> str:
        """`text` from `user` in the topic; the bot's answer there."""
        before = len(in_topic(self.api, self.thread))
        self.api.forums.group_message(GROUP, user, text, thread_id=self.thread)
        sent = await self.api.wait_until(lambda: in_topic(self.api, self.thread)[before:], timeout=10)
        return str(sent[0]["text"])


async def test_the_engineers_word_from_the_group_reaches_the_customer(
        service: Service, api: FakeBotAPI, engine: Any, clock: ManualClock) -> None:
    en, ru = Translator("en", "Asia/Shanghai"), Translator("ru", "Asia/Shanghai")
    ann = await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow())
    boris = await add_agent(engine, login="boris", name="Boris", password_hash="x", role=Role.AGENT, now=utcnow(),
                            locale="ru")
    await link(api, engine, ann, ANN, "Ann")
    code = await new_link_code(engine, boris, utcnow())  # (`link` waits for the English answer)
    api.forums.group_message(GROUP, BORIS, f"/link {code}", first_name="Boris")
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Boris" in (s["text"] or ""))

    # A customer books the first window for a repair, then asks for a person: the topic opens.
    customer = Customer(api, engine, 4343)
    await customer.say("/start")
    await customer.tap("Report a repair")
    await customer.tap("Household air conditioner")
    await customer.tap_first()  # model
    await customer.tap("Skip")  # serial
    await customer.say("It blows warm air")
    await customer.tap("Skip")  # files
    await customer.say("Shanghai, Huaihai Road 1")
    await customer.say("+86 138 0013 8000")
    await customer.tap("Submit")
    assert "Booked: Zhang Wei 张伟 will come on Mon, Nov 30 9:00" in await customer.tap("Mon, Nov 30")
    assert "Which request" in await customer.say("/agent")
    await customer.tap("R-2026-")  # about the repair: its ticket goes to the group
    (thread, _), = (await api.wait_until(lambda: api.forums.open_topics(GROUP), timeout=10)).items()
    topic = Topic(api, thread)
    await api.wait_until(lambda: in_topic(api, thread), timeout=10)  # the customer file, first

    # Bad input gets a clear answer, in the agent's own language, and changes nothing.
    assert await topic.command(ANN, "/late 0") == en._(PROBLEMS[Problem.LATE_RANGE], most=240)
    assert await topic.command(BORIS, "/late 500") == ru._(PROBLEMS[Problem.LATE_RANGE], most=240)
    assert "/late <minutes>" in await topic.command(ANN, "/late soon")
    assert "/result fixed|parts|again|workshop" in await topic.command(ANN, "/result repaired it")
    assert await topic.command(ANN, "/result fixed") == en._(PROBLEMS[Problem.NO_REPORT])
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.log))).scalar_one() == []

    # "/onway", then "/late 20": the customer hears each at once, the second with an apology and the new time.
    assert await topic.command(ANN, "/onway") == en._("🚗 Recorded: %(engineer)s is on the way. The customer is told.",
                                                      engineer="Zhang Wei 张伟")
    await service.jobs.run_due()
    assert "Zhang Wei 张伟 is on the way to you for request R-2026-" in await heard(customer)
    answer = await topic.command(ANN, "/late 20")
    assert answer == en.n(
        "⏱ Recorded: late by %(count)d minute, at the door at about %(time)s. The customer is told, with an apology.",
        "⏱ Recorded: late by %(count)d minutes, at the door at about %(time)s. The customer is told, with an apology.",
        20, time=en.time(time(9, 20)))
    await service.jobs.run_due()
    late = await heard(customer)
    assert "We are sorry: Zhang Wei 张伟 is running 20 minutes late and will arrive at about 9:20" in late
    assert "apologies" in late

    # At 09:30 the engineer reports the customer absent after 5 minutes: refused, with the reason.
    clock.now = START + timedelta(hours=1, minutes=30)
    refused = await topic.command(BORIS, "/absent 09:20 09:25")
    assert refused == ru._(PROBLEMS[Problem.SHORT_WAIT], minutes=20)
    assert "20" in refused and refused != en._(PROBLEMS[Problem.SHORT_WAIT], minutes=20)
    async with engine.connect() as conn:
        assert (await conn.execute(select(Visit.status))).scalar_one() == "booked"

    # Twenty minutes' wait: recorded, the time freed, the customer asked to book again.
    assert "Recorded: nobody was there" in await topic.command(ANN, "/absent 09:05 09:25")
    await service.jobs.run_due()
    assert f"came at {en.time(time(9, 5))} and waited until {en.time(time(9, 25))}" in await heard(customer)
    async with engine.connect() as conn:
        visit = (await conn.execute(select(Visit.status, Visit.log))).one()
        details = (await conn.execute(select(Ticket.details).where(Ticket.kind == "repair"))).scalar_one()
        audit = (await conn.execute(select(AuditEntry.action, AuditEntry.agent_id)
                                    .where(AuditEntry.action.like("visit.%")).order_by(AuditEntry.id))).all()
    assert visit.status == "absent" and [e["notice"] for e in visit.log] == ["on_my_way", "late", "absent"]
    assert details["onsite_at"] == (START + timedelta(hours=1, minutes=5)).isoformat()
    assert [tuple(a) for a in audit] == [("visit.on_my_way", ann), ("visit.late", ann), ("visit.absent", ann)]

    # No booked visit left for this topic's request.
    assert await topic.command(ANN, "/onway") == en._("Not recorded: no visit is booked for this topic's request.")
