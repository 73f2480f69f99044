"""The agents' Telegram group (issue 14): a forum supergroup with a topic per handed-off conversation.

Outbound, everything the group sees is an outbox row of the channel `telegram_group`
whose chat id is the group's (negative: the sender holds it to Telegram's 20 messages
a minute, one row at a time, in order). The core writes them in the transaction of the
turn or action that causes them (`GroupMirror`); `GroupTransport` turns each into Bot
API calls, creating, re-creating (a topic an agent deleted), reopening and closing
topics as it goes, so a post never falls into General.

Inbound, a linked agent's message or command in a topic becomes an action through
`Dispatcher.act`, exactly as from the console (the same atomic claim); an unlinked
member is refused politely in the topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.channels import group_visits
from bot.channels.telegram import MAX_TEXT, BadRequest, BotAPI
from bot.company import Company
from bot.core.actions import Act, Action, ActionResult
from bot.core.dispatcher import Dispatcher, Queued
from bot.core.events import Attachment, Event, Reply
from bot.i18n import Translator
from bot.media import MediaStore
from bot.outbox import RetryLater
from bot.visit_desk import VisitDesk
from services.handoff import Actor, Mode, Resolution, Role
from storage import agent_group as store
from storage.console import conversation, may_open_conversation, transcript
from storage.db import Store
from storage.models import utcnow
from storage.products import customer_file
from storage.turns import ConversationRow

log = logging.getLogger(__name__)

CHANNEL = "telegram_group"
CUSTOMER_CHANNEL = "telegram"
GROUP_LOCALE = "en"  # a member's language when Telegram does not say (storage.agent_group.group_locale: the group's)
CLAIM_BUTTON = "grp:claim:"  # + conversation id
CANNED_BUTTON = "grp:canned:"  # + conversation id + ":" + canned reply id
_GONE = ("message thread not found", "TOPIC_DELETED", "TOPIC_ID_INVALID")  # not customer-facing
PROBLEM_RETRY = 60.0  # seconds between tries while the group cannot be served
_FILE_LINES = 20  # the conversation so far in the first post: its latest lines


class Post(StrEnum):
    OPEN = "open"  # a hand-over: (re)open the topic, post the customer file and the conversation so far
    CUSTOMER = "customer"  # a customer's message, copied in
    AGENT = "agent"  # an agent's reply written in the console (or a canned reply), shown in the topic too
    NOTICE = "notice"  # who claimed, transferred, released ...
    REFUSAL = "refusal"  # an answer to a member's message or command that changed nothing
    CLOSE = "close"  # resolved or back with the bot: say so and close the topic
    LINKED = "linked"  # the answer to /link, where it was sent (no conversation)
    GENERAL = "general"  # for everyone, in General: the weekly report, an early warning


_NOTICE_ACTS = {Act.CLAIM, Act.ASSIGN, Act.TRANSFER, Act.REQUEUE, Act.REOPEN}
_CLOSE_ACTS = {Act.RESOLVE, Act.RELEASE}


def _post(kind: Post, conversation_id: int, text: str = "", **fields: Any) -> dict[str, Any]:
    return {"text": text, "group": {"post": kind.value, "conversation": conversation_id, **fields}}


class GroupMirror:
    """What the core writes for the group, in the turn's or the action's transaction."""

    channel = CHANNEL

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id

    def for_turn(self, before: str, row: ConversationRow, event: Event) -> list[tuple[str, dict[str, Any]]]:
        after = row.mode
        if before == Mode.BOT and after != Mode.BOT:
            return [(self.group_id, _post(Post.OPEN, row.id, ticket=row.ticket_id))]
        if before != Mode.BOT and after == Mode.BOT:
            return [(self.group_id, _post(Post.CLOSE, row.id, act="end"))]
        if after == Mode.BOT:
            return []
        files = [{"kind": a.kind, "ref": a.ref, "name": a.name} for a in event.attachments]
        return [(self.group_id, _post(
            Post.CUSTOMER, row.id, event.stored_text(), channel=event.channel, chat=event.chat_id,
            message=event.message_id, claim=after == Mode.QUEUED, files=files))]

    def for_action(self, action: Action, result: ActionResult, before: str,
                   row: ConversationRow) -> list[tuple[str, dict[str, Any]]]:
        if not result.ok:
            return []
        agent = action.actor.agent_id
        if action.act is Act.REPLY and action.via != "group":
            files = [{"kind": a.kind, "ref": a.ref, "name": a.name} for a in action.attachments]
            return [(self.group_id, _post(Post.AGENT, row.id, action.text, agent=agent, files=files))]
        if action.act in _CLOSE_ACTS:
            return [(self.group_id, _post(Post.CLOSE, row.id, act=action.act.value, agent=agent,
                                          resolution=action.resolution))]
        if action.act in _NOTICE_ACTS:
            posts = []
            if before == Mode.BOT:  # reopened from the console: the topic comes back first
                posts.append((self.group_id, _post(Post.OPEN, row.id, ticket=row.ticket_id)))
            posts.append((self.group_id, _post(Post.NOTICE, row.id, act=action.act.value, agent=agent,
                                               owner=result.owner_id, team=action.team)))
            return posts
        return []


# --- outbound -------------------------------------------------------------------------


async def _agent_locale(engine: Store, agent_id: int | None) -> str:
    """The agent's console language; the group's when the post is no agent's."""
    if agent_id is None:
        return await store.group_locale(engine)
    from storage.agents import get_agent  # a leaf import: agents' records are read only here

    agent = await get_agent(engine, agent_id)
    return agent.locale if agent else await store.group_locale(engine)


def notice_text(t: Translator, act: Act | None, agent: str | None, owner: str | None, team: str | None) -> str:
    """An agent-facing line in the topic about a change of hands (rendered in the agent's language);
    None: the customer went back to the assistant."""
    who = agent or "?"
    if act in (Act.CLAIM, Act.REOPEN):
        return t._("✋ %(name)s has taken this conversation.", name=owner or who)
    if act is Act.ASSIGN:
        return t._("👤 %(by)s assigned this conversation to %(name)s.", by=who, name=owner or "?")
    if act is Act.TRANSFER:
        return t._("🔀 %(by)s handed this conversation to %(name)s.", by=who, name=owner or "?")
    if act is Act.REQUEUE:
        return t._("🔀 %(by)s put this conversation back in the queue of team %(team)s.", by=who, team=team or "?")
    if act is Act.RESOLVE:
        return t._("✅ %(by)s resolved this conversation. The topic is closed.", by=who)
    if act is Act.RELEASE:
        return t._("↩ %(by)s handed the customer back to the assistant. The topic is closed.", by=who)
    return t._("↩ The customer went back to the assistant. The topic is closed.")


class GroupTransport:
    """Delivers the group's outbox rows (see the module's docstring)."""

    channel = CHANNEL

    def __init__(self, api: BotAPI, engine: Store, company: Company, media: MediaStore | None = None) -> None:
        self.api, self.engine, self.company, self.media = api, engine, company, media
        # Why the group cannot be served (the start-up check's answer); posts wait meanwhile, none is lost.
        self.problem: str | None = "not checked yet"  # not customer-facing
        self.group_id: str | None = None  # set by `check`
        self._checked = 0.0

    async def check(self, group_id: str) -> str | None:
        """The start-up check (see `check_group`); remembered, and repeated while it fails."""
        self.group_id, self._checked = group_id, time.monotonic()
        self.problem = await check_group(self.api, group_id)
        return self.problem

    def messages(self, reply: Reply) -> int:
        return 1  # every post is one Telegram message (the first post is cut to fit)

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        if self.problem and self.group_id and time.monotonic() - self._checked > PROBLEM_RETRY:
            self._checked = time.monotonic()  # the operator may have fixed the group's rights meanwhile
            self.problem = await check_group(self.api, self.group_id)
        if self.problem:  # posts wait (in order) until the group can be served: none is lost or given up
            raise RetryLater(PROBLEM_RETRY)
        payload = await store.post_payload(self.engine, row_id)
        if not payload or "group" not in payload:
            raise BadRequest(f"outbox row {row_id} is not a group post")
        post, group = Post(payload["group"]["post"]), payload["group"]
        if post in (Post.LINKED, Post.GENERAL):
            return await self._linked(chat_id, payload["text"], group.get("thread"))
        conversation_id = int(group["conversation"])
        if post is Post.OPEN:
            thread = await self._open(chat_id, conversation_id)
            text = await self._file(conversation_id)
            return await self._send(chat_id, conversation_id, thread, "sendMessage", {"text": text})
        thread = await self._thread(chat_id, conversation_id)
        if post is Post.CUSTOMER:
            return await self._customer(chat_id, conversation_id, thread, payload)
        t = Translator(await _agent_locale(self.engine, group.get("agent")), self.company.timezone)
        if post is Post.AGENT:
            name = await _name(self.engine, group.get("agent"))
            text = t._("💬 %(name)s: %(text)s", name=name, text=payload["text"] or "📎")
            return await self._send(chat_id, conversation_id, thread, "sendMessage", {"text": text[:4096]})
        if post is Post.REFUSAL:
            return await self._send(chat_id, conversation_id, thread, "sendMessage", {"text": payload["text"][:4096]})
        act = group.get("act", "")
        text = notice_text(t, Act(act) if act in Act.__members__.values() else None, await _name(self.engine, group.get("agent")),
                           await _name(self.engine, group.get("owner")), group.get("team"))
        sent = await self._send(chat_id, conversation_id, thread, "sendMessage", {"text": text})
        if post is Post.CLOSE:
            await self._close(chat_id, conversation_id)
        return sent

    async def _linked(self, chat_id: str, text: str, thread: int | None) -> str:
        message: dict[str, Any] = {"chat_id": int(chat_id), "text": text}
        try:
            sent = await self.api.call("sendMessage", message | ({"message_thread_id": thread} if thread else {}))
        except BadRequest as error:
            if not _gone(error):
                raise
            sent = await self.api.call("sendMessage", message)  # the topic went away: General then
        return str(sent["message_id"])

    # -- topics
    async def _topic_name(self, conversation_id: int) -> tuple[str, int | None]:
        info = await conversation(self.engine, conversation_id)
        if info is None:
            return f"#{conversation_id}", None
        product = info.product_line or "—"
        return f"{info.ticket_number or '#' + str(conversation_id)} · {info.locale} · {product}"[:128], info.ticket_id

    async def _create(self, chat_id: str, conversation_id: int) -> int:
        name, ticket_id = await self._topic_name(conversation_id)
        topic = await self.api.call("createForumTopic", {"chat_id": int(chat_id), "name": name})
        thread = int(topic["message_thread_id"])
        await store.save_topic(self.engine, chat_id, conversation_id, thread, ticket_id, name, False, utcnow())
        return thread

    async def _open(self, chat_id: str, conversation_id: int) -> int:
        """A hand-over: the conversation's topic, reopened and renamed for the new ticket, or a new one."""
        topic = await store.topic_of(self.engine, conversation_id)
        if topic is None or topic.thread_id is None:
            return await self._create(chat_id, conversation_id)
        name, ticket_id = await self._topic_name(conversation_id)
        try:
            if topic.closed:
                await self._quietly("reopenForumTopic", {"chat_id": int(chat_id), "message_thread_id": topic.thread_id})
            if name != topic.name:
                await self._quietly("editForumTopic", {"chat_id": int(chat_id), "message_thread_id": topic.thread_id, "name": name})
        except BadRequest as error:
            if not _gone(error):
                raise
            return await self._create(chat_id, conversation_id)
        await store.save_topic(self.engine, chat_id, conversation_id, topic.thread_id, ticket_id, name, False, utcnow())
        return topic.thread_id

    async def _thread(self, chat_id: str, conversation_id: int) -> int:
        topic = await store.topic_of(self.engine, conversation_id)
        if topic is None or topic.thread_id is None:
            return await self._create(chat_id, conversation_id)
        if topic.closed:  # an agent closed it in the app while the conversation goes on
            return await self._open(chat_id, conversation_id)
        return topic.thread_id

    async def _close(self, chat_id: str, conversation_id: int) -> None:
        topic = await store.topic_of(self.engine, conversation_id)
        if topic is None or topic.thread_id is None or topic.closed:
            return
        try:
            await self._quietly("closeForumTopic", {"chat_id": int(chat_id), "message_thread_id": topic.thread_id})
        except BadRequest as error:
            if not _gone(error):
                raise
        await store.set_closed(self.engine, chat_id, topic.thread_id, True, utcnow())

    async def _quietly(self, method: str, payload: dict[str, Any]) -> None:
        """A topic change whose 'nothing to change' answer is success."""
        try:
            await self.api.call(method, payload)
        except BadRequest as error:
            if "TOPIC_NOT_MODIFIED" not in str(error):
                raise

    async def _send(self, chat_id: str, conversation_id: int, thread: int, method: str, payload: dict[str, Any],
                    customer_message: str | None = None, file: tuple[str, str, bytes] | None = None) -> str:
        """Post into the topic; a topic deleted meanwhile is re-created (never General) and the post goes there.
        `file`: (field, name, bytes) uploaded with the call."""
        call = {"chat_id": int(chat_id), **payload}

        async def post(fields: dict[str, Any]) -> Any:
            if file is None:
                return await self.api.call(method, fields)
            return await self.api.upload(method, fields, *file)

        try:
            sent = await post({**call, "message_thread_id": thread})
        except BadRequest as error:
            if "TOPIC_CLOSED" in str(error):
                thread = await self._open_again(chat_id, conversation_id)
            elif _gone(error):
                log.info("topic %s of conversation %s is gone; creating it again", thread, conversation_id)
                thread = await self._create(chat_id, conversation_id)
                # The new topic starts with the customer file and the conversation so far, like the first.
                await self.api.call("sendMessage", {"chat_id": int(chat_id), "message_thread_id": thread,
                                                    "text": await self._file(conversation_id)})
            else:
                raise
            sent = await post({**call, "message_thread_id": thread})
        message_id = int(sent["message_id"])
        await store.map_message(self.engine, chat_id, message_id, conversation_id, utcnow(),
                                customer_message_id=customer_message)
        return str(message_id)

    async def _open_again(self, chat_id: str, conversation_id: int) -> int:
        topic = await store.topic_of(self.engine, conversation_id)
        if topic is not None and topic.thread_id is not None:
            await store.set_closed(self.engine, chat_id, topic.thread_id, True, utcnow())
        return await self._open(chat_id, conversation_id)

    # -- content
    async def _customer(self, chat_id: str, conversation_id: int, thread: int, payload: dict[str, Any]) -> str:
        group = payload["group"]
        markup = None
        if group.get("claim"):
            t = Translator(await store.group_locale(self.engine), self.company.timezone)
            markup = {"inline_keyboard": [[{"text": t._("✋ Claim"), "callback_data": f"{CLAIM_BUTTON}{conversation_id}"}]]}
        extra: dict[str, Any] = {"reply_markup": markup} if markup else {}
        if group.get("channel") == CUSTOMER_CHANNEL and group.get("message"):
            # The customer's own message, media included, without a "forwarded from" header.
            copy = {"from_chat_id": int(group["chat"]), "message_id": int(group["message"]), **extra}
            try:
                return await self._send(chat_id, conversation_id, thread, "copyMessage", copy, group["message"])
            except BadRequest as error:
                if "message to copy not found" not in str(error):  # not customer-facing
                    raise
                # The customer deleted it meanwhile: what we stored of it, as text.
                return await self._send(chat_id, conversation_id, thread, "sendMessage",
                                        {"text": payload["text"][:4096] or "…", **extra}, group["message"])
        # Web chat and WeChat: a file in our store is uploaded with the text as its caption; others are named.
        files = list(group.get("files", ()))
        data = await self.media.read(files[0]["ref"]) if files and self.media is not None else None
        if data is not None:
            kind = files[0]["kind"] if files[0]["kind"] in ("photo", "video", "document") else "document"
            caption = {"caption": payload["text"][:1024]} if payload["text"] else {}
            return await self._send(chat_id, conversation_id, thread, f"send{kind.capitalize()}", {**caption, **extra},
                                    group.get("message"), file=(kind, files[0].get("name") or kind, data))
        named = " ".join(f"📎 {f.get('name') or f['kind']}" for f in files)
        text = "\n".join(part for part in (payload["text"], named) if part) or "…"
        return await self._send(chat_id, conversation_id, thread, "sendMessage", {"text": text[:4096], **extra},
                                group.get("message"))

    async def _file(self, conversation_id: int) -> str:
        """The first post of a topic (see `file_text`), in the group's language."""
        t = Translator(await store.group_locale(self.engine), self.company.timezone)
        info = await conversation(self.engine, conversation_id)
        if info is None:
            return t._("Conversation %(id)s", id=conversation_id)
        data = await customer_file(self.engine, info.customer_id) or {}
        talk = [(line.author, line.text, bool(line.attachments))
                for line in (await transcript(self.engine, conversation_id))[-_FILE_LINES:] if not line.internal]
        return file_text(t, info.ticket_number, info.customer, info.locale, info.channel, data, talk)


def warranty_text(t: Translator, verdict: dict[str, Any] | None) -> str | None:
    """A ticket's warranty verdict (as handlers/warranty.py stores it) in a few words."""
    if not verdict:
        return None
    if verdict.get("outcome") == "no_start_date":
        return t._("warranty start unknown (check the papers)")
    if verdict.get("in_warranty") is True:
        return t._("in warranty")
    if verdict.get("in_warranty") is False:
        return t._("out of warranty (%(reason)s)", reason=verdict.get("reason") or "?")
    return None


def file_text(t: Translator, number: str | None, customer: str | None, locale: str, channel: str,
              data: dict[str, Any], talk: list[tuple[str, str, bool]]) -> str:
    """The customer file (products, warranty verdict, earlier requests) and the conversation so far
    (author, text, has files), cut to one Telegram message."""
    lines = [t._("🆕 Request %(number)s from %(name)s (language: %(language)s, channel: %(channel)s)",
                 number=number or "—", name=customer or "?", language=locale, channel=channel)]
    tickets = data.get("tickets") or []
    current = next((tk for tk in tickets if tk.get("number") == number), None)
    verdict = warranty_text(t, (current or {}).get("warranty"))
    if verdict:
        lines.append(t._("Warranty: %(verdict)s", verdict=verdict))
    products = data.get("products") or []
    if products:
        lines.append(t._("Products:"))
        lines += [f"• {p.get('model') or '?'} ({p.get('serial') or '?'})" for p in products]
    earlier = [tk for tk in tickets if tk.get("number") != number]
    if earlier:
        lines.append(t._("Earlier requests:"))
        for tk in earlier[:5]:
            cover = warranty_text(t, tk.get("warranty"))
            lines.append(f"• {tk.get('number')} ({tk.get('kind')}, {tk.get('status')}{', ' + cover if cover else ''})")
    lines.append(t._("The conversation so far:"))
    authors = {"customer": "👤", "bot": "🤖", "agent": "🎧", "system": "ℹ️"}
    said = [f"{authors.get(author, '•')} {text[:300]}{' 📎' if files else ''}" for author, text, files in talk]
    end = [t._("Press Claim or write /claim to take it.")]
    while said and len("\n".join(lines + said + end)) > MAX_TEXT:
        said.pop(0)  # the latest lines matter most
    return "\n".join(lines + said + end)[:MAX_TEXT]


def _gone(error: BadRequest) -> bool:
    return any(mark in str(error) for mark in _GONE)


async def _name(engine: Store, agent_id: int | None) -> str | None:
    if agent_id is None:
        return None
    from storage.agents import get_agent

    agent = await get_agent(engine, int(agent_id))
    return agent.name if agent else None


# --- start-up check -------------------------------------------------------------------


async def check_group(api: BotAPI, group_id: str) -> str | None:
    """None if the bot can run the group, else why not (for the operator, in the log and /healthz)."""
    try:
        chat = await api.call("getChat", {"chat_id": int(group_id)})
        me = await api.call("getMe", {})
        member = await api.call("getChatMember", {"chat_id": int(group_id), "user_id": me["id"]})
    except Exception as error:  # noqa: BLE001 - any answer but success is the operator's to fix
        return f"AGENT_GROUP_ID {group_id}: the bot cannot read the group ({error}); is the bot a member?"  # not customer-facing
    if not chat.get("is_forum"):
        return f"AGENT_GROUP_ID {group_id}: the group has no topics; turn on Topics in the group's settings"  # not customer-facing
    if member.get("status") not in ("administrator", "creator") or (
            member.get("status") == "administrator" and not member.get("can_manage_topics")):
        return (f"AGENT_GROUP_ID {group_id}: the bot must be an administrator of the group with the right "  # not customer-facing
                "'Manage topics' (can_manage_topics)")
    return None


# --- inbound --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Said:
    """A member's message in a topic, as the router needs it."""

    chat_id: str  # where the answer goes: the group, or a private chat with the bot
    thread: int | None
    message_id: int
    user_id: int
    language: str | None
    text: str


class GroupRouter:
    """Members' messages, commands and button presses in the group."""

    def __init__(self, core: Dispatcher, api: BotAPI, engine: Store, company: Company, group_id: str,
                 media: MediaStore | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.core, self.api, self.engine, self.company = core, api, engine, company
        self.group_id, self.media, self.clock = group_id, media, clock

    def router(self) -> Router:
        router = Router(name="agent_group")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback)
        return router

    def ours(self, chat_id: int) -> bool:
        return str(chat_id) == self.group_id

    async def on_message(self, message: Message) -> None:
        if not self.ours(message.chat.id) or message.from_user is None or message.from_user.is_bot:
            return
        thread = message.message_thread_id if message.is_topic_message else None
        if message.forum_topic_closed is not None and thread is not None:
            await store.set_closed(self.engine, self.group_id, thread, True, utcnow())
            return
        if message.forum_topic_reopened is not None and thread is not None:
            await store.set_closed(self.engine, self.group_id, thread, False, utcnow())
            return
        said = _Said(self.group_id, thread, message.message_id, message.from_user.id, message.from_user.language_code,
                     message.text or message.caption or "")
        command, _, rest = said.text.partition(" ")
        command = command.split("@", 1)[0].lower()
        if command == "/link":
            await self.link(said, rest.strip())
            return
        if thread is None:
            return  # General belongs to the people
        conversation_id = await store.conversation_of_thread(self.engine, self.group_id, thread)
        if conversation_id is None:
            return  # a topic the bot did not open
        agent = await store.agent_of_telegram(self.engine, said.user_id)
        if agent is None or not agent.active:
            t = Translator(_language(said.language), self.company.timezone)
            await self.answer(conversation_id, t._(
                "Sorry, your Telegram account is not linked to an agent, so your message was not passed on. "
                "Open the console, choose “Link Telegram” and send the code shown there to the bot here."))
            return
        t = Translator(agent.locale, self.company.timezone)
        actor = Actor(agent.id, Role(agent.role))
        if command.startswith("/"):
            await self.command(conversation_id, actor, t, command, rest.strip())
            return
        attachments = await self._files(message)
        if message.photo or message.document or message.video or message.voice:
            if not attachments:
                await self.answer(conversation_id, t._("This file could not be passed on; please send it again."))
                return
        quoted = None
        if message.reply_to_message is not None:  # an answer to a copied customer message: quoted for them too
            found = await store.mapped(self.engine, self.group_id, message.reply_to_message.message_id)
            quoted = found[2] if found and found[0] == conversation_id else None
        result = await self.core.act(Action(conversation_id, Act.REPLY, actor, text=said.text,
                                            attachments=attachments, reply_to=quoted, via="group"))
        if result.ok:
            await store.map_message(self.engine, self.group_id, said.message_id, conversation_id, utcnow(),
                                    message_id=result.message_id)
        else:
            await self.refused(conversation_id, t, result)

    async def on_edit(self, message: Message) -> None:
        """A linked agent edits their message in a topic: the customer's copy is corrected too."""
        if not self.ours(message.chat.id) or message.from_user is None or not message.is_topic_message:
            return
        thread = message.message_thread_id
        conversation_id = await store.conversation_of_thread(self.engine, self.group_id, thread) if thread else None
        agent = await store.agent_of_telegram(self.engine, message.from_user.id)
        if conversation_id is None or agent is None or not agent.active:
            return
        t = Translator(agent.locale, self.company.timezone)
        found = await store.mapped(self.engine, self.group_id, message.message_id)
        if found is None or found[1] is None:
            await self.answer(conversation_id, t._("Only your replies to the customer can be corrected by editing them."))
            return
        result = await self.core.act(Action(conversation_id, Act.EDIT, Actor(agent.id, Role(agent.role)),
                                            text=message.text or message.caption or "", message_id=found[1], via="group"))
        if not result.ok:
            await self.refused(conversation_id, t, result)

    async def command(self, conversation_id: int, actor: Actor, t: Translator, command: str,
                      rest: str) -> ActionResult | None:
        """A member's command in the topic; the action's result (None: nothing was asked of the core)."""
        action: Action | None = None
        if command == "/claim":
            action = Action(conversation_id, Act.CLAIM, actor, via="group")
        elif command == "/release":
            action = Action(conversation_id, Act.RELEASE, actor, via="group")
        elif command == "/note":
            if not rest:
                await self.answer(conversation_id, t._("Write the note after the command: /note <text>"))
                return None
            action = Action(conversation_id, Act.NOTE, actor, text=rest, via="group")
        elif command == "/resolve":
            codes = ", ".join(r.value for r in Resolution)
            if rest not in {r.value for r in Resolution}:
                await self.answer(conversation_id, t._("Give a resolution code: /resolve <code>, one of: %(codes)s", codes=codes))
                return None
            action = Action(conversation_id, Act.RESOLVE, actor, resolution=rest, via="group")
        elif command == "/transfer":
            action = await self._transfer(conversation_id, actor, t, rest)
            if action is None:
                return None
        elif command == "/canned":
            await self.canned(conversation_id, actor, t, rest)
            return None
        elif command in group_visits.COMMANDS:
            await self.visit_word(conversation_id, actor, t, command, rest)
            return None
        else:
            await self.answer(conversation_id, t._(
                "Unknown command. In a topic: /claim, /transfer <agent|team>, /note <text>, /canned, /resolve <code>, /release; "
                "for the visit: /onway, /late <minutes>, /arrived, /absent <HH:MM> <HH:MM>, /result <result> <report>."))
            return None
        result = await self.core.act(action)
        if not result.ok:
            await self.refused(conversation_id, t, result)
        elif action.act is Act.NOTE:
            await self.answer(conversation_id, t._("📝 Note saved (not sent to the customer)."))
        return result

    async def visit_word(self, conversation_id: int, actor: Actor, t: Translator, command: str, rest: str) -> None:
        """The engineer's word on the visit booked for the topic's conversation (bot/channels/group_visits.py),
        by an agent who may act on that conversation, as in the console."""
        info = await conversation(self.engine, conversation_id)
        if info is None or actor.agent_id is None or actor.role is None:
            return
        if not await may_open_conversation(self.engine, info, actor.agent_id, actor.role):
            text = (t._("Not done: %(name)s has this conversation.", name=info.owner) if info.owner
                    else t._("Not done: claim the conversation first (/claim)."))
        else:
            topic = await store.topic_of(self.engine, conversation_id)
            text = await group_visits.visit_command(VisitDesk(self.engine, self.company), conversation_id,
                                                    topic.ticket_id if topic else None, actor.agent_id, t, command,
                                                    rest.strip(), self.clock())
        await self.answer(conversation_id, text)

    async def _transfer(self, conversation_id: int, actor: Actor, t: Translator, target: str) -> Action | None:
        teams = {team.id for team in self.company.teams.teams} if self.company.teams else set()
        agent_id = await store.agent_by_login(self.engine, target) if target else None
        if agent_id is not None:
            return Action(conversation_id, Act.TRANSFER, actor, target_agent_id=agent_id, via="group")
        if target in teams:
            return Action(conversation_id, Act.REQUEUE, actor, team=target, via="group")
        await self.answer(conversation_id, t._("No agent or team called “%(name)s”. Teams: %(teams)s",
                                               name=target, teams=", ".join(sorted(teams)) or "—"))
        return None

    async def canned(self, conversation_id: int, actor: Actor, t: Translator, reply_id: str) -> None:
        canned = self.company.canned
        if canned is None or not canned.replies:
            await self.answer(conversation_id, t._("There are no canned replies."))
            return
        if not reply_id:
            listing = "\n".join(f"/canned {r.id} — {r.in_language(t.locale, 'title')}" for r in canned.replies)
            await self.answer(conversation_id, t._("Canned replies (sent in the customer's language):") + "\n" + listing)
            return
        chosen = canned.get(reply_id)
        if chosen is None:
            await self.answer(conversation_id, t._("No canned reply “%(name)s”; write /canned for the list.", name=reply_id))
            return
        info = await conversation(self.engine, conversation_id)
        text = chosen.in_language(info.locale if info else GROUP_LOCALE)
        result = await self.core.act(Action(conversation_id, Act.REPLY, actor, text=text, via="canned"))
        if not result.ok:
            await self.refused(conversation_id, t, result)

    async def on_callback(self, callback: CallbackQuery) -> None:
        message = callback.message if isinstance(callback.message, Message) else None
        data = callback.data or ""
        if message is None or not self.ours(message.chat.id) or not data.startswith(CLAIM_BUTTON):
            return
        agent = await store.agent_of_telegram(self.engine, callback.from_user.id)
        t = Translator(agent.locale if agent else _language(callback.from_user.language_code), self.company.timezone)
        answer = t._("Your Telegram account is not linked to an agent.")
        try:
            conversation_id = int(data[len(CLAIM_BUTTON):])
        except ValueError:
            conversation_id = 0
        if agent is not None and agent.active and conversation_id:
            result = await self.core.act(Action(conversation_id, Act.CLAIM, Actor(agent.id, Role(agent.role)), via="group"))
            answer = t._("It is yours.") if result.ok else await self._why(t, result)
        try:
            await self.api.call("answerCallbackQuery", {"callback_query_id": callback.id, "text": answer})
        except Exception:  # an expired query: the notice in the topic says who has it anyway
            log.debug("answerCallbackQuery failed", exc_info=True)

    async def link(self, said: _Said, code: str) -> None:
        linked = await store.redeem_link_code(self.engine, code, said.user_id, utcnow()) if code else None
        if linked is None:
            t = Translator(_language(said.language), self.company.timezone)
            text = t._("This code is not valid (or too old). Open the console, choose “Link Telegram” and send the new code.")
        else:
            t = Translator(linked.locale, self.company.timezone)
            text = t._("Linked: your messages here now act as %(name)s.", name=linked.name)
        if said.chat_id == self.group_id:
            payload = {"text": text, "group": {"post": Post.LINKED.value, "thread": said.thread}}
            row_id = await store.enqueue(self.engine, CHANNEL, self.group_id, None, payload, utcnow())
            channel = CHANNEL
        else:  # a private chat with the bot
            payload = Reply(text).to_payload()
            row_id = await store.enqueue(self.engine, CUSTOMER_CHANNEL, said.chat_id, None, payload, utcnow())
            channel = CUSTOMER_CHANNEL
        if self.core.outbox is not None:
            self.core.outbox.queued([Queued(row_id, channel, said.chat_id, payload, False)])

    async def link_privately(self, message: Message, code: str) -> bool:
        """An agent's code sent to the bot privately: linked (and told so); False when it is no
        agent's code, so that the customer's chat-linking code (the same command) gets it."""
        if message.from_user is None or not await store.is_link_code(self.engine, code, utcnow()):
            return False
        said = _Said(str(message.chat.id), None, message.message_id, message.from_user.id,
                     message.from_user.language_code, message.text or "")
        await self.link(said, code)
        return True

    async def refused(self, conversation_id: int, t: Translator, result: ActionResult) -> None:
        await self.answer(conversation_id, await self._why(t, result))

    async def _why(self, t: Translator, result: ActionResult) -> str:
        owner = await _name(self.engine, result.owner_id)
        if owner and result.reason in ("already claimed", "changed meanwhile", "not yours"):  # not customer-facing
            return t._("Not done: %(name)s has this conversation.", name=owner)
        if result.reason in ("not assigned", "not yours"):  # not customer-facing
            return t._("Not done: claim the conversation first (/claim).")
        if result.reason == "not waiting for a person":  # not customer-facing
            return t._("Not done: the conversation is not waiting for a person.")
        if result.reason == "not your message":  # not customer-facing
            return t._("Only your replies to the customer can be corrected by editing them.")
        if result.reason == "no such agent":  # not customer-facing
            return t._("Not done: no such agent.")
        return t._("Not done (%(reason)s).", reason=result.reason or "?")

    async def answer(self, conversation_id: int, text: str) -> None:
        """An agent-facing answer in the topic, through the outbox like every post to the group."""
        payload = _post(Post.REFUSAL, conversation_id, text)
        row_id = await store.enqueue(self.engine, CHANNEL, self.group_id, conversation_id, payload, utcnow())
        if self.core.outbox is not None:
            self.core.outbox.queued([Queued(row_id, CHANNEL, self.group_id, payload, False)])

    async def _files(self, message: Message) -> tuple[Attachment, ...]:
        """An agent's photo or document, kept in the media store so any channel can send it."""
        if self.media is None:
            return ()
        found: list[tuple[str, str, str, str]] = []
        if message.photo:
            found.append(("photo", message.photo[-1].file_id, "photo.jpg", "image/jpeg"))
        for kind in ("document", "video", "voice"):
            media = getattr(message, kind)
            if media is not None:
                name = getattr(media, "file_name", None) or kind
                found.append((kind if kind != "voice" else "document", media.file_id, name,
                               getattr(media, "mime_type", None) or "application/octet-stream"))
        files = []
        for kind, file_id, name, mime in found:
            data = await self.api.download(file_id)
            extension = name.rsplit(".", 1)[1].lower() if "." in name else "bin"
            files.append(Attachment(kind, await self.media.save(data, extension), name=name, mime=mime))
        return tuple(files)


def _language(code: str | None) -> str:
    from bot.i18n import normalize_locale

    return normalize_locale(code or GROUP_LOCALE)
