"""Logs (issue 17): one line per event that matters, JSON when configured, an access log,
and no personal data at INFO: a repair with a phone number and a typed address runs
through the real Service and every captured line is searched for them."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import Service
from bot.config import Settings
from bot.i18n import Translator
from bot.logs import JsonFormatter, configure
from handlers.menu import ENTRIES
from tests.test_webchat_protocol import opened

PHONE = "+86 138 0013 8000"
PHONE_FORMS = ("13800138000", "138 0013 8000", "138-0013-8000", "0013 8000")
ADDRESS = "Room 1702, 88 Xingfu Road, Pudong"
ADDRESS_PARTS = ("Xingfu", "Room 1702", "Pudong")


@pytest.fixture
async def service(db_url: str, engine: Any) -> AsyncIterator[Service]:
    running = Service(Settings(database_url=db_url, port=0, telegram_bot_token=None))
    await running.start()
    yield running
    await running.stop()


async def test_a_repair_with_phone_and_address_leaves_events_but_no_personal_data(
    service: Service, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with opened(service) as visitor:
        await visitor.say("/start")
        await visitor.tap(Translator("en", "Asia/Shanghai")._(ENTRIES["repair"]))
        await visitor.tap_first()
        await visitor.tap_first()
        await visitor.say("HA2403000123")
        await visitor.say("Water drips from the indoor unit, call me on " + PHONE)
        await visitor.tap("Skip")  # no photos
        await visitor.say(ADDRESS)
        await visitor.say(PHONE)
        answer = await visitor.tap("Submit")  # then the engineer's windows are offered (issue 12)
        number = re.search(r"R-\d{4}-\d{6}", answer).group(0)
        await visitor.tap("Talk to a person")
        await visitor.tap(number)  # about this request
    async with opened(service) as other:  # typed at the menu: the recogniser explains itself in the log
        await other.say("/start")
        await other.say(f"my aircon leaks, I live at {ADDRESS}, phone {PHONE}")
        await other.say(f"Xingfu road 88 opertor {PHONE}")
    await service.sender.flush()

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records if record.levelno >= logging.INFO]
    text = "\n".join(lines)
    for secret in PHONE_FORMS + ADDRESS_PARTS:
        assert secret not in text, f"{secret!r} logged at INFO"
    entries = [json.loads(line) for line in lines]
    turns = [e for e in entries if e.get("event") == "turn"]
    assert len(turns) >= 10 and all(e["channel"] == "web" and e["conversation_id"] for e in turns)
    assert any(e.get("ticket") == number for e in turns)  # the turns after the ticket was opened carry its number
    assert any(e.get("event") == "send" and e["result"] == "sent" for e in entries)
    assert any(e.get("event") == "handover" and e["ticket"] == number for e in entries)
    access = [e for e in entries if e.get("event") == "http"]
    assert any(e["path"] == "/" and e["status"] == 200 and e["method"] == "GET" for e in access)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_claim_is_logged_with_its_ticket(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    from bot.core.actions import Act, Action
    from services.handoff import Actor, Role
    from tests.test_console import agent

    caplog.set_level(logging.INFO)
    async with opened(service) as visitor:
        await visitor.say("/start")
        answer = await visitor.tap("Talk to a person")
    number = re.search(r"H-\d{4}-\d{6}", answer).group(0)
    agent_id = await agent(service.engine, "ana")
    conversation_id = next(r.__dict__["conversation_id"] for r in caplog.records if getattr(r, "event", "") == "handover")
    result = await service.core.act(Action(conversation_id, Act.CLAIM, Actor(agent_id, Role.AGENT)))
    assert result.ok
    claim = [r for r in caplog.records if getattr(r, "event", "") == "claim"]
    assert len(claim) == 1 and claim[0].__dict__["ticket"] == number and claim[0].__dict__["agent_id"] == agent_id
    assert f"ticket={number}" in claim[0].getMessage()


def test_json_format_puts_each_event_on_one_parseable_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("json")
        from bot.logs import event

        event(logging.getLogger("aftersales.test"), "turn", channel="web", conversation_id=7, ticket="R-2026-000001")
        logging.getLogger("aftersales.test").error("broken\nacross lines")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    turn, error = (json.loads(line) for line in lines)
    assert turn["event"] == "turn" and turn["conversation_id"] == 7 and turn["ticket"] == "R-2026-000001"
    assert turn["level"] == "info" and error["level"] == "error" and error["message"] == "broken\nacross lines"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_failing_turn_is_an_error_event_with_its_conversation(
    engine: Any, company: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.core.dispatcher import Dispatcher
    from tests.memory_channel import Chat

    async def route(turn: Any) -> None:
        if turn.event.text == "boom":
            raise RuntimeError("a bug in a flow")
        turn.say("ok")

    caplog.set_level(logging.INFO)
    core = Dispatcher(engine, company, route)
    try:
        chat = Chat(core, engine)
        await chat.say("hello")
        await chat.say("boom")
    finally:
        await core.close()
    errors = [r for r in caplog.records if getattr(r, "event", "") == "error"]
    turns = [r for r in caplog.records if getattr(r, "event", "") == "turn"]
    assert len(errors) == 1 and errors[0].exc_info and errors[0].levelno == logging.ERROR
    assert errors[0].__dict__["conversation_id"] == turns[0].__dict__["conversation_id"] and errors[0].__dict__["channel"] == "memory"
    assert "error" in json.loads(JsonFormatter().format(errors[0]))  # the traceback, in JSON under "error"
