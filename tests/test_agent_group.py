"""The agents' Telegram group (issue 14) end to end: the real Service (aiogram polling, the outbox)
against the Bot API test server with a forum supergroup, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Service
from bot.config import Settings
from services.handoff import Role
from storage.agent_group import new_link_code
from storage.agents import add_agent
from storage.models import Conversation, GroupTopic, Message, OutboxRow, utcnow
from tests.telegram_server import FakeBotAPI
from tests.test_telegram_e2e import Customer, eventually

GROUP = -1001234567890
ANN, BOB, STRANGER = 9001, 9002, 9003  # Telegram users in the group


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        server.forums.add_supergroup(GROUP)
        yield server


def group_settings(url: str, api: FakeBotAPI, media: Path, **extra: Any) -> Settings:
    # The group's 20/min is the burst test's (injected clocks); here posts may follow each other quickly.
    return Settings(database_url=url, port=0, telegram_bot_token=api.token, telegram_api_base=api.base_url,
                    agent_group_id=str(GROUP), telegram_rate_group=6000, media_dir=media, **extra)


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Service]:
    running = Service(group_settings(db_url, api, tmp_path))
    await running.start()
    assert running.group is not None
    assert await eventually(lambda: checked(running), True, timeout=10), running.group.problem
    yield running
    await running.stop()


async def checked(running: Service) -> bool:
    return running.group is not None and running.group.problem is None


def in_group(api: FakeBotAPI) -> list[dict[str, Any]]:
    return [s for s in api.sent if s["chat_id"] == GROUP]


def in_topic(api: FakeBotAPI, thread: int) -> list[dict[str, Any]]:
    return [s for s in in_group(api) if s["params"].get("message_thread_id") == thread]


async def link(api: FakeBotAPI, engine: Any, agent_id: int, user_id: int, name: str) -> None:
    code = await new_link_code(engine, agent_id, utcnow())
    api.forums.group_message(GROUP, user_id, f"/link {code}", first_name=name)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and name in (s["text"] or "") and "Linked" in s["text"])


async def test_the_whole_walk_in_the_group(service: Service, api: FakeBotAPI, engine: Any) -> None:
    ann = await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow())
    await link(api, engine, ann, ANN, "Ann")
    customer = Customer(api, engine, 4242)

    # The customer asks for a person: a topic appears, named with the ticket, language and product,
    # and its first post is the customer file with the conversation so far.
    await customer.say("/start")
    await customer.say("/agent")
    topics = await api.wait_until(lambda: api.forums.open_topics(GROUP), timeout=10)
    (thread, topic), = topics.items()
    assert " · en · " in topic["name"] and "-2026-" in topic["name"].split(" · ")[0]
    first = (await api.wait_until(lambda: in_topic(api, thread), timeout=10))[0]
    assert "/agent" in first["text"] and "Claim" in first["text"]

    # A member who is not linked is refused politely; nothing reaches the customer.
    seen_by_customer = len(api.sent_to(4242))
    api.forums.group_message(GROUP, STRANGER, "hello?", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "not linked" in (s["text"] or ""))

    # Ann claims in the topic: the topic and the customer both learn who.
    api.forums.group_message(GROUP, ANN, "/claim", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Ann has taken" in (s["text"] or ""))
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and "Ann" in (s["text"] or "") and "joined" in s["text"])

    # She replies with text and a photo: both reach the customer in their chat.
    api.forums.group_message(GROUP, ANN, "Hello, I am looking at it now.", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and s["text"] == "Hello, I am looking at it now.")
    api.forums.group_message(GROUP, ANN, "This part?", thread_id=thread, photo=True)
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and s["method"] == "sendPhoto" and s["caption"] == "This part?")

    # The customer's answer (a photo too) is copied into the topic.
    api.user_message(4242, "Yes, that one", photo=True)
    copied = await api.wait_for_sent(lambda s: s["method"] == "copyMessage" and s["chat_id"] == GROUP)
    assert copied[-1]["params"]["message_thread_id"] == thread and copied[-1]["caption"] == "Yes, that one"

    # A note stays in the group and the store, never with the customer.
    before = len(api.sent_to(4242))
    api.forums.group_message(GROUP, ANN, "/note customer sounds upset", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Note saved" in (s["text"] or ""))
    async with engine.connect() as conn:
        note = (await conn.execute(select(Message.internal, Message.text).where(Message.text == "customer sounds upset"))).one()
    assert note.internal
    assert len(api.sent_to(4242)) == before
    assert seen_by_customer <= before and all("hello?" != s["text"] for s in api.sent_to(4242))

    # Ann deletes the topic; the customer's next message re-creates and re-links it (never General).
    api.forums.member_deletes_topic(GROUP, thread)
    api.user_message(4242, "Are you still there?")
    await api.wait_until(lambda: len(api.forums.open_topics(GROUP)) == 1, timeout=10)
    (new_thread, _), = api.forums.open_topics(GROUP).items()
    assert new_thread != thread
    await api.wait_for_sent(lambda s: s["method"] == "copyMessage" and s["params"].get("message_thread_id") == new_thread)
    async with engine.connect() as conn:
        assert (await conn.scalar(select(GroupTopic.thread_id))) == new_thread

    # /resolve needs a code; with one it closes the topic and the customer is back with the bot.
    api.forums.group_message(GROUP, ANN, "/resolve", thread_id=new_thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "answered" in (s["text"] or ""))
    api.forums.group_message(GROUP, ANN, "/resolve answered", thread_id=new_thread)
    await api.wait_until(lambda: api.forums.topics[(GROUP, new_thread)]["closed"], timeout=10)
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and "resolved" in (s["text"] or ""))

    async def mode() -> str:
        async with engine.connect() as conn:
            return str(await conn.scalar(select(Conversation.mode)))

    assert await eventually(mode, "bot")
    posts = len(in_group(api))
    reply = await customer.say("/menu")
    assert reply  # the bot answers again
    assert len(in_group(api)) == posts  # and nothing more goes to the group

    # Every post after the link went into a topic, none into General.
    for sent in in_group(api):
        if "Linked" not in (sent["text"] or ""):
            assert sent["params"].get("message_thread_id"), sent
    async with engine.connect() as conn:
        failed = (await conn.scalars(select(OutboxRow.error).where(OutboxRow.status != "sent"))).all()
    assert failed == []

    # A new hand-over of the same customer reopens the same topic.
    await customer.say("/agent")
    await api.wait_until(lambda: not api.forums.topics[(GROUP, new_thread)]["closed"], timeout=10)
    assert len(api.forums.open_topics(GROUP)) == 1


async def test_a_group_without_topic_rights_is_named_at_start_up(db_url: str, engine: Any, tmp_path: Path) -> None:
    async with FakeBotAPI() as api:
        api.forums.add_supergroup(GROUP, can_manage_topics=False)
        running = Service(group_settings(db_url, api, tmp_path))
        await running.start()
        try:
            assert running.group is not None
            async def answered() -> bool:
                return running.group is not None and running.group.problem != "not checked yet"

            assert await eventually(answered, True, timeout=10)
            assert running.group.problem and "can_manage_topics" in running.group.problem
        finally:
            await running.stop()
