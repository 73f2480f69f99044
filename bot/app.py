"""The running service: store, core, sender, web app and (with a token) Telegram.

Background loops (sender, checkpoints, Telegram, loop-lag monitor) run under a
supervisor that restarts one that dies. `/healthz` is readiness (store reachable,
loops alive, the oldest due reply's wait, Telegram started): 503 with the
reasons when not ready. `/livez` only says the process answers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

from aiohttp import web

import handlers.visit_jobs  # noqa: F401 - registers the visit jobs
from bot.channels.telegram import (
    BotAPI,
    Progress,
    TelegramTransport,
    WebhookHandler,
    build_dispatcher,
    make_bot,
    set_commands,
    webhook_secret,
)
from bot.channels.telegram_group import GroupMirror, GroupRouter, GroupTransport
from bot.channels.telegram_guard import ChatRateLimit
from bot.channels.web import WebChat
from bot.channels.web_media import WebMedia
from bot.channels.wechat import WeChat
from bot.company import load_company
from bot.config import Settings
from bot.console.web import Console
from bot.core.dispatcher import Dispatcher
from bot.jobs import JobRunner
from bot.lag import LagMonitor
from bot.live import PgBus, WebAcrossWorkers, build_bus
from bot.logs import AccessLogger
from bot.media import MediaStore
from bot.metrics import Metrics
from bot.outbox import Limits, OutboxSender, Transport
from bot.ratelimit import RateLimiter
from bot.startup import warm_up
from bot.supervisor import Supervisor
from handlers import report_jobs, survey_jobs  # register the survey and report jobs
from handlers.router import COMMANDS, route
from storage import retention
from storage.db import checkpoints, create_engine, is_sqlite
from storage.models import utcnow

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query", "edited_message"]  # edits: the agents' group (issue 14)


class ConfigError(Exception):
    """A setting the service cannot start with; the message is one line for the operator."""


class Service:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings, self.clock = settings, clock  # `clock`: the turns', jobs' and console's time (tests move it by hand)
        self.engine = create_engine(settings.database_url, background_checkpoints=True)
        self.company = load_company(settings)
        survey_jobs.configure(self.company.surveys)
        report_jobs.configure(settings)
        self.core = Dispatcher(
            self.engine, self.company, route,
            max_batch=settings.commit_max_batch, window=settings.commit_window, clock=clock,
        )
        self.web = WebChat(self.core, self.engine, settings.company_timezone, settings=settings)
        self.web.company = self.company
        self.bus = build_bus(settings.database_url)  # live updates: in-process, or PostgreSQL LISTEN/NOTIFY
        web_out = WebAcrossWorkers(self.web, self.bus, self.engine) if isinstance(self.bus, PgBus) else self.web
        transports: list[Transport] = [web_out]
        self.wechat = WeChat.from_settings(settings, self.core, self.engine) if settings.wechat_enabled() else None
        transports += [self.wechat] if self.wechat else []
        limits: dict[str, Limits] = {}
        self.bot = None
        self.media = MediaStore(settings.media_dir)
        self.core.files = self.media  # the customer's copy of their data is sent as files
        api = None
        self.webhook_secret: str | None = None
        self.telegram_error: str | None = None  # why Telegram is not (yet) started
        self.telegram_ready = False
        self.group: GroupTransport | None = None  # the agents' Telegram group (AGENT_GROUP_ID)
        if settings.telegram_enabled():
            token = settings.telegram_bot_token or ""
            if settings.webhook_url:
                try:
                    self.webhook_secret = webhook_secret(token, settings.webhook_secret)
                except ValueError as error:
                    raise ConfigError(str(error)) from None
            self.bot = make_bot(token, settings.telegram_api_base)
            api = BotAPI(self.bot)
            self.progress = Progress()
            group_router = None
            if settings.agent_group_id:  # the agents' group: posts through the outbox, members' actions to the core
                self.group = GroupTransport(api, self.engine, self.company, self.media)
                group_router = GroupRouter(self.core, api, self.engine, self.company, settings.agent_group_id, self.media,
                                           clock=clock)
                self.core.mirror = GroupMirror(settings.agent_group_id)
                transports.append(self.group)
                limits[self.group.channel] = Limits(settings.telegram_rate_global, settings.telegram_rate_per_chat,
                                                    settings.telegram_chat_burst, settings.telegram_rate_group)
            self.telegram = build_dispatcher(self.core, api, retry=not settings.webhook_url, progress=self.progress,
                                             group=group_router)
            self.telegram.update.outer_middleware(ChatRateLimit(
                RateLimiter(settings.rate_telegram_chat, settings.rate_telegram_burst), api.call, settings.company_timezone,
            ))
            transports.append(TelegramTransport(api, self.media))
            limits["telegram"] = Limits(
                settings.telegram_rate_global, settings.telegram_rate_per_chat, settings.telegram_chat_burst,
                settings.telegram_rate_group,
            )
        self.sender = OutboxSender(self.engine, transports, limits, lease=settings.outbox_lease)
        self.core.outbox = self.sender
        if self.wechat:
            self.wechat.sender = self.sender
            self.wechat.media = self.media
        self.web.on_connect = lambda visitor: self.sender.unblock(self.web.channel, visitor)
        self.console = Console(self.engine, self.core, self.company, session_hours=settings.console_session_hours, bus=self.bus,
                               media=self.media, media_max_bytes=settings.media_max_bytes, telegram=api, clock=clock)
        self.console.report_thresholds = report_jobs.thresholds()
        self.console.wechat_template = bool(self.wechat and self.wechat.template)
        self.core.bus = self.bus
        self.sender.bus = self.bus  # the console's delivery ticks
        self.jobs = JobRunner(self.engine, self.core, timezone=settings.company_timezone, lease=settings.jobs_lease,
                              poll=settings.jobs_poll, timeout=settings.jobs_timeout, clock=clock)
        self.console.on_typing = self.web.agent_typing
        self.supervisor = Supervisor()
        self.lag = LagMonitor(settings.loop_lag_warning)
        self.runner: web.AppRunner | None = None
        self.metrics = Metrics(self.engine)
        self.core.metrics = self.sender.metrics = self.metrics
        self.metrics_runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port actually bound (settings may say 0: any free port)."""
        assert self.runner is not None
        port: int = self.runner.addresses[0][1]
        return port

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.add_routes(self.web.routes() + (self.wechat.routes() if self.wechat else []))
        self.web.install(app)
        app.router.add_get("/healthz", self.health)
        app.add_subapp("/console", self.console.app())
        app.add_routes(WebMedia(self.web, self.media, self.settings.media_max_bytes).routes())
        app.router.add_get("/livez", self.live)
        app.router.add_get("/metrics", self._metrics_on_main_port)
        if self.bot and self.settings.webhook_url:
            # Answer 200 only once the turn is committed: Telegram redelivers otherwise.
            handler = WebhookHandler(
                self.telegram, self.bot, secret_token=self.webhook_secret, handle_in_background=False
            )
            app.router.add_post(self.settings.webhook_path, handler.handle)
        return app

    async def _metrics_on_main_port(self, request: web.Request) -> web.StreamResponse:
        token = self.settings.metrics_token
        if not token:
            raise web.HTTPNotFound(text="metrics: set METRICS_TOKEN, or read them at METRICS_ADDRESS\n")
        return await self.metrics.handler(token)(request)

    async def _start_metrics_listener(self, address: str) -> None:
        """/metrics without a token on an address only the monitoring host reaches."""
        host, _, port = address.rpartition(":")
        try:
            port_number = int(port)
        except ValueError:
            raise ConfigError(f"METRICS_ADDRESS {address!r}: expected HOST:PORT, e.g. 127.0.0.1:9108") from None
        app = web.Application()
        app.router.add_get("/metrics", self.metrics.handler(None))
        self.metrics_runner = web.AppRunner(app, access_log=None)
        await self.metrics_runner.setup()
        await web.TCPSite(self.metrics_runner, host.strip("[]") or "127.0.0.1", port_number).start()
        log.info("metrics at http://%s/metrics", address)

    async def live(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def health(self, _request: web.Request) -> web.Response:
        """Readiness: 200 when every part works, else 503 with the reasons."""
        problems: list[str] = []
        report: dict[str, Any] = {}
        try:
            async with asyncio.timeout(2.0):
                oldest = await self.sender.oldest_due()
            report["outbox_oldest_due_seconds"] = None if oldest is None else round(oldest, 1)
            if oldest is not None and oldest > self.settings.health_outbox_max_age:
                problems.append(f"outbox: a due reply has waited {oldest:.0f} s")
        except Exception as error:  # an outage: that is the answer
            problems.append(f"store unreachable: {type(error).__name__}: {error}".rstrip(": "))
        if self.sender.store_error:
            problems.append(f"outbox sender: store failing: {self.sender.store_error}")
        if self.jobs.store_error:
            problems.append(f"job runner: store failing: {self.jobs.store_error}")
        if not self.core.alive():
            problems.append("committer stopped")
        problems += self.supervisor.problems()
        if self.bot:
            report["telegram"] = "ready" if self.telegram_ready else f"not started: {self.telegram_error or 'starting'}"
            if not self.telegram_ready:
                problems.append(f"telegram {report['telegram']}")
            if self.settings.agent_group_id and self.group is not None and self.group.problem:
                problems.append(f"agents' group: {self.group.problem}")
        report["loops"] = {s.name: {"running": s.running, "restarts": s.restarts} for s in self.supervisor.loops.values()}
        return web.json_response({"ok": not problems, "problems": problems, **report}, status=503 if problems else 200)

    async def start(self) -> None:
        warm_up()  # before the first turn, not inside it
        await self.bus.start()
        access: dict[str, Any] = (
            {"access_log": logging.getLogger("aftersales.access"), "access_log_class": AccessLogger}
            if self.settings.access_log else {"access_log": None}
        )
        self.runner = web.AppRunner(self.web_app(), shutdown_timeout=2.0, **access)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()
        if self.settings.metrics_address:
            await self._start_metrics_listener(self.settings.metrics_address)
        self.supervisor.start("outbox", self.sender.run)
        await report_jobs.ensure_scheduled(self.engine, self.clock())  # the weekly report, the daily early warning
        await survey_jobs.ensure_scheduled(self.engine, self.clock())  # the hourly sweep for resolutions without surveys
        self.supervisor.start("jobs", self.jobs.run)
        if self.wechat:
            await self.wechat.warm_up()
        if is_sqlite(self.settings.database_url):
            self.supervisor.start("checkpoints", lambda: checkpoints(self.settings.database_url, engine=self.engine))
        policy = self.settings.retention_policy()
        self.supervisor.start("retention", lambda: retention.run(self.engine, policy, self.settings.retention_every))
        self.supervisor.start("loop-lag", self.lag.run)
        if self.bot:
            self.supervisor.start("telegram", self._telegram)
        log.info("web chat at http://%s:%s/", self.settings.host, self.port)
        gc.freeze()  # start-up objects never need collecting; keeps GC pauses short

    async def _telegram(self) -> None:
        """Start Telegram and keep it going. A wrong token or an unreachable Bot API
        raises here: the supervisor tries again with back-off, the web chat serves on."""
        assert self.bot is not None
        self.telegram_ready = False
        try:
            try:
                await set_commands(self.bot, COMMANDS, self.settings.company_timezone)
            except Exception:  # the "/" menu is a convenience: never a reason not to serve
                log.warning("could not register the bot's commands with Telegram", exc_info=True)
            if self.settings.agent_group_id and self.group is not None:
                if await self.group.check(self.settings.agent_group_id):
                    log.error("the agents' group cannot be used: %s", self.group.problem)
            if self.settings.webhook_url:
                await self.bot.set_webhook(
                    self.settings.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
                )
                log.info("Telegram webhook at %s", self.settings.webhook_url)
                self.telegram_ready, self.telegram_error = True, None
                await asyncio.Event().wait()
            await self.bot.delete_webhook(drop_pending_updates=False)
            await self.bot.me()
        except Exception as error:
            self.telegram_error = f"{type(error).__name__}: {error}"
            raise
        self.telegram_ready, self.telegram_error = True, None
        log.info("Telegram long polling started")
        try:
            await self.telegram.start_polling(
                self.bot, handle_as_tasks=False, handle_signals=False, close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
            )
        finally:
            self.telegram_ready = False

    async def _confirm_processed(self) -> None:
        """Polling confirms an update only with the next getUpdates: send that one now
        (offset past the last committed update, no wait), so a restart is not sent again
        what is already stored. Best effort: a redelivered update is recognised anyway."""
        assert self.bot is not None
        if self.progress.last_update is None:
            return
        try:
            async with asyncio.timeout(5):
                await self.bot.get_updates(offset=self.progress.last_update + 1, limit=1, timeout=0)
        except Exception as error:
            log.info("could not confirm the last updates at stop (%s); they will be recognised when sent again", error)

    async def stop(self) -> None:
        """A clean stop: take no new updates, finish the turns in hand, let sends on the
        network finish (`stop_grace`), give unsent claimed replies back as pending."""
        self.supervisor.retire("telegram")
        if self.bot and not self.settings.webhook_url and self.telegram_ready:
            with suppress(RuntimeError):
                await self.telegram.stop_polling()
        await self.supervisor.stop("telegram")
        if self.runner:
            await self.runner.cleanup()  # no new web-chat frames or webhook calls
        self.supervisor.retire("jobs")
        await self.jobs.close()  # the jobs in hand finish (through the core) before it closes
        if self.metrics_runner:
            await self.metrics_runner.cleanup()
        await self.core.close()  # the turns in hand are committed
        if self.bot and not self.settings.webhook_url:
            await self._confirm_processed()
        await self.supervisor.stop()
        await self.sender.close(self.settings.stop_grace)
        if self.wechat:
            await self.wechat.close()
        await self.bus.close()
        if self.bot:
            await self.bot.session.close()
        await self.engine.dispose()


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (the CLI sets it on SIGTERM or SIGINT)."""
    service = Service(settings)
    await service.start()
    try:
        await (stop or asyncio.Event()).wait()
        log.info("stopping")
    finally:
        await service.stop()
        log.info("stopped")
