"""A WeChat double on 127.0.0.1.

- `WeChatPusher` builds pushes the way WeChat's servers do: query parameters
  `signature`, `timestamp`, `nonce` (and in safe mode `encrypt_type=aes`,
  `msg_signature`, the XML encrypted with the EncodingAESKey and the app id),
  a 5-second cut-off and up to 3 retries with a fresh timestamp and nonce.
- `WeChatAPI` serves the API endpoints the bot calls (token, customer-service
  send, user info with `language`, menu create, template send) and records
  what it was sent.
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

    def __init__(self, url: str, *, safe: bool = True, token: str = TOKEN, app_id: str = APP_ID) -> None:
        self.url = url
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
        self.valid_tokens: set[str] = set()
        self.arrived = asyncio.Event()
        self.errcode = 0  # what customer-service sends answer
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
        self.sent.append(await request.json())
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

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sent
