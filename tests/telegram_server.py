"""A fake Telegram Bot API server for tests, speaking the real HTTP/JSON protocol on loopback.

aiogram reaches it through ``AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))``,
so the real polling loop, webhook handler and exception mapping are exercised end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")
Json = dict[str, Any]

# Form fields that are plain strings; every other form field is JSON-encoded by aiogram
# (ints, bools, reply_markup, entities, allowed_updates ...), so those get json.loads'ed.
_STRING_FIELDS = frozenset({
    "text", "caption", "parse_mode", "url", "secret_token", "callback_query_id", "file_id",
    "photo", "document", "video", "voice", "action", "inline_message_id", "ip_address",
    "business_connection_id", "message_effect_id", "certificate", "thumbnail",
})
# kind -> (default file name, mime type, extra fields of the media object)
_MEDIA: dict[str, tuple[str, str, Json]] = {
    "photo": ("photo.jpg", "image/jpeg", {"width": 800, "height": 600}),
    "document": ("document.pdf", "application/pdf", {}),
    "video": ("video.mp4", "video/mp4", {"width": 640, "height": 360, "duration": 5}),
    "voice": ("voice.ogg", "audio/ogg", {"duration": 3}),
}
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                 "markup are exactly the same as a current content and reply markup of the message")


def _decode_fields(params: Json) -> Json:
    for key, value in params.items():
        if isinstance(value, str) and key not in _STRING_FIELDS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass  # a plain string such as "@channel"
    return params


def _copy(obj: Json) -> Json:
    return json.loads(json.dumps(obj))


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def payload(self) -> Json:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    def response(self) -> web.Response:
        return web.json_response(self.payload(), status=self.status)


class _Signal:
    """Wakes every waiter on ``notify()``; a waiter grabs the event synchronously, so no lost wake-ups."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that races
        # with the event being set, which left the webhook worker impossible to cancel.
        event = self._event
        try:
            async with asyncio.timeout(max(timeout, 0)):
                await event.wait()
        except TimeoutError:
            pass


class _Bucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def take(self) -> float:
        """0 if a token was free (and takes it), else the seconds until one is."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class _FloodLimits:
    """30 messages a second per bot, 1 a second per chat (short bursts of 3 allowed),
    20 a minute per group (negative chat id). Each bucket has a slack of one message
    for network jitter between the bot's clock and ours."""

    SLACK = 1

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # injectable, so a test of the group limit need not wait minutes
        self.overall = _Bucket(30, 30 + self.SLACK, clock)
        self.chats: dict[str, _Bucket] = {}
        self.refused = 0  # 429 answers given
        self.refusals: list[str] = []  # which limit, for each

    def check(self, chat_id: str) -> None:
        group = chat_id.startswith("-")
        bucket = self.chats.get(chat_id)
        if bucket is None:
            bucket = self.chats[chat_id] = (_Bucket(20 / 60, 1 + self.SLACK, self._clock) if group
                                             else _Bucket(1, 3 + self.SLACK, self._clock))
        wait, limit = bucket.take(), f"chat {chat_id}"
        if not wait:
            wait, limit = self.overall.take(), "overall"
            if wait:
                bucket.tokens += 1  # not sent: the chat's token is given back
        if wait:
            self.refused += 1
            self.refusals.append(limit)
            seconds = max(1, int(wait + 0.999))
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


class FakeBotAPI:
    """In-memory Telegram Bot API on 127.0.0.1 with update injection, recording and fault injection."""

    def __init__(self, token: str = "123:ABC", *, username: str = "test_bot",
                 first_name: str = "Test Bot", webhook_attempts: int = 3,
                 webhook_retry_delay: float = 0.2, host: str = "127.0.0.1", port: int = 0,
                 enforce_limits: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.token, self.host, self.port = token, host, port
        prefix = token.split(":", 1)[0]
        self.bot_user: Json = {"id": int(prefix) if prefix.isdigit() else 1, "is_bot": True,
                               "first_name": first_name, "username": username,
                               "can_join_groups": True, "can_read_all_group_messages": False,
                               "supports_inline_queries": False}
        self.webhook_attempts, self.webhook_retry_delay = webhook_attempts, webhook_retry_delay
        self.requests: list[tuple[str, Json]] = []  # every API call: (method, decoded params)
        self.sent: list[Json] = []  # every message sent or edited by the bot
        self.webhook_deliveries: list[tuple[int, int | str]] = []  # (update_id, status | error)
        self.messages: dict[int, Json] = {}  # message_id -> current Message object (bot and user)
        self.files: dict[str, Json] = {}  # file_id -> File object + "content" bytes
        self.pending_updates: list[Json] = []  # unconfirmed updates, oldest first
        self.webhook: Json = {}  # url, secret_token, last_error_date, last_error_message
        self._ids = {k: itertools.count(1) for k in ("update", "message", "file", "callback")}
        self._users: dict[int, Json] = {}
        self._faults: dict[str, deque[ApiError | None]] = defaultdict(deque)
        self._blocked: set[int | str] = set()
        # Telegram's flood limits, answered with 429 like the real server when exceeded.
        self.limiter = _FloodLimits(clock) if enforce_limits else None
        self._outage: str | None = None
        self._lost_answers: dict[str, int] = defaultdict(int)
        self._allowed_updates: list[str] = []
        # (scope type, language_code or "") -> the BotCommand list set for it
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self._changed = _Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        # lower-cased method name (the real API is case-insensitive) -> handler(params, uploads)
        self._methods: dict[str, Callable[[Json, dict[str, Any]], Any]] = {
            "getme": lambda p, u: self.bot_user, "getupdates": lambda p, u: self._get_updates(p),
            "setwebhook": lambda p, u: self._set_webhook(p),
            "deletewebhook": lambda p, u: self._set_webhook(
                {"drop_pending_updates": p.get("drop_pending_updates")}),
            "getwebhookinfo": lambda p, u: self._webhook_info(),
            "sendmessage": lambda p, u: self._send_message(p),
            "editmessagetext": lambda p, u: self._edit(p, "editMessageText", text=True),
            "editmessagereplymarkup": lambda p, u: self._edit(p, "editMessageReplyMarkup"),
            "answercallbackquery": lambda p, u: True, "sendchataction": lambda p, u: True,
            "setmycommands": lambda p, u: self._set_commands(p),
            "getmycommands": lambda p, u: self.commands.get(self._commands_key(p), []),
            "deletemycommands": lambda p, u: self.commands.pop(self._commands_key(p), None) is not None or True,
            "getfile": lambda p, u: self._get_file(p),
            **{f"send{kind}": partial(self._send_media, kind) for kind in _MEDIA}}
        self.forums = Forums(self)  # supergroups with topics (the agents' group)
        self._methods.update(self.forums.methods())

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._closing = False
        self._client = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._changed.notify()  # long polls answer [] at once instead of delaying shutdown
        await self._stop_webhook_worker()
        if self._runner:
            await self._runner.cleanup()
        if self._client:
            await self._client.close()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ customer input
    def user_message(self, user_id: int, text: str | None = None, *, language_code: str = "en",
                     first_name: str = "Test", photo: bool = False, document: bool = False,
                     voice: bool = False, video: bool = False, contact_phone: str | None = None,
                     location: tuple[float, float] | None = None, contact_user_id: int | None = None) -> Json:
        """Inject a private message from a user; ``text`` becomes the caption if media is attached."""
        user = self._users[user_id] = {"id": user_id, "is_bot": False, "first_name": first_name,
                                       "language_code": language_code}
        msg = self._message(user_id, sender=user)
        for kind, wanted in (("photo", photo), ("document", document), ("voice", voice),
                             ("video", video)):
            if wanted:
                msg[kind] = self._new_media(kind, None, b"%s from %d" % (kind.encode(), user_id))
        has_media = any(k in msg for k in _MEDIA)
        if text is not None:
            msg["caption" if has_media else "text"] = text
        if contact_phone is not None:
            # contact_user_id: a card of someone else (default: the sender's own)
            msg["contact"] = {"phone_number": contact_phone, "first_name": first_name,
                              "user_id": user_id if contact_user_id is None else contact_user_id}
        if location is not None:
            msg["location"] = {"latitude": location[0], "longitude": location[1]}
        return self.push_update({"message": msg})

    def callback(self, user_id: int, data: str, message_id: int, *,
                 language_code: str | None = None) -> Json:
        """Inject an inline-button press on the (bot) message ``message_id``."""
        if message_id not in self.messages:
            raise ValueError(f"unknown message_id {message_id}")
        user = dict(self._users.get(user_id) or {"id": user_id, "is_bot": False,
                                                 "first_name": "Test", "language_code": "en"})
        if language_code:
            user["language_code"] = language_code
        query = {"id": str(next(self._ids["callback"])), "from": user, "data": data,
                 "chat_instance": f"ci{user_id}", "message": _copy(self.messages[message_id])}
        return self.push_update({"callback_query": query})

    def push_update(self, update: Json) -> Json:
        """Queue an update; a fresh update_id is assigned unless it already has one (duplicates)."""
        update = {"update_id": update.get("update_id") or next(self._ids["update"]), **update}
        self.pending_updates.append(update)
        self._changed.notify()
        return update

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, method: str, n: int = 1, *, status: int = 429, retry_after: int | None = None,
                  description: str | None = None, after: int = 0) -> None:
        """Answer the next ``n`` calls of ``method`` with an error (429 defaults to retry_after=1),
        once ``after`` calls have been answered normally."""
        if status == 429 and retry_after is None:
            retry_after = 1
        desc = description or (f"Too Many Requests: retry after {retry_after}" if status == 429
                               else f"Error {status}")
        params = {"retry_after": retry_after} if retry_after is not None else None
        self._faults[method.lower()].extend([None] * after + [ApiError(status, desc, params)] * n)

    def lose_answer_next(self, method: str, n: int = 1) -> None:
        """Carry out the next ``n`` calls of ``method`` but drop the connection instead of
        answering: the client cannot know whether they happened."""
        self._lost_answers[method.lower()] += n

    def clear_faults(self) -> None:
        """Forget the errors queued by `fail_next` that have not been answered yet."""
        self._faults.clear()

    def block_chat(self, chat_id: int | str, blocked: bool = True) -> None:
        """Every send/edit to ``chat_id`` answers 403 as if the user blocked the bot."""
        (self._blocked.add if blocked else self._blocked.discard)(chat_id)

    def outage(self, on: bool = True, *, mode: str = "502") -> None:
        """While on, every request gets 502 Bad Gateway (``mode="502"``) or a dropped connection
        (``mode="close"``)."""
        self._outage = mode if on else None

    # ------------------------------------------------------------------ inspection helpers
    async def wait_until(self, condition: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``condition()`` is truthy (re-checked on every state change); return it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (result := condition()):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; sent={self.sent!r}")
            await self._changed.wait(remaining)
        return result

    async def wait_for_sent(self, predicate_or_count: Callable[[Json], bool] | int = 1,
                            timeout: float = 5.0) -> list[Json]:
        """An int waits for that many sent messages (returns all of them); a predicate waits
        for at least one match (returns the matches)."""
        if isinstance(predicate_or_count, int):
            count = predicate_or_count
            await self.wait_until(lambda: len(self.sent) >= count, timeout)
            return list(self.sent)
        pred = predicate_or_count
        return await self.wait_until(lambda: [m for m in self.sent if pred(m)], timeout)

    def sent_to(self, chat_id: int | str) -> list[Json]:
        return [m for m in self.sent if m["chat_id"] == chat_id]

    # ------------------------------------------------------------------ HTTP layer
    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if self._outage == "close":
            assert request.transport is not None
            request.transport.close()  # client sees ServerDisconnectedError
            return web.Response()
        if self._outage:
            return ApiError(502, "Bad Gateway").response()
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        params, uploads = await self._read_params(request)
        method = request.match_info["method"]
        status, body = await self._call(method, params, uploads)
        if self._lost_answers[method.lower()] > 0:
            self._lost_answers[method.lower()] -= 1
            assert request.transport is not None
            request.transport.close()  # done, but the client sees ServerDisconnectedError
            return web.Response()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        for f in self.files.values():
            if f["file_path"] == request.match_info["path"]:
                return web.Response(body=f["content"])
        return ApiError(404, "Not Found").response()

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[Json, dict[str, Any]]:
        params: Json = dict(request.query)
        uploads: dict[str, Any] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    uploads[key] = value
                else:
                    params[key] = value
        return _decode_fields(params), uploads

    async def _call(self, method: str, params: Json, uploads: dict[str, Any]) -> tuple[int, Json]:
        """Run one API method; shared by HTTP requests and methods returned in webhook replies."""
        self.requests.append((method, params))
        self._changed.notify()
        try:
            if (faults := self._faults.get(method.lower())) and (fault := faults.popleft()):
                raise fault
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if method.lower().startswith(("send", "edit")) and params.get("chat_id") in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if self.limiter and method.lower().startswith(("send", "edit", "copymessage")):
                self.limiter.check(str(params.get("chat_id")))
            result = handler(params, uploads)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return exc.status, exc.payload()
        except (KeyError, TypeError, ValueError) as exc:  # malformed parameters
            return 400, ApiError(400, f"Bad Request: {type(exc).__name__}: {exc}").payload()
        return 200, {"ok": True, "result": result}

    # ------------------------------------------------------------------ object builders
    def _message(self, chat_id: int, sender: Json, **content: Any) -> Json:
        chat = self.forums.chat(chat_id) or {"id": chat_id, "type": "private"}
        msg = {"message_id": next(self._ids["message"]), "date": int(time.time()),
               "chat": chat, "from": sender, **content}
        self.messages[msg["message_id"]] = msg
        return msg

    def _new_file(self, kind: str, content: bytes, name: str) -> Json:
        n = next(self._ids["file"])
        file = {"file_id": f"{kind}-{n}", "file_unique_id": f"u{kind}{n}", "file_size": len(content),
                "file_path": f"{kind}s/file_{n}{name[name.rfind('.'):] if '.' in name else ''}"}
        self.files[file["file_id"]] = {**file, "content": content}
        return file

    def _new_media(self, kind: str, upload: Any, content: bytes) -> Any:
        """A Bot API media object (PhotoSize list for photos) for an upload or injected media."""
        name, mime, extra = _MEDIA[kind]
        if upload is not None:
            content, name = upload.file.read(), upload.filename or name
        meta = {k: v for k, v in self._new_file(kind, content, name).items() if k != "file_path"}
        if kind == "photo":
            thumb = self._new_file(kind, content[:64], name)
            return [{"file_id": thumb["file_id"], "file_unique_id": thumb["file_unique_id"],
                     "file_size": thumb["file_size"], "width": 90, "height": 68}, {**meta, **extra}]
        extra = {**extra, "mime_type": mime} | ({"file_name": name} if kind == "document" else {})
        return {**meta, **extra}

    def _record(self, method: str, params: Json, msg: Json) -> Json:
        self.sent.append({"method": method, "chat_id": params.get("chat_id"),
                          "message_id": msg["message_id"], "text": msg.get("text"),
                          "caption": msg.get("caption"), "reply_markup": params.get("reply_markup"),
                          "params": params})
        self._changed.notify()
        return _copy(msg)  # a snapshot: later edits must not alter the answer

    @staticmethod
    def _check_limits(params: Json) -> None:
        """The Bot API's limits: 4096 characters of text, 64 bytes of callback data."""
        if len(params.get("text") or "") > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []) if isinstance(markup, dict) else []:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _send(self, method: str, params: Json, **content: Any) -> Json:
        if "chat_id" not in params:
            raise ApiError(400, "Bad Request: chat_id is empty")
        self._check_limits(params)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup  # Message.reply_markup only ever holds inline keyboards
        content.update(self.forums.thread_of(params))
        msg = self._message(params["chat_id"], self.bot_user, **content)
        return self._record(method, params, msg)

    # ------------------------------------------------------------------ API methods
    async def _get_updates(self, params: Json) -> list[Json]:
        """Long polling: confirm updates below ``offset``, wait up to ``timeout`` s for one."""
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        if "allowed_updates" in params:  # remembered, like Telegram does
            self._allowed_updates = params["allowed_updates"] or []
        offset, limit = int(params.get("offset", 0)), min(max(int(params.get("limit", 100)), 1), 100)
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout", 0))
        while True:
            self.pending_updates = [u for u in self.pending_updates
                                    if u["update_id"] >= offset and self._allowed(u)]
            remaining = deadline - asyncio.get_running_loop().time()
            if self.pending_updates or remaining <= 0 or self._closing or self.webhook.get("url"):
                return self.pending_updates[:limit]
            await self._changed.wait(remaining)

    def _allowed(self, update: Json) -> bool:
        return not self._allowed_updates or any(k in update for k in self._allowed_updates)

    async def _set_webhook(self, params: Json) -> bool:
        """setWebhook; an empty url (and deleteWebhook) removes the webhook."""
        url = params.get("url") or ""
        await self._stop_webhook_worker()
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        if "allowed_updates" in params:
            self._allowed_updates = params["allowed_updates"] or []
        self.webhook = {"url": url, "secret_token": params.get("secret_token")} if url else {}
        if url:
            self._webhook_task = asyncio.create_task(self._webhook_worker())
        self._changed.notify()
        return True

    def _webhook_info(self) -> Json:
        info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.pending_updates)}
        return info | {k: v for k, v in self.webhook.items() if k.startswith("last_error")}

    @staticmethod
    def _commands_key(params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return scope["type"], params.get("language_code") or ""

    def _set_commands(self, params: Json) -> bool:
        commands = params["commands"]
        for command in commands:  # the Bot API's rules for a command
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]) or not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        code = params.get("language_code") or ""
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise ApiError(400, "Bad Request: language code is invalid")
        self.commands[self._commands_key(params)] = commands
        return True

    def _send_message(self, params: Json) -> Json:
        if not params.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        return self._send("sendMessage", params, text=params["text"])

    def _edit(self, params: Json, method: str, *, text: bool = False) -> Json:
        msg = self.messages.get(params.get("message_id", 0))
        if msg is None or msg["chat"]["id"] != params.get("chat_id"):
            raise ApiError(400, "Bad Request: message to edit not found")
        self._check_limits(params)
        markup = params.get("reply_markup")  # omitted -> the inline keyboard is removed
        if msg.get("reply_markup") == markup and (not text or msg.get("text") == params.get("text")):
            raise ApiError(400, _NOT_MODIFIED)
        msg.pop("reply_markup", None)
        msg.update({"edit_date": int(time.time())} | ({"text": params.get("text")} if text else {})
                   | ({"reply_markup": markup} if markup else {}))
        return self._record(method, params, msg)

    def _send_media(self, kind: str, params: Json, uploads: dict[str, Any]) -> Json:
        ref = params.get(kind)
        if isinstance(ref, str) and ref.startswith("attach://") and ref[9:] in uploads:
            media = self._new_media(kind, uploads[ref[9:]], b"")
        elif isinstance(ref, str) and ref in self.files:  # re-sending a known file_id
            file = {k: v for k, v in self.files[ref].items() if k not in ("content", "file_path")}
            media = [file | _MEDIA[kind][2]] if kind == "photo" else file | _MEDIA[kind][2]
        elif kind in uploads:  # a file uploaded directly under the field name
            media = self._new_media(kind, uploads[kind], b"")
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        content = {kind: media} | ({"caption": params["caption"]} if params.get("caption") else {})
        return self._send(f"send{kind.capitalize()}", params, **content)

    def _get_file(self, params: Json) -> Json:
        file = self.files.get(str(params.get("file_id")))
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {k: v for k, v in file.items() if k != "content"}

    # ------------------------------------------------------------------ webhook delivery
    async def _stop_webhook_worker(self) -> None:
        if self._webhook_task:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None

    async def _webhook_worker(self) -> None:
        """Deliver pending updates one by one, in order; a failed update is dropped after
        ``webhook_attempts`` tries (Telegram retries longer, but tests need to move on)."""
        while not self._closing:
            if not self.pending_updates:
                await self._changed.wait(3600)
                continue
            update = self.pending_updates[0]
            if self._allowed(update):
                await self._deliver(update)
            if self.pending_updates and self.pending_updates[0] is update:
                self.pending_updates.pop(0)

    async def _deliver(self, update: Json) -> None:
        assert self._client is not None
        secret = self.webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        for attempt in range(self.webhook_attempts):
            if attempt:
                await asyncio.sleep(self.webhook_retry_delay)
            reply = None
            try:
                async with self._client.post(self.webhook["url"], json=update, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    result: int | str = resp.status
                    reply = await self._webhook_reply(resp) if resp.ok else None
            except (aiohttp.ClientError, TimeoutError) as exc:
                result = f"{type(exc).__name__}: {exc}"
            self.webhook_deliveries.append((update["update_id"], result))
            self._changed.notify()
            if isinstance(result, int) and 200 <= result < 300:
                if reply:  # the webhook answered with a method call: execute it like Telegram
                    await self._call(*reply, {})
                return
            self.webhook.update(last_error_date=int(time.time()),
                                last_error_message=f"Wrong response from the webhook: {result}")

    @staticmethod
    async def _webhook_reply(resp: aiohttp.ClientResponse) -> tuple[str, Json] | None:
        """Parse a method returned in the webhook response (JSON or multipart form, text only)."""
        fields: Json = {}
        if resp.content_type == "application/json":
            fields = await resp.json()
        elif resp.content_type == "multipart/form-data":
            reader = aiohttp.MultipartReader(resp.headers, resp.content)
            while (part := await reader.next()) is not None:
                assert isinstance(part, aiohttp.BodyPartReader)
                fields[part.name or ""] = (await part.read()).decode(errors="replace")
        method = fields.pop("method", None) if isinstance(fields, dict) else None
        if not method:
            return None
        return method, _decode_fields(fields)


class Forums:
    """Supergroups with topics, as the Bot API has them: a topic's ``message_thread_id`` is the
    id of its "topic created" service message; a send into a deleted topic answers
    "message thread not found"; a closed topic takes messages only from admins who may manage
    topics; no thread id means the General topic."""

    ADMIN_RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                    "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                    "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                    "can_delete_stories", "can_post_messages", "can_edit_messages", "can_pin_messages",
                    "can_manage_topics")

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.groups: dict[int, Json] = {}  # chat id -> Chat object
        self.topics: dict[tuple[int, int], Json] = {}  # (chat id, thread id) -> name, icon, closed, deleted
        self.members: dict[tuple[int, int], Json] = {}  # (chat id, user id) -> ChatMember

    def methods(self) -> dict[str, Callable[[Json, dict[str, Any]], Any]]:
        return {"createforumtopic": lambda p, u: self._create(p), "editforumtopic": lambda p, u: self._edit(p),
                "closeforumtopic": lambda p, u: self._set_closed(p, True),
                "reopenforumtopic": lambda p, u: self._set_closed(p, False),
                "deleteforumtopic": lambda p, u: self._delete(p), "copymessage": lambda p, u: self._copy_message(p),
                "getchatmember": lambda p, u: self._member(p), "getchat": lambda p, u: self._get_chat(p)}

    # ------------------------------------------------------------------ set-up by a test
    def add_supergroup(self, chat_id: int, title: str = "Agents", *, is_forum: bool = True,
                       bot_admin: bool = True, can_manage_topics: bool = True) -> Json:
        self.groups[chat_id] = {"id": chat_id, "type": "supergroup", "title": title, "is_forum": is_forum}
        bot = self.api.bot_user
        if bot_admin:
            rights = {right: right == "can_manage_topics" and can_manage_topics or right in (
                "can_manage_chat", "can_delete_messages", "can_invite_users", "can_pin_messages")
                for right in self.ADMIN_RIGHTS}
            rights["can_be_edited"] = rights["is_anonymous"] = False
            self.members[(chat_id, bot["id"])] = {"status": "administrator", "user": bot, **rights}
        else:
            self.members[(chat_id, bot["id"])] = {"status": "member", "user": bot}
        return self.groups[chat_id]

    def chat(self, chat_id: Any) -> Json | None:
        group = self.groups.get(chat_id) if isinstance(chat_id, int) else None
        return dict(group) if group else None

    def open_topics(self, chat_id: int) -> dict[int, Json]:
        return {thread: t for (chat, thread), t in self.topics.items() if chat == chat_id and not t["deleted"]}

    # ------------------------------------------------------------------ members' input
    def group_message(self, chat_id: int, user_id: int, text: str | None = None, *, thread_id: int | None = None,
                      first_name: str = "Agent", language_code: str = "en", photo: bool = False,
                      reply_to: int | None = None) -> Json:
        """A member writes in the group (in topic ``thread_id``, or General)."""
        user = self.api._users[user_id] = {"id": user_id, "is_bot": False, "first_name": first_name,
                                           "language_code": language_code}
        self.members.setdefault((chat_id, user_id), {"status": "member", "user": user})
        content: Json = {}
        if thread_id is not None:
            topic = self.topics.get((chat_id, thread_id))
            if topic is None or topic["deleted"]:
                raise ValueError(f"no topic {thread_id}")
            if topic["closed"]:
                raise ValueError(f"topic {thread_id} is closed: members cannot write")
            content |= {"message_thread_id": thread_id, "is_topic_message": True}
        if photo:
            content["photo"] = self.api._new_media("photo", None, b"photo from %d" % user_id)
        if text is not None:
            content["caption" if photo else "text"] = text
        if reply_to is not None:
            content["reply_to_message"] = _copy(self.api.messages[reply_to])
        msg = self.api._message(chat_id, sender=user, **content)
        return self.api.push_update({"message": msg})

    def edit_group_message(self, message_id: int, text: str) -> Json:
        msg = self.api.messages[message_id]
        msg.update(text=text, edit_date=int(time.time()))
        return self.api.push_update({"edited_message": _copy(msg)})

    def member_deletes_topic(self, chat_id: int, thread_id: int) -> None:
        """An agent (an admin) deletes the topic in the app: it and its messages are gone."""
        self.topics[(chat_id, thread_id)]["deleted"] = True

    def member_closes_topic(self, chat_id: int, thread_id: int, user_id: int) -> Json:
        """A member with the right closes the topic in the app: the group sees a service message."""
        self.topics[(chat_id, thread_id)]["closed"] = True
        user = self.api._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Agent"}
        msg = self.api._message(chat_id, sender=user, forum_topic_closed={},
                                message_thread_id=thread_id, is_topic_message=True)
        return self.api.push_update({"message": msg})

    # ------------------------------------------------------------------ API methods
    def thread_of(self, params: Json) -> Json:
        """The thread fields of a message sent with ``params``; raises like Telegram."""
        chat_id, thread = params.get("chat_id"), params.get("message_thread_id")
        if thread is None or not isinstance(chat_id, int) or chat_id not in self.groups:
            return {}
        topic = self.topics.get((chat_id, thread))
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: message thread not found")
        if topic["closed"] and not self._manages_topics(chat_id, self.api.bot_user["id"]):
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        return {"message_thread_id": thread, "is_topic_message": True}

    def _group(self, params: Json) -> Json:
        group = self.groups.get(params.get("chat_id"))  # type: ignore[arg-type]
        if group is None:
            raise ApiError(400, "Bad Request: chat not found")
        if not group["is_forum"]:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if not self._manages_topics(group["id"], self.api.bot_user["id"]):
            raise ApiError(400, "Bad Request: not enough rights to manage topics")
        return group

    def _manages_topics(self, chat_id: int, user_id: int) -> bool:
        member = self.members.get((chat_id, user_id)) or {}
        return member.get("status") == "creator" or bool(member.get("can_manage_topics"))

    def _topic(self, params: Json) -> Json:
        group = self._group(params)
        topic = self.topics.get((group["id"], params.get("message_thread_id")))  # type: ignore[arg-type]
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        return topic

    def _create(self, params: Json) -> Json:
        group = self._group(params)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY" if not name else "Bad Request: TOPIC_TITLE_INVALID")
        icon = params.get("icon_color", 0x6FB9F0)
        service = self.api._message(group["id"], self.api.bot_user, forum_topic_created={"name": name, "icon_color": icon})
        thread = service["message_id"]
        service |= {"message_thread_id": thread, "is_topic_message": True}
        self.topics[(group["id"], thread)] = {"name": name, "icon_color": icon, "closed": False, "deleted": False}
        self.api._changed.notify()
        return {"message_thread_id": thread, "name": name, "icon_color": icon}

    def _edit(self, params: Json) -> bool:
        topic = self._topic(params)
        name = params.get("name")
        if name is not None and not 1 <= len(str(name)) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
        if name is None or name == topic["name"]:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["name"] = name
        return True

    def _set_closed(self, params: Json, closed: bool) -> bool:
        topic = self._topic(params)
        if topic["closed"] == closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        self.api._changed.notify()
        return True

    def _delete(self, params: Json) -> bool:
        self._topic(params)["deleted"] = True
        self.api._changed.notify()
        return True

    def _copy_message(self, params: Json) -> Json:
        source = self.api.messages.get(params.get("message_id", 0))
        if source is None or source["chat"]["id"] != params.get("from_chat_id"):
            raise ApiError(400, "Bad Request: message to copy not found")
        if "chat_id" not in params:
            raise ApiError(400, "Bad Request: chat_id is empty")
        content = {k: v for k, v in source.items() if k in ("text", "caption", *_MEDIA, "contact", "location")}
        if "caption" in params:
            content["caption"] = params["caption"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        self.api._check_limits(params)
        content.update(self.thread_of(params))
        msg = self.api._message(params["chat_id"], self.api.bot_user, **content)
        self.api._record("copyMessage", params, msg)
        return {"message_id": msg["message_id"]}

    def _member(self, params: Json) -> Json:
        member = self.members.get((params.get("chat_id"), params.get("user_id")))  # type: ignore[arg-type]
        if params.get("chat_id") not in self.groups:
            raise ApiError(400, "Bad Request: chat not found")
        if member is None:
            user = self.api._users.get(params.get("user_id", 0))
            if user is None:
                raise ApiError(400, "Bad Request: user not found")
            return {"status": "left", "user": user}
        return _copy(member)

    def _get_chat(self, params: Json) -> Json:
        chat = self.chat(params.get("chat_id"))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat | {"accent_color_id": 0, "max_reaction_count": 11}
