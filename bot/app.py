"""The running service: store, core, sender, web app and (with a token) Telegram."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from contextlib import suppress

from aiohttp import web

from bot.channels.telegram import BotAPI, TelegramTransport, WebhookHandler, build_dispatcher, make_bot, set_commands
from bot.channels.web import WebChat
from bot.channels.wechat import WeChat
from bot.company import load_company
from bot.config import Settings
from bot.core.dispatcher import Dispatcher
from bot.outbox import Limits, OutboxSender, Transport
from handlers.router import COMMANDS, route
from storage.db import checkpoints, create_engine

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, background_checkpoints=True)
        self.company = load_company(settings)
        self.core = Dispatcher(
            self.engine, self.company, route,
            max_batch=settings.commit_max_batch, window=settings.commit_window,
        )
        self.web = WebChat(self.core, self.engine, settings.company_timezone)
        transports: list[Transport] = [self.web]
        self.wechat = WeChat.from_settings(settings, self.core, self.engine) if settings.wechat_enabled() else None
        transports += [self.wechat] if self.wechat else []
        limits: dict[str, Limits] = {}
        self.bot = None
        if settings.telegram_enabled():
            self.bot = make_bot(settings.telegram_bot_token or "", settings.telegram_api_base)
            api = BotAPI(self.bot)
            self.telegram = build_dispatcher(self.core, api)
            transports.append(TelegramTransport(api))
            limits["telegram"] = Limits(
                settings.telegram_rate_global, settings.telegram_rate_per_chat, settings.telegram_chat_burst
            )
        self.sender = OutboxSender(self.engine, transports, limits, lease=settings.outbox_lease)
        self.core.outbox = self.sender
        if self.wechat:
            self.wechat.sender = self.sender
        self.web.on_connect = lambda visitor: self.sender.unblock(self.web.channel, visitor)
        self.tasks: list[asyncio.Task[None]] = []
        self.runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port actually bound (settings may say 0: any free port)."""
        assert self.runner is not None
        port: int = self.runner.addresses[0][1]
        return port

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.add_routes(self.web.routes() + (self.wechat.routes() if self.wechat else []))
        app.router.add_get("/healthz", self.health)
        if self.bot and self.settings.webhook_url:
            self.webhook_secret = self.settings.webhook_secret or secrets.token_urlsafe(32)
            # Answer 200 only once the turn is committed: Telegram redelivers otherwise.
            handler = WebhookHandler(
                self.telegram, self.bot, secret_token=self.webhook_secret, handle_in_background=False
            )
            app.router.add_post(self.settings.webhook_path, handler.handle)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def start(self) -> None:
        self.runner = web.AppRunner(self.web_app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()
        self.tasks.append(asyncio.create_task(self.sender.run(), name="outbox"))
        self.tasks.append(asyncio.create_task(checkpoints(self.settings.database_url), name="checkpoints"))
        if self.bot:
            await self._start_telegram()
        log.info("web chat at http://%s:%s/", self.settings.host, self.settings.port)
        gc.freeze()  # start-up objects never need collecting; keeps GC pauses short

    async def _start_telegram(self) -> None:
        assert self.bot is not None
        try:
            await set_commands(self.bot, COMMANDS, self.settings.company_timezone)
        except Exception:  # the "/" menu is a convenience: never a reason not to serve
            log.warning("could not register the bot's commands with Telegram", exc_info=True)
        if self.settings.webhook_url:
            await self.bot.set_webhook(
                self.settings.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("Telegram webhook at %s", self.settings.webhook_url)
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self.tasks.append(asyncio.create_task(
            self.telegram.start_polling(
                self.bot, handle_as_tasks=False, handle_signals=False, close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
            ),
            name="telegram-polling",
        ))
        log.info("Telegram long polling started")

    async def stop(self) -> None:
        if self.bot and not self.settings.webhook_url:
            with suppress(RuntimeError):
                await self.telegram.stop_polling()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.sender.close()
        if self.wechat:
            await self.wechat.close()
        await self.core.close()
        if self.runner:
            await self.runner.cleanup()
        if self.bot:
            await self.bot.session.close()
        await self.engine.dispose()


async def serve(settings: Settings) -> None:
    service = Service(settings)
    await service.start()
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()
