"""WeChat Official Account: signed (and in safe mode encrypted) XML pushes to
Events, Replies back as a passive reply or as customer-service messages.

- Every push is checked before anything is stored: size, signature (constant
  time), a timestamp within 5 minutes and a nonce not seen in that time, the
  XML (no DTD or entities, no nested elements), in safe mode `msg_signature`
  and the app id inside the ciphertext, the account it is addressed to.
  A bad push gets 4xx, never a 500 (which WeChat would retry).
- WeChat waits 5 s. The turn's replies are collected while the request is open
  and returned as one passive reply; whatever is not ready after
  `passive_budget` seconds goes out through the customer-service message API.
- WeChat retries a push it got no answer to, to any worker: the core drops the
  repeated MsgId (events: FromUserName + CreateTime); the answer given to the
  first is recorded in the store (storage/wechat_answers.py) and a retry gets it.
- No buttons on WeChat: choices are a numbered list; the core remembers what
  it offered (bot/core/numbered.py), so a digit answers it. Or, where the
  account may send them, WeChat's menu message (a tap returns the choice's id).
- Customer-service messages only within WeChat's window (services/
  wechat_window.py); beyond it a template message where configured, else the
  reply waits on the ticket (its row says why) until the customer writes.
- Customers' images, voice and video are fetched into the media store; an
  agent's photo or video is uploaded and sent as a customer-service message.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from xml.etree.ElementTree import ParseError

import aiohttp
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.core.events import Attachment, Choice, Event, Kind, Reply
from bot.core.language import from_language_code, from_text
from bot.media import MediaStore
from bot.outbox import NotConnected, Temporary, Uncertain, Unreachable
from services.media import Rejected as MediaRejected
from services.media import check_upload
from services.wechat_window import WAITING
from storage.db import Store
from storage.models import utcnow
from storage.wechat import MARGIN, shared_token, wake_waiting
from storage.wechat_answers import AnswerBook

log = logging.getLogger(__name__)

CHANNEL = "wechat"
MAX_BODY = 64 * 1024  # bytes of one push
MAX_SKEW = 300  # seconds a push's timestamp may differ from our clock
PASSIVE_BUDGET = 4.5  # seconds; WeChat gives up after 5
MAX_TEXT = 2000  # bytes of one text message (WeChat allows 2048)
MAX_TEMPLATE = 600  # bytes of the text put in a template message's field
MEDIA_ID = "wechat:"  # a customer's file we could not fetch: WeChat's media id
OUTBOUND_KINDS = {"photo": "image", "video": "video"}  # our attachment kind -> WeChat's message type
ANSWERS_KEPT = 10_000  # answers remembered for retries
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Characters XML 1.0 does not allow; a reply containing one would not parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
SUCCESS = "success"  # WeChat's "received, nothing to say now"


class Rejected(Exception):
    """A push we refuse: answered with `status`, nothing stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class OutsideWindow(NotConnected):
    """WeChat refuses customer-service messages: more than 48 h since the customer
    wrote, or the cap of messages in that window reached. The reply waits (its row
    says why, starting with WAITING) until the customer writes again."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{WAITING}: {detail}")


class Sender(Protocol):
    """This process's outbox sender, as the channel sees it."""

    async def drained(self, channel: str, chat_id: str) -> None: ...

    def unblock(self, channel: str, chat_id: str) -> None: ...


# --- checks -------------------------------------------------------------------


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    signature: str = signer.signature
    return signature


def same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class ReplayGuard:
    """Refuses a timestamp outside MAX_SKEW and a nonce seen within it (per process)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def check(self, timestamp: str, nonce: str) -> None:
        now = self._clock()
        try:
            stamp = int(timestamp)
        except ValueError:
            raise Rejected(403, "bad timestamp") from None
        if abs(now - stamp) > MAX_SKEW:
            raise Rejected(403, "stale timestamp")
        while self._seen and next(iter(self._seen.values())) < now - 2 * MAX_SKEW:
            self._seen.popitem(last=False)
        key = (timestamp, nonce)
        if key in self._seen:
            raise Rejected(403, "repeated nonce")
        self._seen[key] = now


def parse_xml(body: bytes | str) -> dict[str, str]:
    """A push's flat <xml> element as {tag: text}; Rejected(400) for anything else."""
    raw = body.encode() if isinstance(body, str) else body
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise Rejected(400, "DTDs are not accepted")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise Rejected(400, "malformed XML") from None
    if root.tag != "xml":
        raise Rejected(400, "not a WeChat push")
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            raise Rejected(400, f"unexpected element inside {child.tag}"[:80])
        fields[child.tag] = child.text or ""
    return fields


def xml_safe(text: str) -> str:
    """Text that cannot break the CDATA section it is put in."""
    return _NOT_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>")


# --- inbound ------------------------------------------------------------------


def delivery_key(fields: dict[str, str]) -> str:
    """WeChat's id of a push: MsgId; for events the sender and the creation time (with
    the event and its key: CreateTime counts seconds, and two menu items may be tapped in one)."""
    if fields.get("MsgId"):
        return fields["MsgId"]
    parts = (fields.get(name, "") for name in ("FromUserName", "CreateTime", "Event", "EventKey"))
    return ":".join(parts)[:128]


def to_event(fields: dict[str, str], language: str | None = None) -> Event | None:
    """The push as an Event; None for a push that is no message to answer
    (unsubscribe, a URL opened from the menu, the periodic location report)."""
    openid = fields.get("FromUserName", "")
    msg_type = fields.get("MsgType", "").lower()
    text = fields.get("Content", "")
    base: dict[str, Any] = {
        "channel": CHANNEL, "user_id": openid, "chat_id": openid, "delivery_id": delivery_key(fields),
        "message_id": fields.get("MsgId") or None, "numbered_choices": True,
        # The user-info language, else the text, else Simplified Chinese.
        "language_hint": language or text_hint(text),
    }
    if msg_type == "text":
        if fields.get("bizmsgmenuid"):  # a tap on an item of a menu message: the choice's id
            return Event(kind=Kind.CHOICE, choice=fields["bizmsgmenuid"][:64], text=text, **base)
        if text.startswith("/") and len(text) > 1:
            return Event(kind=Kind.COMMAND, command=text[1:].split(maxsplit=1)[0].lower()[:32], text=text, **base)
        return Event(kind=Kind.TEXT, text=text, **base)
    if msg_type == "image":
        return Event(kind=Kind.MEDIA, attachments=(Attachment("photo", fields.get("MediaId", "")),), **base)
    if msg_type == "voice":
        voice = (Attachment("voice", fields.get("MediaId", ""), mime=fields.get("Format") or None),)
        recognised = fields.get("Recognition", "").strip()
        if recognised:  # what WeChat heard is read like typed text
            base["language_hint"] = language or text_hint(recognised)
            return Event(kind=Kind.TEXT, text=recognised, attachments=voice, **base)
        return Event(kind=Kind.MEDIA, attachments=voice, **base)
    if msg_type in ("video", "shortvideo"):
        return Event(kind=Kind.MEDIA, attachments=(Attachment("video", fields.get("MediaId", "")),), **base)
    if msg_type == "location":
        try:
            lat, lon = float(fields["Location_X"]), float(fields["Location_Y"])
        except (KeyError, ValueError):
            raise Rejected(400, "bad location") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Rejected(400, "bad location")
        return Event(kind=Kind.LOCATION, location=(lat, lon), text=fields.get("Label", ""), **base)
    if msg_type == "link":
        link = "\n".join(part for part in (fields.get("Title", ""), fields.get("Url", "")) if part)
        return Event(kind=Kind.TEXT, text=link, **base)
    if msg_type == "event":
        event = fields.get("Event", "").lower()
        if event == "subscribe":  # with a QR scene in EventKey ("qrscene_...") when scanned
            return Event(kind=Kind.COMMAND, command="start", text="/start", **base)
        if event == "click":  # a menu item: its key is a choice id (aftersales wechat menu)
            return Event(kind=Kind.CHOICE, choice=fields.get("EventKey", "")[:64], **base)
        return None  # unsubscribe, VIEW, LOCATION reports, scans of a follower
    if not msg_type:
        raise Rejected(400, "no MsgType")
    return None  # a kind WeChat added later: acknowledged, not answered


def text_hint(text: str) -> str | None:
    """The language hint of a text when WeChat gave none: None where its script tells the core
    (Chinese, Cyrillic, Georgian); English for words in Latin letters (on WeChat rather English
    than pinyin); else (digits, a single word such as a command) Simplified Chinese."""
    if from_text(text):
        return None
    return "en" if len(_LATIN_WORD.findall(text)) >= 2 else "zh_CN"


def render(reply: Reply) -> str:
    """A reply as WeChat text: its choices as a numbered list."""
    lines = [reply.text] if reply.text else []
    lines += [f"{number}. {choice.label}" for number, choice in enumerate(reply.choices, 1)]
    return "\n".join(lines)


# --- the API ------------------------------------------------------------------


class API:
    """The Official Account API: the access token, customer-service messages, user info."""

    def __init__(
        self, base: str, app_id: str, secret: str, engine: Store | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.base = base.rstrip("/")
        self._app_id, self._secret = app_id, secret
        self._engine = engine  # None: the token is this process's own (one worker)
        self._clock = clock
        self._token: tuple[str, datetime] | None = None  # (token, when to refresh it)
        self._refused: str | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def token(self) -> str:
        """The access token: from memory, else from the store, fetched there when due."""
        async with self._lock:
            if self._token is None or self._token[1] <= self._clock():
                if self._engine is None:
                    token, lifetime = await self._fetch()
                    self._token = (token, self._clock() + timedelta(seconds=lifetime) - MARGIN)
                else:
                    self._token = await shared_token(self._engine, self._app_id, self._clock(), self._fetch, self._refused)
                self._refused = None
            return self._token[0]

    async def _fetch(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
        try:
            async with self._http().get(self.base + "/cgi-bin/token", params=params) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Temporary(f"token: {error}") from error
        if "access_token" not in data:
            raise Temporary(f"token: {data.get('errcode')} {data.get('errmsg')}")
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def call(self, path: str, *, json: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
        token = await self.token()
        query = {"access_token": token, **(params or {})}
        try:
            if json is None:
                response_cm = self._http().get(self.base + path, params=query)
            else:
                response_cm = self._http().post(self.base + path, params=query, json=json)
            async with response_cm as response:
                data: dict[str, Any] = await response.json(content_type=None)
        except aiohttp.ClientConnectorError as error:
            raise Temporary(str(error)) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Uncertain(str(error) or type(error).__name__) from error
        code = data.get("errcode", 0)
        if code in (40001, 40014, 42001):  # the token is no longer valid: fetch a new one
            if self._token and self._token[0] == token:
                self._refused, self._token = token, None
            raise Temporary(f"access token refused ({code})")
        if code in (45015, 45047):
            raise OutsideWindow(f"{code} {data.get('errmsg')}")
        if code == 43004:
            raise Unreachable("the customer unfollowed the account")
        if code == -1:
            raise Temporary("WeChat busy")
        if code:
            raise RuntimeError(f"WeChat API {path}: {code} {data.get('errmsg')}")
        return data

    async def send_text(self, openid: str, text: str) -> str:
        data = await self.call(
            "/cgi-bin/message/custom/send", json={"touser": openid, "msgtype": "text", "text": {"content": text}}
        )
        return f"cs:{data.get('msgid') or ''}"  # "cs:": counts against the window's cap

    async def send_menu(self, openid: str, head: str, choices: tuple[Choice, ...]) -> str:
        """WeChat's menu message: the text, then the choices as items the customer taps
        (the tap comes back as a text push with `bizmsgmenuid`, the choice's id)."""
        body = {"touser": openid, "msgtype": "msgmenu", "msgmenu": {
            "head_content": head, "list": [{"id": c.id, "content": c.label} for c in choices], "tail_content": "",
        }}
        data = await self.call("/cgi-bin/message/custom/send", json=body)
        return f"cs:{data.get('msgid') or ''}"

    async def send_media(self, openid: str, kind: str, media_id: str) -> str:
        """A customer-service image (or voice, video) message with uploaded media."""
        data = await self.call(
            "/cgi-bin/message/custom/send", json={"touser": openid, "msgtype": kind, kind: {"media_id": media_id}}
        )
        return f"cs:{data.get('msgid') or ''}"

    async def send_template(self, openid: str, template_id: str, field: str, text: str) -> str:
        """A template message: WeChat delivers it outside the customer-service window."""
        body = {"touser": openid, "template_id": template_id, "data": {field: {"value": text}}}
        data = await self.call("/cgi-bin/message/template/send", json=body)
        return f"template:{data.get('msgid') or ''}"

    async def upload(self, kind: str, data: bytes, filename: str) -> str:
        """Temporary media for a message (WeChat keeps it 3 days): its media_id."""
        token = await self.token()
        form = aiohttp.FormData()
        form.add_field("media", data, filename=filename)
        try:
            async with self._http().post(self.base + "/cgi-bin/media/upload", params={"access_token": token, "type": kind},
                                         data=form) as response:
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Temporary(f"upload: {error}") from error
        if "media_id" not in answer:
            raise Temporary(f"upload: {answer.get('errcode')} {answer.get('errmsg')}")
        return str(answer["media_id"])

    async def download(self, media_id: str, limit: int) -> bytes | None:
        """A customer's image, voice or video from WeChat's media API; None if WeChat has none
        (an error answer comes as JSON) or it is larger than `limit` bytes."""
        token = await self.token()
        async with self._http().get(self.base + "/cgi-bin/media/get",
                                    params={"access_token": token, "media_id": media_id}) as response:
            if response.status != 200 or response.content_type in ("application/json", "text/plain"):
                return None
            if (response.content_length or 0) > limit:
                return None
            data = await response.content.read(limit + 1)
        return data if len(data) <= limit else None

    async def create_menu(self, body: dict[str, Any]) -> None:
        await self.call("/cgi-bin/menu/create", json=body)

    async def language(self, openid: str) -> str | None:
        """The language the customer's WeChat is set to, as our locale code."""
        data = await self.call("/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"})
        code = data.get("language")
        return code if isinstance(code, str) and from_language_code(code) else None


# --- the endpoint and transport ------------------------------------------------


class WeChat:
    """The WeChat channel: the push endpoint for WeChat, and the transport for the sender."""

    channel = CHANNEL

    def __init__(
        self, core: Dispatcher, api: API, engine: Store, *, token: str, app_id: str, aes_key: str | None = None,
        account: str | None = None, path: str = "/wechat", passive_budget: float = PASSIVE_BUDGET,
        clock: Callable[[], float] = time.time, template_id: str | None = None, template_field: str = "content",
        media_max_bytes: int = 10 * 1024 * 1024, menu_messages: bool = False,
    ) -> None:
        self.core = core
        self.api = api
        self._token, self._app_id, self._account, self.path = token, app_id, account, path
        self._crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self._prp = PrpCrypto(self._crypto.key) if self._crypto else None
        self._budget = passive_budget
        self._clock = clock
        self._replay = ReplayGuard(clock)
        self.sender: Sender | None = None  # set by the app
        self._engine = engine
        self.media: MediaStore | None = None  # set by the app: where customers' files are kept
        self._media_max = media_max_bytes
        self.template = (template_id, template_field) if template_id else None
        self.menu_messages = menu_messages  # choices as WeChat's menu message, else a numbered list
        self._book = AnswerBook(engine)
        self._recording: set[asyncio.Task[None]] = set()
        self._closed: set[str] = set()  # chats whose replies wait for the window to open again
        self._passive: dict[str, list[str]] = {}  # chat -> texts collected for the open request
        self._answers: OrderedDict[str, asyncio.Future[str]] = OrderedDict()
        self._languages: OrderedDict[str, str | None] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, core: Dispatcher, engine: Store) -> WeChat:
        api = API(settings.wechat_api_base, settings.wechat_app_id or "", settings.wechat_app_secret or "", engine)
        return cls(
            core, api, engine, token=settings.wechat_token or "", app_id=settings.wechat_app_id or "",
            aes_key=settings.wechat_aes_key, account=settings.wechat_account, path=settings.wechat_path,
            template_id=settings.wechat_template_id, template_field=settings.wechat_template_field,
            media_max_bytes=settings.media_max_bytes, menu_messages=settings.wechat_menu_messages,
        )

    async def warm_up(self) -> None:
        """The access token before the first push needs it (not inside a customer's 5 seconds)."""
        try:
            async with asyncio.timeout(3.0):
                await self.api.token()
        except Exception:  # the first push tries again
            log.warning("WeChat access token not fetched at start", exc_info=True)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get(self.path, self.verify), web.post(self.path, self.push)]

    async def close(self) -> None:
        await self.api.close()

    # -- inbound --

    def _check_signature(self, query: Any) -> tuple[str, str]:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not same(sign(self._token, timestamp, nonce), query.get("signature")):
            raise Rejected(403, "bad signature")
        self._replay.check(timestamp, nonce)
        return timestamp, nonce

    async def verify(self, request: web.Request) -> web.Response:
        """WeChat's server check: echo `echostr` when the signature is ours."""
        try:
            self._check_signature(request.query)
        except Rejected as refused:
            return web.Response(status=refused.status, text=str(refused))
        return web.Response(text=request.query.get("echostr", ""))

    async def push(self, request: web.Request) -> web.Response:
        try:
            return await self._push(request)
        except Rejected as refused:
            log.info("WeChat push refused: %s", refused)
            return web.Response(status=refused.status, text=str(refused))  # not customer-facing

    async def _push(self, request: web.Request) -> web.Response:
        deadline = asyncio.get_running_loop().time() + self._budget  # WeChat's clock starts now
        if (request.content_length or 0) > MAX_BODY:
            raise Rejected(413, "too large")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise Rejected(413, "too large")
        timestamp, nonce = self._check_signature(request.query)
        fields = parse_xml(body)
        if self._crypto:
            fields = self._decrypt(fields, request.query, timestamp, nonce)
        elif request.query.get("encrypt_type", "raw") != "raw":
            raise Rejected(400, "safe mode is not configured")
        if self._account and fields.get("ToUserName") != self._account:
            raise Rejected(400, "not for this account")
        openid = fields.get("FromUserName", "")
        if not _OPENID.match(openid):
            raise Rejected(400, "bad FromUserName")
        key = delivery_key(fields)
        answer = await self._answer(key, fields, deadline)
        if answer == SUCCESS or self._crypto is None:
            return web.Response(text=answer, content_type="application/xml" if answer != SUCCESS else "text/plain")
        encrypted = self._crypto.encrypt_message(answer, nonce, str(int(self._clock())))
        return web.Response(text=encrypted, content_type="application/xml")

    def _decrypt(self, outer: dict[str, str], query: Any, timestamp: str, nonce: str) -> dict[str, str]:
        if query.get("encrypt_type") != "aes":
            raise Rejected(403, "safe mode requires encrypted pushes")
        encrypted = outer.get("Encrypt", "")
        if not same(sign(self._token, timestamp, nonce, encrypted), query.get("msg_signature")):
            raise Rejected(403, "bad msg_signature")
        assert self._prp is not None
        try:
            inner: str = self._prp.decrypt(encrypted, self._app_id)
        except InvalidAppIdException:
            raise Rejected(403, "another app id") from None
        except Exception:  # bad base64, padding or length: not WeChat's ciphertext
            raise Rejected(400, "cannot decrypt") from None
        return parse_xml(inner)

    async def _answer(self, key: str, fields: dict[str, str], deadline: float) -> str:
        """The reply XML (or `success`) for this push; a retry gets the first answer."""
        known = self._answers.get(key)
        if known is None:
            known = self._answers[key] = asyncio.ensure_future(self._first(key, fields, deadline))
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        try:
            async with asyncio.timeout_at(deadline + 0.3):
                return await asyncio.shield(known)
        except TimeoutError:
            return SUCCESS

    async def _first(self, key: str, fields: dict[str, str], deadline: float) -> str:
        """Across workers: the core processes a push once; a copy on another worker
        gets the answer recorded there (or `success` when it is not ready in time)."""
        answer, fresh = await self._turn(fields, deadline)
        if not fresh:
            return await self._book.wait(key, deadline - asyncio.get_running_loop().time()) or SUCCESS
        # Written while WeChat reads the answer: a retry comes only after its 5 s.
        task = asyncio.create_task(self._book.record(key, answer))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        return answer

    async def _turn(self, fields: dict[str, str], deadline: float) -> tuple[str, bool]:
        """The passive reply (or `success`), and whether the core took the push as new."""
        openid = fields["FromUserName"]
        event = to_event(fields, await self._language(openid))
        if event is None:
            return SUCCESS, True
        texts = self._passive.setdefault(openid, []) if openid not in self._passive else None
        handled = asyncio.ensure_future(self._handle(event))
        fresh = True  # (a turn too slow to tell is taken as new: its replies follow as messages)
        try:
            async with asyncio.timeout_at(deadline):
                fresh = await asyncio.shield(handled)
        except TimeoutError:
            log.warning("WeChat turn slower than %.1f s: the replies go as customer-service messages", self._budget)
        finally:
            if texts is not None and self._passive.get(openid) is texts:
                del self._passive[openid]
        if not texts:
            return SUCCESS, fresh
        reply = TextReply(source=fields.get("ToUserName", ""), target=openid, content=xml_safe("\n\n".join(texts)))
        rendered: str = reply.render()
        return rendered, fresh

    async def _handle(self, event: Event) -> bool:
        event = await self._keep_media(event)
        if event.chat_id in self._closed:
            # They wrote: the 48-hour window is open again, so what waited may go now.
            self._closed.discard(event.chat_id)
            await wake_waiting(self._engine, CHANNEL, event.chat_id, utcnow())
            if self.sender:
                self.sender.unblock(CHANNEL, event.chat_id)
        fresh = await self.core.handle_delivery(event)
        if self.sender:
            await self.sender.drained(CHANNEL, event.chat_id)
        return fresh

    async def _keep_media(self, event: Event) -> Event:
        """The customer's image, voice or video fetched from WeChat (which keeps it 3 days) into
        the media store, like other channels' files; kept as WeChat's media id when that fails."""
        if not event.attachments or self.media is None:
            return event
        kept = []
        for attachment in event.attachments:
            try:
                async with asyncio.timeout(2.0):
                    data = await self.api.download(attachment.ref, self._media_max)
            except Exception:
                log.info("a WeChat file could not be fetched", exc_info=True)
                data = None
            accepted = inbound_media(attachment.kind, data) if data else None
            if data is None or accepted is None:
                kept.append(replace(attachment, ref=MEDIA_ID + attachment.ref))
                continue
            ref = await self.media.save(data, accepted[1])
            kept.append(replace(attachment, ref=ref, mime=accepted[0]))
        return replace(event, attachments=tuple(kept))

    async def _language(self, openid: str) -> str | None:
        """The language set in the customer's WeChat (asked once per customer and process)."""
        if openid in self._languages:
            return self._languages[openid]
        language = None
        try:
            async with asyncio.timeout(1.0):
                language = await self.api.language(openid)
        except Exception:  # the text and the default decide then
            log.info("WeChat user info unavailable for a customer", exc_info=True)
        self._languages[openid] = language
        while len(self._languages) > ANSWERS_KEPT:
            self._languages.popitem(last=False)
        return language

    # -- outbound (the sender's transport) --

    async def deliver(self, chat_id: str, reply: Reply, row_id: int) -> str | None:
        text = render(reply)
        texts = self._passive.get(chat_id)
        if self.menu_messages and reply.choices and not reply.attachments:
            return await self._send_menu(chat_id, reply, texts)
        if texts is not None and not reply.attachments and len("\n\n".join([*texts, text]).encode()) <= MAX_TEXT:
            texts.append(text)
            return f"passive:{row_id}"
        if texts is not None:
            del self._passive[chat_id]  # full: the rest follows in order as messages
        try:
            if reply.attachments:
                return await self._send_files(chat_id, text, reply.attachments)
            return await self.api.send_text(chat_id, _cut(text))
        except OutsideWindow:
            if self.template and text:
                # Beyond the window WeChat takes only a template message (configured per account).
                return await self.api.send_template(chat_id, self.template[0], self.template[1], _cut(text, MAX_TEMPLATE))
            self._closed.add(chat_id)  # the row waits, with WeChat's reason as its error
            raise

    async def _send_menu(self, chat_id: str, reply: Reply, texts: list[str] | None) -> str:
        """A reply with choices as a menu message (a customer-service message: no passive reply can
        carry one). What this turn had put in the passive reply goes first, in the menu's text."""
        head = "\n\n".join([*(texts or []), reply.text])
        try:
            sent = await self.api.send_menu(chat_id, _cut(head), reply.choices)
        except OutsideWindow:
            if self.template:
                return await self.api.send_template(chat_id, self.template[0], self.template[1],
                                                    _cut(render(Reply(head, reply.choices)), MAX_TEMPLATE))
            self._closed.add(chat_id)
            raise
        if texts is not None:  # they went in the menu's text: the passive reply is `success` now
            texts.clear()
            self._passive.pop(chat_id, None)
        return sent

    async def _send_files(self, chat_id: str, caption: str, attachments: tuple[Attachment, ...]) -> str:
        """An agent's photo (or video): uploaded to WeChat, then sent as a customer-service message;
        the caption first. WeChat's customer-service messages carry no documents."""
        sent = ""
        if caption:
            sent = await self.api.send_text(chat_id, _cut(caption))
        for attachment in attachments:
            kind = OUTBOUND_KINDS.get(attachment.kind)
            data = await self.media.read(attachment.ref) if self.media and kind else None
            if kind is None or data is None:
                raise ValueError(f"WeChat cannot carry this file ({attachment.kind})")
            media_id = await self.api.upload(kind, data, attachment.name or f"file.{attachment.ref.rsplit('.', 1)[-1]}")
            sent = await self.api.send_media(chat_id, kind, media_id)
        return sent


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


def inbound_media(kind: str, data: bytes) -> tuple[str, str] | None:
    """(mime, extension) of a file a customer sent, read from its first bytes; None if it is
    not what WeChat says it is. Voice is AMR (or Speex) audio, which the upload check does not know."""
    if kind == "voice":
        return ("audio/amr", "amr") if data.startswith(b"#!AMR") else None
    try:
        accepted = check_upload(data[:16], len(data))
    except MediaRejected:
        return None
    return (accepted.mime, accepted.extension) if accepted.kind.value == kind else None
