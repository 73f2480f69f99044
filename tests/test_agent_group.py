"""The agents' Telegram group (issue 14) end to end: the real Service (aiogram polling, the outbox)
against the Bot API test server with a forum supergroup, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Service
from bot.config import Settings
from bot.i18n import Translator
from services.handoff import Role
from storage.agent_group import new_link_code, redeem_link_code
from storage.agents import add_agent
from storage.models import Agent, Conversation, GroupMessage, GroupTopic, Message, OutboxRow, Ticket, utcnow
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import Customer, eventually

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


async def settle_outbox(engine: Any) -> None:
    """Every queued post and reply out (the mapping of a message is written when it is delivered)."""
    async def pending() -> int:
        async with engine.connect() as conn:
            return len((await conn.scalars(select(OutboxRow.id).where(OutboxRow.status.in_(("pending", "sending"))))).all())

    assert await eventually(pending, 0, timeout=10)


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
    hello = api.forums.group_message(GROUP, ANN, "Hello, I am looking at it now.", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and s["text"] == "Hello, I am looking at it now.")

    # She corrects it in the topic: the customer's copy is edited, message to message.
    async def mapped_hello() -> bool:
        async with engine.connect() as conn:
            return bool(await conn.scalar(select(GroupMessage.message_id).where(
                GroupMessage.group_message_id == hello["message"]["message_id"])))

    assert await eventually(mapped_hello, True)
    await settle_outbox(engine)
    api.forums.edit_group_message(hello["message"]["message_id"], "Hello, I am looking at it right now.")
    edited = await api.wait_for_sent(lambda s: s["method"] == "editMessageText" and s["chat_id"] == 4242)
    original = next(s for s in api.sent_to(4242) if s["text"] == "Hello, I am looking at it now.")
    assert edited[0]["message_id"] == original["message_id"]
    assert api.messages[original["message_id"]]["text"] == "Hello, I am looking at it right now."
    api.forums.group_message(GROUP, ANN, "This part?", thread_id=thread, photo=True)
    await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and s["method"] == "sendPhoto" and s["caption"] == "This part?")

    # The customer's answer (a photo too) is copied into the topic.
    api.user_message(4242, "Yes, that one", photo=True)
    copied = await api.wait_for_sent(lambda s: s["method"] == "copyMessage" and s["chat_id"] == GROUP)
    assert copied[-1]["params"]["message_thread_id"] == thread and copied[-1]["caption"] == "Yes, that one"
    assert "photo" in api.messages[copied[-1]["message_id"]]

    # Her reply to that copy reaches the customer as a reply to their own message.
    await settle_outbox(engine)
    api.forums.group_message(GROUP, ANN, "Thanks, ordering it.", thread_id=thread, reply_to=copied[-1]["message_id"])
    answer = await api.wait_for_sent(lambda s: s["chat_id"] == 4242 and s["text"] == "Thanks, ordering it.")
    assert answer[0]["params"]["reply_parameters"]["message_id"] == copied[-1]["params"]["message_id"]

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
    recap = in_topic(api, new_thread)[0]  # the new topic starts with the file and the talk so far
    assert "Are you still there?" in recap["text"] and "Hello, I am looking at it right now." in recap["text"]

    # A message the customer deleted before it was copied still reaches the topic, as stored.
    gone = api.user_message(4242, "Never mind that photo")
    del api.messages[gone["message"]["message_id"]]
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "Never mind that photo"
                            and s["params"].get("message_thread_id") == new_thread)

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


CONVERSATIONS = 8


@pytest.mark.slow
async def test_a_claim_from_the_group_and_one_from_the_console_give_one_owner(engine: Any, db_url: str) -> None:
    """Two processes on one store: Ann's /claim in the topics, Bob's claim in the console, released at once.
    Exactly one owner each; the topic says who has it either way (a notice, or the loser's answer)."""
    from bot.channels.telegram_group import GroupMirror
    from bot.company import load_company
    from bot.core.dispatcher import Dispatcher
    from handlers.router import route
    from tests.memory_channel import Chat

    ann = await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow())
    bob = await add_agent(engine, login="bob", name="Bob", password_hash="x", role=Role.AGENT, now=utcnow())
    core = Dispatcher(engine, load_company(Settings()), route)
    core.mirror = GroupMirror(str(GROUP))
    for n in range(CONVERSATIONS):
        await Chat(core, engine, user_id=f"c{n}").say("/agent")
    await core.close()
    async with engine.connect() as conn:
        ids = ",".join(str(i) for i in (await conn.scalars(select(Conversation.id).order_by(Conversation.id))).all())
    sides = {ann: "group", bob: "console"}
    workers = {agent: subprocess.Popen(
        [sys.executable, "-m", "tests.group_claim_worker", db_url, str(agent), ids, side, str(GROUP)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for agent, side in sides.items()}
    for worker in workers.values():
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outcomes: dict[int, list[tuple[int, str]]] = {}
    for agent, worker in workers.items():
        out, _err = worker.communicate(timeout=120)
        assert worker.returncode == 0
        for line in filter(None, out.split("\n")):
            conversation, verdict, *owner = line.split()
            outcomes.setdefault(int(conversation), []).append((agent, owner[0] if owner else "won"))
    async with engine.connect() as conn:
        owners = dict((await conn.execute(select(Ticket.conversation_id, Ticket.assigned_agent_id))).all())
        posts = (await conn.execute(select(OutboxRow.conversation_id, OutboxRow.payload)
                                    .where(OutboxRow.channel == "telegram_group"))).all()
    assert len(outcomes) == CONVERSATIONS
    for conversation, pair in outcomes.items():
        winners = [agent for agent, verdict in pair if verdict == "won"]
        losers = [(agent, int(verdict)) for agent, verdict in pair if verdict != "won"]
        assert len(winners) == 1 and len(losers) == 1, pair  # exactly one owner
        assert losers[0][1] == winners[0] == owners[conversation]  # the loser learns who won
        mine = [p["group"] for c, p in posts if c == conversation]
        # The topic shows the winner: one claim notice naming them; a group loser is told who has it.
        assert [p["owner"] for p in mine if p["post"] == "notice"] == [winners[0]]
        if losers[0][0] == ann:
            assert any(p["post"] == "refusal" and "Bob has this conversation" in c_text(posts, conversation)
                       for p in mine)


def c_text(posts: list[Any], conversation: int) -> str:
    return " ".join(p["text"] for c, p in posts if c == conversation)


class FakeTime:
    """One clock for the sender's rate limits and the test server's flood control: a wait
    advances it at once instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


BURST = 100


async def test_a_burst_of_customer_messages_reaches_the_topic_in_order_within_the_group_limit(
        engine: Any, company: Any) -> None:
    from aiogram.types import Message as TelegramMessage

    from bot.channels.telegram import BotAPI, make_bot, message_event
    from bot.channels.telegram_group import GroupMirror, GroupTransport
    from bot.core.dispatcher import Dispatcher
    from bot.outbox import Limits, OutboxSender
    from handlers.router import route

    time = FakeTime()
    async with FakeBotAPI(enforce_limits=True, clock=time.clock) as api:
        api.forums.add_supergroup(GROUP)
        stamps: list[float] = []
        record = api._record

        def stamped(method: str, params: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
            if params.get("chat_id") == GROUP:
                stamps.append(time.now)
            return record(method, params, msg)

        api._record = stamped  # type: ignore[method-assign]
        bot = make_bot(api.token, api.base_url)
        transport = GroupTransport(BotAPI(bot), engine, company)
        transport.problem = None
        core = Dispatcher(engine, company, route)
        core.mirror = GroupMirror(str(GROUP))
        sender = OutboxSender(engine, [transport], {"telegram_group": Limits(30, 1, 3, 20)}, poll=0.05,
                              clock=time.clock, sleep=time.sleep)
        core.outbox = sender
        running = asyncio.create_task(sender.run())
        try:
            def event(text: str) -> Any:
                update = api.user_message(4242, text)
                return message_event(TelegramMessage.model_validate(update["message"]), update["update_id"])

            await core.handle(event("/agent"))
            for n in range(BURST):
                await core.handle(event(f"message {n}"))
            copies = await api.wait_until(
                lambda: (c := [s for s in api.sent if s["method"] == "copyMessage"]) and len(c) >= BURST and c, timeout=60)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await sender.flush()
            await core.close()
            await bot.session.close()
        (thread, _), = api.forums.open_topics(GROUP).items()
        assert [c["text"] for c in copies] == [f"message {n}" for n in range(BURST)]  # in order, none lost or doubled
        assert {c["params"]["message_thread_id"] for c in copies} == {thread}
        assert api.limiter is not None and api.limiter.refused == 0  # Telegram never had to say "retry after"
        # No minute holds more than 20 posts (the file post first, then the copies).
        assert len(stamps) == BURST + 1
        assert all(stamps[i + 20] - stamps[i] >= 60 for i in range(len(stamps) - 20))


async def test_an_agent_links_telegram_with_the_consoles_one_time_code(service: Service, api: FakeBotAPI,
                                                                       engine: Any) -> None:
    import re

    from tests.test_console import Browser, agent

    ann = await agent(engine, "ann")
    browser = Browser(service)
    try:
        assert await browser.log_in("ann") == 303
        status, page = await browser.post("/console/telegram-link", fetch=False)
        assert status == 200
        match = re.search(r"/link ([A-Z0-9]{8})", page)
        assert match
        code = match.group(1)
        status, _ = await browser.post("/console/telegram-link", csrf=False, fetch=False)
        assert status == 403  # no CSRF token: refused
    finally:
        await browser.close()
    api.forums.group_message(GROUP, STRANGER, "/link WRONG123")
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "not valid" in (s["text"] or ""))
    api.user_message(777001, "/link ZZZZ-ZZZZ")  # no agent's code: a customer linking chats (issue 18) gets it
    await api.wait_for_sent(lambda s: s["chat_id"] == 777001 and "does not work" in (s["text"] or ""))
    api.user_message(ANN, f"/link {code}")  # privately to the bot
    await api.wait_for_sent(lambda s: s["chat_id"] == ANN and "Linked" in (s["text"] or ""))
    async with engine.connect() as conn:
        assert await conn.scalar(select(Agent.telegram_user_id).where(Agent.id == ann)) == ANN
    api.forums.group_message(GROUP, STRANGER, f"/link {code}")  # used up
    await api.wait_until(lambda: sum("not valid" in (s["text"] or "") for s in in_group(api)) == 2)


def answered_callbacks(api: FakeBotAPI) -> list[str]:
    return [params.get("text", "") for method, params in api.requests if method == "answerCallbackQuery"]


async def test_commands_buttons_and_a_wechat_customer(service: Service, api: FakeBotAPI, engine: Any) -> None:
    """A WeChat customer in Chinese; Bob (English console) and Ann (Russian console) in the group."""
    from tests.memory_channel import Chat

    ann = await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow(), locale="ru")
    bob = await add_agent(engine, login="bob", name="Bob", password_hash="x", role=Role.AGENT, now=utcnow())
    await link(api, engine, bob, BOB, "Bob")
    code = await new_link_code(engine, ann, utcnow())
    api.forums.group_message(GROUP, ANN, f"/link {code}", first_name="Ann")
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Ann" in (s["text"] or "") and "Готово" in s["text"])
    customer = Chat(service.core, engine, user_id="wx-1", language="zh-hans", channel="wechat")

    await customer.say("/agent")
    (thread, topic), = (await api.wait_until(lambda: api.forums.open_topics(GROUP), timeout=10)).items()
    assert " · zh_Hans · " in topic["name"]
    await customer.say("你好，我的洗衣机坏了")
    post = (await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "你好，我的洗衣机坏了"))[0]
    assert post["params"]["message_thread_id"] == thread
    (button,), = post["reply_markup"]["inline_keyboard"]

    # Bob presses Claim; Ann presses it a moment later and is told who has it, in Russian.
    api.callback(BOB, button["callback_data"], post["message_id"])
    await api.wait_until(lambda: "It is yours." in answered_callbacks(api), timeout=10)
    api.callback(ANN, button["callback_data"], post["message_id"])
    await api.wait_until(lambda: "Не выполнено: разговор ведёт Bob." in answered_callbacks(api), timeout=10)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "✋ Bob has taken this conversation.")
    await customer.collect()
    assert any("Bob" in r.text for r in customer.last)

    # Ann's message is not passed on: the conversation is Bob's.
    api.forums.group_message(GROUP, ANN, "Я могу помочь", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "Не выполнено: разговор ведёт Bob.")

    # Canned replies: listed in Bob's language, sent in the customer's.
    api.forums.group_message(GROUP, BOB, "/canned", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "/canned greeting — Greeting" in (s["text"] or ""))
    api.forums.group_message(GROUP, BOB, "/canned greeting", thread_id=thread)

    async def greeted() -> bool:
        await customer.collect()
        return any("您好，这里是售后服务中心" in r.text for r in customer.replies)

    assert await eventually(greeted, True)
    api.forums.group_message(GROUP, BOB, "/canned nothing", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "No canned reply “nothing”" in (s["text"] or ""))

    # Transfers: to an agent by login, and a wrong name answered (in Ann's language) without a change.
    api.forums.group_message(GROUP, BOB, "/transfer ann", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "🔀 Bob handed this conversation to Ann.")
    api.forums.group_message(GROUP, ANN, "/transfer nobody", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Нет оператора или команды «nobody»" in (s["text"] or ""))
    api.forums.group_message(GROUP, ANN, "/resolve whatever", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Укажите код решения" in (s["text"] or ""))
    api.forums.group_message(GROUP, ANN, "/frobnicate", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Неизвестная команда" in (s["text"] or ""))

    # Ann writes; the WeChat customer gets it in their channel. An edit arrives there as a correction.
    said = api.forums.group_message(GROUP, ANN, "请稍等", thread_id=thread)

    async def answered() -> bool:
        await customer.collect()
        return any(r.text == "请稍等" for r in customer.replies)

    assert await eventually(answered, True)
    api.forums.edit_group_message(said["message"]["message_id"], "请稍等两分钟")

    async def corrected() -> bool:
        await customer.collect()
        return any("请稍等两分钟" in r.text and r.text != "请稍等两分钟" for r in customer.replies)

    assert await eventually(corrected, True)

    # A file the customer's channel keeps in our store (the web chat's uploads) is uploaded into the topic.
    ref = await service.media.save(b"JPEG of the broken part", "jpg")
    await customer.photo(ref)
    uploaded = await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["method"] == "sendPhoto")
    assert uploaded[0]["params"]["message_thread_id"] == thread
    (size,) = [p for p in api.messages[uploaded[0]["message_id"]]["photo"] if p["width"] == 800]
    assert api.files[size["file_id"]]["content"] == b"JPEG of the broken part"

    # Ann closes the topic in the app while the talk goes on: the next message reopens it.
    api.forums.member_closes_topic(GROUP, thread, ANN)

    async def marked_closed() -> bool:
        async with engine.connect() as conn:
            return bool(await conn.scalar(select(GroupTopic.closed)))

    assert await eventually(marked_closed, True)
    await customer.say("还在吗？")
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and s["text"] == "还在吗？")
    assert not api.forums.topics[(GROUP, thread)]["closed"]

    # /release: back to the bot, the topic closed with a notice in Ann's language.
    api.forums.group_message(GROUP, ANN, "/release", thread_id=thread)
    await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Ann возвращает клиента ассистенту" in (s["text"] or ""))
    await api.wait_until(lambda: api.forums.topics[(GROUP, thread)]["closed"], timeout=10)
    assert all(s["params"].get("message_thread_id") == thread for s in in_group(api) if "Готово" not in (s["text"] or "")
               and "Linked" not in (s["text"] or ""))


async def test_posts_that_are_no_agents_speak_the_language_most_linked_agents_read(
    service: Service, api: FakeBotAPI, engine: Any,
) -> None:
    for login, user, locale in (("olga", ANN, "ru"), ("igor", BOB, "ru")):
        agent_id = await add_agent(engine, login=login, name=login.title(), password_hash="x", role=Role.AGENT,
                                   now=utcnow(), locale=locale)
        assert await redeem_link_code(engine, await new_link_code(engine, agent_id, utcnow()), user, utcnow())
    await add_agent(engine, login="ann", name="Ann", password_hash="x", role=Role.AGENT, now=utcnow())  # English, not linked
    customer = Customer(api, engine, 4243)
    await customer.say("/start")
    await customer.say("/agent")
    (thread, _topic), = (await api.wait_until(lambda: api.forums.open_topics(GROUP), timeout=10)).items()
    first = (await api.wait_until(lambda: in_topic(api, thread), timeout=10))[0]
    t = Translator("ru", "Asia/Shanghai")
    assert t._("The conversation so far:") in first["text"] and "The conversation so far:" not in first["text"]
    await customer.say("Is anyone there?")
    copied = await api.wait_for_sent(lambda s: s["chat_id"] == GROUP and "Is anyone there?" in (s["text"] or ""))
    assert copied[-1]["reply_markup"]["inline_keyboard"][0][0]["text"] == t._("✋ Claim")
