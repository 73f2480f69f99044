"""A WeChat double on 127.0.0.1.

- `WeChatPusher` builds pushes the way WeChat's servers do: query parameters
  `signature`, `timestamp`, `nonce` (and in safe mode `encrypt_type=aes`,
  `msg_signature`, the XML encrypted with the EncodingAESKey and the app id),
  a 5-second cut-off and up to 3 retries with a fresh timestamp and nonce.
- `WeChatAPI` serves the API endpoints the bot calls (token, customer-service
  send, user info with `language`, menu create, template send, media get and
  upload) and records what it was sent. Like WeChat it takes customer-service
  messages only within the window a customer's message opens (48 hours, 5
  messages; services/wechat_window.py), on its own clock; the pusher tells it
  when a customer wrote.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.channels.wechat import parse_xml, sign
from services.wechat_window import CAP, WINDOW

TOKEN = "test-token"
APP_ID = "wx0123456789abcdef"
SECRET = "test-secret"
ACCOUNT = "gh_0123456789ab"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


def xml(fields: dict[str, Any]) -> str:
    body = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()
    )
    return f"<xml>{body}</xml>"


@dataclass
class Answer:
    status: int
    body: str
    fields: dict[str, str] = field(default_factory=dict)  # the (decrypted) reply

    @property
    def text(self) -> str:
        return self.fields.get("Content", "")


class WeChatPusher:
    """Pushes to the bot's endpoint as WeChat does."""

    def __init__(
        self, url: str, *, safe: bool = True, token: str = TOKEN, app_id: str = APP_ID, api: WeChatAPI | None = None,
    ) -> None:
        self.url = url
        self.api = api  # told when a customer writes: their customer-service window opens
        self.safe = safe
        self.token, self.app_id = token, app_id
        self.crypto = WeChatCrypto(token, AES_KEY, app_id)
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # WeChat pushes from many connections
        self._msg_id = int(time.time() * 1000)
        self.attempts = 0

    async def close(self) -> None:
        await self.http.close()

    def next_msg_id(self) -> int:
        self._msg_id += 1
        return self._msg_id

    def query(self, body: str) -> tuple[dict[str, str], str]:
        """Query parameters and body of one delivery attempt (fresh timestamp and nonce)."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        params = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        if not self.safe:
            return params, body
        encrypted = PrpCrypto(self.crypto.key).encrypt(body, self.app_id).decode()
        params |= {"openid": "", "encrypt_type": "aes", "msg_signature": sign(self.token, timestamp, nonce, encrypted)}
        return params, xml({"ToUserName": ACCOUNT, "Encrypt": encrypted})

    async def post(self, params: dict[str, str], body: str | bytes, timeout: float = 5.0) -> Answer:
        async with asyncio.timeout(timeout):
            async with self.http.post(self.url, params=params, data=body) as response:
                text = await response.text()
        answer = Answer(response.status, text)
        if response.status == 200 and text not in ("", "success"):
            fields = parse_xml(text)
            if self.safe:
                assert fields["MsgSignature"] == sign(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
                fields = parse_xml(PrpCrypto(self.crypto.key).decrypt(fields["Encrypt"], self.app_id))
            answer.fields = fields
        return answer

    async def push(self, fields: dict[str, Any]) -> Answer:
        """One push with WeChat's 5-second cut-off and 3 retries."""
        body = xml(fields)
        if self.api and str(fields.get("MsgType", "")) != "event":
            self.api.customer_wrote(str(fields.get("FromUserName", "")))
        for _ in range(4):
            self.attempts += 1
            params, data = self.query(body)
            try:
                return await self.post(params, data)
            except TimeoutError:
                continue
        return Answer(0, "")


class WeChatAPI:
    """The API double: records customer-service messages, menus and templates."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.menus: list[dict[str, Any]] = []
        self.templates: list[dict[str, Any]] = []
        self.languages: dict[str, str] = {}
        self.tokens_issued = 0
        self.token_gate: asyncio.Event | None = None
        self.valid_tokens: set[str] = set()
        self.arrived = asyncio.Event()
        self.errcode = 0  # what customer-service sends answer
        self.clock = time.time  # WeChat's clock, for the customer-service window
        self.windows: dict[str, tuple[float, int]] = {}  # openid -> (when they wrote, messages sent since)
        self.media: dict[str, tuple[bytes, str]] = {}  # media_id -> (bytes, content type)
        self.uploads: list[tuple[str, bytes]] = []  # (type, bytes) uploaded by the bot
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        app.router.add_get("/cgi-bin/user/info", self.user_info)
        app.router.add_post("/cgi-bin/menu/create", self.menu_create)
        app.router.add_post("/cgi-bin/message/template/send", self.template_send)
        app.router.add_get("/cgi-bin/media/get", self.media_get)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def token(self, request: web.Request) -> web.Response:
        if request.query.get("appid") != APP_ID or request.query.get("secret") != SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if self.token_gate is not None:  # a slow WeChat: the token comes when the test opens the gate
            await self.token_gate.wait()
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}"
        self.valid_tokens = {token}  # a new token invalidates the old one, as on WeChat
        return web.json_response({"access_token": token, "expires_in": 7200})

    def _authorised(self, request: web.Request) -> bool:
        return request.query.get("access_token") in self.valid_tokens

    async def custom_send(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.errcode:
            return web.json_response({"errcode": self.errcode, "errmsg": "refused"})
        body = await request.json()
        opened = self.windows.get(str(body.get("touser")))
        if opened is not None:  # (a customer the pusher never told about: not checked)
            wrote, count = opened
            if self.clock() > wrote + WINDOW.total_seconds():
                return web.json_response({"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"})
            if count >= CAP:
                return web.json_response({"errcode": 45047, "errmsg": "out of response count limit"})
            self.windows[str(body.get("touser"))] = (wrote, count + 1)
        self.sent.append(body)
        self.arrived.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def user_info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        openid = request.query.get("openid", "")
        return web.json_response({"subscribe": 1, "openid": openid, "language": self.languages.get(openid, "zh_CN")})

    async def menu_create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.menus.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def template_send(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.templates.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    def customer_wrote(self, openid: str) -> None:
        self.windows[openid] = (self.clock(), 0)  # the quota starts again, it does not add up

    def add_media(self, data: bytes, content_type: str) -> str:
        media_id = f"media{len(self.media) + 1:04d}"
        self.media[media_id] = (data, content_type)
        return media_id

    async def media_get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        return web.Response(body=found[0], content_type=found[1])

    async def media_upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        kind = request.query.get("type", "")
        part = (await request.post()).get("media")
        if kind not in ("image", "voice", "video", "thumb") or not isinstance(part, web.FileField):
            return web.json_response({"errcode": 40004, "errmsg": "invalid media type"})
        data = part.file.read()
        self.uploads.append((kind, data))
        return web.json_response({"type": kind, "media_id": f"up{len(self.uploads):04d}", "created_at": int(self.clock())})

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sent
