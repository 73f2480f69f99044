"""Telegram (aiogram 3): updates to Events, Replies to Bot API calls.

Inbound, the handler returns only after the core has committed the turn, so
an update is acknowledged to Telegram (next getUpdates offset, or the webhook's
200) only once it is stored: polling runs with `handle_as_tasks=False`.
When the store fails, long polling retries the turn (with back-off) instead
of moving on: aiogram confirms an offset as soon as the handler returns, even
with an error, so an update would otherwise be confirmed but never stored.
Routing uses no aiogram filters (each synchronous filter costs a thread hop).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import re
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from aiogram import Bot, Router
from aiogram import Dispatcher as AiogramDispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageText,
    GetMe,
    GetUpdates,
    SendMessage,
    SetWebhook,
)
from aiogram.methods.base import Response
from aiogram.types import BotCommand, CallbackQuery, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.channels.telegram_guard import feed_or_drop
from bot.core.dispatcher import Dispatcher, StoreUnavailable
from bot.core.events import Attachment, Event, Kind, Reply
from bot.i18n import Translator
from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES
from bot.outbox import RetryLater, Temporary, Uncertain, Unreachable

log = logging.getLogger(__name__)

# aiogram builds Response[<returned type>] on every call, and pydantic caches such
# classes only weakly: a GC frees them and the next call rebuilds one (~9 ms stall).
# Holding them here keeps them built.
_RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (SendMessage, EditMessageText, AnswerCallbackQuery, GetUpdates, GetMe, SetWebhook, DeleteWebhook)
)

CHANNEL = "telegram"
MAX_TEXT = 4096  # Bot API limit of one message
MAX_CALLBACK_DATA = 64  # bytes


def make_bot(token: str, api_base: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base)) if api_base else AiohttpSession()
    return Bot(token, session=session, default=DefaultBotProperties(link_preview_is_disabled=True))


# --- inbound ------------------------------------------------------------------


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        best = message.photo[-1]  # the largest size
        found.append(Attachment("photo", best.file_id, size=best.file_size))
    for kind in ("document", "video", "voice", "audio", "video_note", "animation"):
        media = getattr(message, kind)
        if media is not None:
            found.append(Attachment(
                kind, media.file_id, name=getattr(media, "file_name", None),
                mime=getattr(media, "mime_type", None), size=media.file_size,
            ))
    return tuple(found)


def message_event(message: Message, update_id: int) -> Event:
    user = message.from_user
    base: dict[str, Any] = {
        "channel": CHANNEL, "user_id": str(user.id if user else message.chat.id), "chat_id": str(message.chat.id),
        "delivery_id": str(update_id), "message_id": str(message.message_id),
        "language_hint": user.language_code if user else None,
        "display_name": user.full_name if user else None,
    }
    text = message.text or message.caption or ""
    if message.contact:
        # Kind.CONTACT is proof of the sender's own number; someone else's card is just typed text.
        if user is not None and message.contact.user_id == user.id:
            return Event(kind=Kind.CONTACT, phone=message.contact.phone_number, **base)
        return Event(kind=Kind.TEXT, text=message.contact.phone_number, **base)
    if message.location:
        return Event(kind=Kind.LOCATION, location=(message.location.latitude, message.location.longitude), **base)
    attachments = _attachments(message)
    if attachments:
        return Event(kind=Kind.MEDIA, attachments=attachments, text=text, **base)
    if text.startswith("/") and len(text) > 1:
        command = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower()
        return Event(kind=Kind.COMMAND, command=command, text=text, **base)
    return Event(kind=Kind.TEXT, text=text, **base)


def callback_event(callback: CallbackQuery, update_id: int) -> Event:
    message = callback.message if isinstance(callback.message, Message) else None
    return Event(
        channel=CHANNEL, user_id=str(callback.from_user.id),
        chat_id=str(message.chat.id if message else callback.from_user.id),
        kind=Kind.CHOICE, choice=callback.data or "", delivery_id=str(update_id),
        language_hint=callback.from_user.language_code, display_name=callback.from_user.full_name,
        origin_message_id=str(message.message_id) if message else None,
        origin_text=message.text if message else None,
    )


class Progress:
    """The last update whose turn is committed (updates are handled one at a time), so a
    stop can confirm it to Telegram at once instead of leaving it to be sent again."""

    def __init__(self) -> None:
        self.last_update: int | None = None

    def committed(self, update_id: int) -> Callable[[asyncio.Future[None]], None]:
        def done(handled: asyncio.Future[None]) -> None:
            if not handled.cancelled() and handled.exception() is None:
                self.last_update = max(update_id, self.last_update or update_id)

        return done


async def committed(core: Dispatcher, event: Event, *, retry: bool, progress: Progress | None = None) -> None:
    """`core.handle(event)`; with `retry` (long polling), a store failure is retried
    with back-off until the turn is committed, so the offset moves on only then.
    (A webhook answers 500 instead, and Telegram delivers the update again.)
    Shielded: a stop that cancels polling lets the turn in hand finish."""
    failures = 0
    while True:
        try:
            handled = asyncio.ensure_future(core.handle(event))
            if progress is not None and event.delivery_id is not None:
                handled.add_done_callback(progress.committed(int(event.delivery_id)))
            await asyncio.shield(handled)
            return
        except StoreUnavailable as error:
            if not retry:
                raise
            failures += 1
            delay = min(5.0, 0.2 * 2 ** min(failures, 5)) * random.uniform(0.8, 1.2)
            log.warning("update %s not stored (%s); trying again in %.1f s", event.delivery_id, error, delay)
            await asyncio.sleep(delay)


class AgentGroup(Protocol):
    """The agents' group (bot/channels/telegram_group.py): its members' messages and presses."""

    def ours(self, chat_id: int) -> bool: ...

    async def on_message(self, message: Message) -> None: ...

    async def on_callback(self, callback: CallbackQuery) -> None: ...

    async def link_privately(self, message: Message, code: str) -> bool: ...  # True: an agent's code, linked

    async def on_edit(self, message: Message) -> None: ...


def build_router(core: Dispatcher, api: BotAPI, *, retry: bool = True, progress: Progress | None = None,
                 group: AgentGroup | None = None) -> Router:
    router = Router(name="customers")

    async def on_message(message: Message, event_update: Update) -> None:
        if message.chat.type != "private":
            if group is not None:
                await group.on_message(message)  # groups belong to the agents
            return
        # An agent links their account with a console code; any other code is a customer's
        # (linking their chats, handlers/my_file.py), which the core checks and rate-limits.
        if group is not None and (message.text or "").startswith("/link ") and \
                await group.link_privately(message, (message.text or "")[6:].strip()):
            return
        await committed(core, message_event(message, event_update.update_id), retry=retry, progress=progress)

    async def on_callback(callback: CallbackQuery, event_update: Update) -> None:
        if group is not None and isinstance(callback.message, Message) and group.ours(callback.message.chat.id):
            await group.on_callback(callback)
            return
        try:
            await committed(core, callback_event(callback, event_update.update_id), retry=retry, progress=progress)
        finally:
            # Stops the button's spinner; not a message, so not through the outbox.
            try:
                await api.call("answerCallbackQuery", {"callback_query_id": callback.id})
            except Exception:  # an expired query must not fail the (committed) turn
                log.debug("answerCallbackQuery failed", exc_info=True)

    router.message.register(on_message)
    router.callback_query.register(on_callback)
    if group is not None:
        router.edited_message.register(group.on_edit)  # an agent corrects a reply in a topic
    return router


def build_dispatcher(
    core: Dispatcher, api: BotAPI, *, retry: bool = True, progress: Progress | None = None,
    group: AgentGroup | None = None,
) -> AiogramDispatcher:
    """`retry`: long polling (see `committed`); a webhook passes False."""
    dispatcher = AiogramDispatcher()
    dispatcher.include_router(build_router(core, api, retry=retry, progress=progress or Progress(), group=group))
    return dispatcher


_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")


def webhook_secret(token: str, configured: str | None) -> str:
    """The secret Telegram sends with each webhook call. Unset: derived from the token
    (HMAC), so every worker of one bot agrees on it. Set: it must be strong."""
    if not configured:
        return hmac.new(token.encode(), b"aftersales telegram webhook secret", hashlib.sha256).hexdigest()
    if not _SECRET.fullmatch(configured):
        raise ValueError(
            "WEBHOOK_SECRET must be 32 to 256 characters of A-Z, a-z, 0-9, '_' and '-' "
            f"(got {len(configured)} characters); or leave it unset to derive one from the token"
        )
    return configured


class WebhookHandler(SimpleRequestHandler):
    """aiogram's webhook handler, answering 400 (not 500, which Telegram retries
    for ever) to a body that is not a valid update, and 200 to one that cannot be
    processed (logged once; telegram_guard)."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except ValueError:
            return web.Response(status=400, text="not a Telegram update")  # not customer-facing
        await feed_or_drop(lambda: self.dispatcher.feed_update(bot, update, **self.data), update.update_id)
        return web.Response(text="ok")


# Telegram keys command lists by a two-letter language code only: one list serves "zh".
_COMMAND_LANGUAGE = {"zh_Hans": "zh", "zh_Hant": None}


async def set_commands(bot: Bot, commands: dict[str, str], timezone: str) -> None:
    """The "/" menu: `commands` (name -> description msgid) in every language; the
    default list, for languages we do not speak, in English. Simplified Chinese serves
    "zh" (Telegram has no code for a script); Traditional Chinese readers see it too."""
    for locale in SUPPORTED_LOCALES:
        code = _COMMAND_LANGUAGE.get(locale, locale)
        if code is None:
            continue
        t = Translator(locale, timezone)
        listed = [BotCommand(command=name, description=t._(description)) for name, description in commands.items()]
        await bot.set_my_commands(listed, language_code=None if locale == DEFAULT_LOCALE else code)


# --- outbound -----------------------------------------------------------------


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut at paragraph, then line, then word boundaries, never inside a word if avoidable.

    A boundary is taken in that order if it leaves the part at least half full."""
    parts: list[str] = []
    while len(text) > limit:
        cuts = [text.rfind(sep, 0, limit) for sep in ("\n\n", "\n", " ")]
        cut = next((c for c in cuts if c > limit // 2), max(cuts))
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [p for p in parts if p] or [""]


def keyboard(reply: Reply) -> dict[str, Any] | None:
    """The reply's buttons as Bot API JSON: a reply keyboard for a share request,
    else inline buttons (navigation on one row at the bottom); a reply that closes
    the share button has no buttons (the core sees to it) and removes the keyboard."""
    if reply.request:
        share: dict[str, Any] = {
            "text": reply.request_label or reply.request,
            "request_contact": reply.request == "phone",
            "request_location": reply.request == "location",
        }
        return {"keyboard": [[share]], "resize_keyboard": True, "one_time_keyboard": True}
    if not reply.choices:
        return {"remove_keyboard": True} if reply.closes_request else None
    rows: list[list[dict[str, str]]] = []
    nav: list[dict[str, str]] = []
    for choice in reply.choices:
        if len(choice.id.encode()) > MAX_CALLBACK_DATA:
            raise ValueError(f"callback data over {MAX_CALLBACK_DATA} bytes: {choice.id!r}")
        button: dict[str, str] = {"text": choice.label, "callback_data": choice.id}
        (nav.append(button) if choice.id.startswith("nav:") else rows.append([button]))
    return {"inline_keyboard": rows + ([nav] if nav else [])}


class BadRequest(Exception):
    """The Bot API refused the call itself (400): sending it again will not help."""


class BotAPI:
    """The Bot API methods the outbox sends, posted as JSON on the bot's HTTP session.

    Replies are plain dicts and only the message id is read back, so aiogram's
    typed method objects are skipped here: building, form-encoding and validating
    them cost three times the rest of a reply's delivery (bench/README.md).
    Inbound updates and everything else still go through aiogram.
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def call(self, method: str, payload: dict[str, Any]) -> Any:
        """The method's `result`; Bot API errors become the outbox's exceptions."""
        try:
            status, body = await self.post(method, json.dumps(payload, ensure_ascii=False).encode())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as trouble:  # nothing was sent
            raise Temporary(f"{method}: {type(trouble).__name__} {trouble}") from trouble
        except (aiohttp.ClientError, TimeoutError) as trouble:  # sent; whether it arrived is unknown
            raise Uncertain(f"{method}: {type(trouble).__name__} {trouble}") from trouble
        try:
            answer = json.loads(body)
        except ValueError as trouble:  # not JSON: a proxy's error page
            raise Temporary(f"{method}: HTTP {status}, not a Bot API answer") from trouble
        if answer.get("ok"):
            return answer.get("result")
        code, description = answer.get("error_code", status), answer.get("description", "")
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        if retry_after is not None:
            raise RetryLater(float(retry_after))
        if code == 403:
            raise Unreachable(description)
        if code == 400:
            raise BadRequest(description)
        raise Temporary(f"{method}: {code} {description}")  # 5xx, 401 (token revoked?), 404 ...

    async def post(self, method: str, body: bytes) -> tuple[int, bytes]:
        """One HTTP POST to the Bot API server (the benchmark answers it locally)."""
        session = self.bot.session
        http = await session.create_session()  # type: ignore[attr-defined]
        url = session.api.api_url(token=self.bot.token, method=method)
        async with http.post(url, data=body, headers=_JSON, timeout=aiohttp.ClientTimeout(total=session.timeout)) as response:
            return response.status, await response.read()


    async def upload(self, method: str, fields: dict[str, Any], field: str, name: str, data: bytes) -> Any:
        """A Bot API call with one file uploaded (multipart), e.g. sendPhoto; errors as in `call`."""
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        form.add_field(field, data, filename=name)
        session = self.bot.session
        http = await session.create_session()  # type: ignore[attr-defined]
        url = session.api.api_url(token=self.bot.token, method=method)
        try:
            async with http.post(url, data=form, timeout=aiohttp.ClientTimeout(total=session.timeout)) as response:
                answer = json.loads(await response.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as trouble:
            raise Temporary(f"{method}: {type(trouble).__name__} {trouble}") from trouble
        except (aiohttp.ClientError, TimeoutError) as trouble:
            raise Uncertain(f"{method}: {type(trouble).__name__} {trouble}") from trouble
        if answer.get("ok"):
            return answer.get("result")
        if answer.get("error_code") == 403:
            raise Unreachable(answer.get("description", ""))
        raise BadRequest(answer.get("description", "")) if answer.get("error_code") == 400 else Temporary(str(answer))


    async def download(self, file_id: str) -> bytes:
        """A file a user sent (getFile, then the file URL)."""
        found = await self.call("getFile", {"file_id": file_id})
        session = self.bot.session
        http = await session.create_session()  # type: ignore[attr-defined]
        url = session.api.file_url(token=self.bot.token, path=found["file_path"])
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=session.timeout)) as response:
            if response.status != 200:
                raise Temporary(f"getFile download: HTTP {response.status}")
            data: bytes = await response.read()
            return data


_JSON = {"Content-Type": "application/json"}


def _quote(message_id: str) -> dict[str, Any]:
    """Answer that message of the customer's; sent anyway if they deleted it."""
    return {"message_id": int(message_id), "allow_sending_without_reply": True}
_MEDIA_METHODS = {"photo": "sendPhoto", "video": "sendVideo", "document": "sendDocument"}


class Files(Protocol):
    async def read(self, ref: str) -> bytes | None: ...


class TelegramTransport:
    channel = CHANNEL

    def __init__(self, api: BotAPI, files: Files | None = None) -> None:
        self.api = api
        self.files = files  # where an agent's uploaded files are read from
        # Outbox row -> parts of its long text already out: a retry goes on from there.
        self._parts_out: dict[int, int] = {}

    def messages(self, reply: Reply) -> int:
        """How many Telegram messages `reply` becomes (the sender's rate limits count each)."""
        if reply.replaces is not None or (reply.attachments and self.files is not None):
            return 1
        return len(split_text(reply.text)) + (1 if reply.closes_request and reply.choices else 0)

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        if reply.replaces:
            # Close the pressed keyboard: the new text and no reply_markup.
            payload = {"chat_id": chat_id, "message_id": int(reply.replaces), "text": reply.text[:MAX_TEXT] or "✓"}
            try:
                await self.api.call("editMessageText", payload)
            except BadRequest as error:
                if "not modified" not in str(error) and "not found" not in str(error):  # not customer-facing
                    raise
            except Uncertain as unknown:  # editing twice does no harm
                raise Temporary(str(unknown)) from unknown
            return reply.replaces
        if reply.attachments and self.files is not None:
            return await self._send_file(chat_id, reply)
        parts: list[tuple[str, dict[str, Any] | None]] = [(text, None) for text in split_text(reply.text)]
        markup = keyboard(reply)
        if reply.closes_request and reply.choices:
            # One message cannot both remove the share keyboard and carry inline buttons.
            parts[-1] = (parts[-1][0], {"remove_keyboard": True})
            parts.append((reply.request_label or "👇", markup))
        elif markup:
            parts[-1] = (parts[-1][0], markup)
        sent = None
        # Progress is kept only for an error that is retried; any other outcome ends the row.
        for index in range(self._parts_out.pop(row_id, 0), len(parts)):
            text, part_markup = parts[index]
            message: dict[str, Any] = {"chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": True}}
            if index == 0 and reply.reply_to:
                message["reply_parameters"] = _quote(reply.reply_to)
            last = index == len(parts) - 1
            if part_markup:
                message["reply_markup"] = part_markup
            try:
                sent = await self.api.call("sendMessage", message)
            except Uncertain as unknown:
                if last:
                    raise
                self._parts_out[row_id] = index + 1  # it may have arrived: go on with the next part
                raise Temporary(str(unknown)) from unknown
            except (RetryLater, Temporary):
                self._parts_out[row_id] = index
                raise
        return str(sent["message_id"]) if sent else None

    async def _send_file(self, chat_id: str, reply: Reply) -> str | None:
        """An agent's file as Telegram media (the text as its caption)."""
        assert self.files is not None
        attachment = reply.attachments[0]
        data = await self.files.read(attachment.ref)
        if data is None:
            raise BadRequest(f"file {attachment.ref} is gone")
        kind = attachment.kind if attachment.kind in _MEDIA_METHODS else "document"
        fields: dict[str, Any] = {"chat_id": chat_id}
        if reply.reply_to:
            fields["reply_parameters"] = _quote(reply.reply_to)
        if reply.text:
            fields["caption"] = reply.text[:1024]
        sent = await self.api.upload(_MEDIA_METHODS[kind], fields, kind, attachment.name or kind, data)
        return str(sent["message_id"]) if sent else None
