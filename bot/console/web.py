"""The agents' console, an aiohttp sub-application mounted at /console.

One middleware guards every route: no session, no answer (a log-in page for a
browser, 401 for the API and the live stream); a state-changing request without
the session's CSRF token is refused. Each view then asks `allowed` (services/
permissions.py) for what it does, and `forbidden` answers a refusal, as HTML or
JSON alike. Agents' actions go through the core (`Dispatcher.act`), like a
customer's message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import BodyPartReader, web

from bot.channels.telegram import BotAPI
from bot.company import Company
from bot.console import auth, reports
from bot.console import visits as visit_desk
from bot.console import wechat as wechat_notes
from bot.console.bus import LocalBus
from bot.core.actions import Act, Action
from bot.core.dispatcher import Dispatcher
from bot.core.events import Attachment
from bot.i18n import N_, Translator, locale_names
from bot.media import PREFIX, MediaStore
from services.handoff import Actor, Resolution, Role
from services.media import Rejected, check_upload
from services.permissions import Permission, allowed
from services.routing import Candidate, rank
from storage import agents as agent_store
from storage import console as views
from storage import customer_files as files
from storage.agent_group import new_link_code
from storage.agents import AgentExists, AgentInfo
from storage.customer_files import customer_channels
from storage.db import Store
from storage.jobs import dead_jobs
from storage.models import utcnow
from storage.products import customer_file
from storage.wechat import window_of

log = logging.getLogger(__name__)
TYPING_SHOWN = 6.0  # seconds "X is typing" stays after their last keystroke report
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login"
PUBLIC = {"login", "static"}
AGENT = web.RequestKey("agent", AgentInfo)
CSRF = web.RequestKey("csrf", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RESOLUTIONS = {
    Resolution.ANSWERED: N_("Answered"),
    Resolution.REPAIR_BOOKED: N_("Repair booked"),
    Resolution.VISIT_BOOKED: N_("Visit booked"),
    Resolution.REFUND_OR_EXCHANGE: N_("Refund or exchange"),
    Resolution.NOT_OUR_PRODUCT: N_("Not our product"),
    Resolution.NO_REPLY: N_("No reply from the customer"),
    Resolution.DUPLICATE: N_("Duplicate"),
}
ROLES = {Role.AGENT: N_("Agent"), Role.SUPERVISOR: N_("Supervisor"), Role.ADMIN: N_("Administrator")}
DELIVERY = {
    "pending": N_("queued"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
    "uncertain": N_("uncertain"),
}
REFUSALS = {
    "already claimed": N_("Already taken by %(owner)s."),
    "not yours": N_("This conversation belongs to %(owner)s."),
    "changed meanwhile": N_("Someone changed this conversation meanwhile; it is now with %(owner)s."),
    "a resolution code is required": N_("Choose a resolution code."),
    "no such pending claim": N_("This claim has already been decided."),
}
ACTS = {  # form action -> (the core's act, the permission it needs)
    "claim": (Act.CLAIM, Permission.CLAIM), "reply": (Act.REPLY, Permission.WRITE), "canned": (Act.REPLY, Permission.WRITE),
    "note": (Act.NOTE, Permission.WRITE), "transfer": (Act.TRANSFER, Permission.HANDLE),
    "requeue": (Act.REQUEUE, Permission.HANDLE), "release": (Act.RELEASE, Permission.HANDLE),
    "resolve": (Act.RESOLVE, Permission.HANDLE), "reopen": (Act.REOPEN, Permission.HANDLE),
    "assign": (Act.ASSIGN, Permission.ASSIGN),
    "confirm_owner": (Act.CONFIRM_OWNER, Permission.HANDLE), "refuse_owner": (Act.REFUSE_OWNER, Permission.HANDLE),
}


def forbidden(request: web.Request, status: int = 403, text: str = "forbidden") -> web.Response:
    """The one refusal: JSON for scripts, a short page for a browser."""
    if _wants_json(request):
        return web.json_response({"ok": False, "error": text}, status=status)
    return web.Response(status=status, text=text, content_type="text/plain")


def _wants_json(request: web.Request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or "json" in request.headers.get("Accept", "")


class Console:
    def __init__(self, engine: Store, core: Dispatcher, company: Company, *, session_hours: float = 12.0,
                 bus: LocalBus | None = None, clock: Callable[[], datetime] = utcnow,
                 media: MediaStore | None = None, media_max_bytes: int = 10 * 1024 * 1024,
                 telegram: BotAPI | None = None) -> None:
        self.engine, self.core, self.company = engine, core, company
        self.media, self.media_max_bytes, self.telegram = media, media_max_bytes, telegram
        self.bus = bus or LocalBus()
        self.clock = clock
        self.lifetime = timedelta(hours=session_hours)
        self.viewers: dict[int, dict[int, str]] = defaultdict(dict)  # conversation -> agent id -> name
        self.online: dict[int, int] = defaultdict(int)  # agent id -> open live streams
        self.typing: dict[int, dict[int, tuple[str, float]]] = defaultdict(dict)  # conversation -> agent -> (name, when)
        self.on_typing: Callable[[int], None] | None = None  # an agent writes in this conversation
        self._streams: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self.breach_check_every = 30.0  # seconds
        self.report_thresholds = dict(reports.DEFAULT_THRESHOLDS)  # early warning (settings: EARLY_WARNING_*)
        self.report_cache = reports.ReportCache()
        self.wechat_template = False  # WeChat: replies beyond the window go as a template message

    async def _end_streams(self, _app: web.Application) -> None:
        """At shutdown: end the live streams (they would otherwise hold the server open)."""
        for task in self._streams:
            task.cancel()
        if self._watch:
            self._watch.cancel()

    async def _start_watch(self, _app: web.Application) -> None:
        self._watch = asyncio.create_task(self._watch_breaches(), name="console-breaches")

    async def _watch_breaches(self) -> None:
        while True:
            await asyncio.sleep(self.breach_check_every)
            try:
                await self.check_breaches()
            except Exception:  # the next round tries again
                log.exception("checking first-response breaches failed")
            try:
                await self.offer_messages()
            except Exception:
                log.exception("offering to leave a message failed")

    async def check_breaches(self) -> int:
        """Record newly missed first responses once and alert the consoles; how many were new."""
        found = await views.record_breaches(self.engine, self.clock())
        if found:
            self.bus.changed({conversation for _t, conversation, _n in found if conversation is not None})
        return len(found)

    async def offer_messages(self) -> int:
        """Customers waiting unclaimed longer than configured are offered to leave a message, once a
        ticket, through the core (serialised with their own turns); how many were offered now."""
        teams = self.company.teams
        minutes = teams.offer_message_after_minutes if teams else 10
        offered = 0
        for conversation_id, ticket_id in await views.unclaimed(self.engine, self.clock() - timedelta(minutes=minutes)):
            result = await self.core.act(Action(conversation_id, Act.OFFER_MESSAGE, Actor(), ticket_id=ticket_id))
            offered += result.ok
        return offered

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.on_startup.append(self._start_watch)
        app.on_shutdown.append(self._end_streams)
        env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        env.trim_blocks = env.lstrip_blocks = True
        app.add_routes([
            web.get("/login", self.login_page, name="login"),
            web.post("/login", self.login, name="login_post"),
            web.post("/logout", self.logout),
            web.post("/telegram-link", self.telegram_link),
            web.get("/", self.queue_page),
            web.get("/queue", self.queue_rows),
            web.get("/events", self.events),
            web.get("/c/{cid:\\d+}", self.conversation_page),
            web.get("/c/{cid:\\d+}/transcript", self.transcript),
            web.post("/c/{cid:\\d+}/file", self.send_file),
            web.post("/c/{cid:\\d+}/typing", self.typing_now),
            web.post("/c/{cid:\\d+}/customer/{change}", self.customer_change),
            web.post("/c/{cid:\\d+}/visit/{what}", self.visit_action),
            web.post("/c/{cid:\\d+}/{act}", self.act),
            web.get("/media/{name}", self.media_file),
            web.get("/telegram-file/{message:\\d+}/{index:\\d+}", self.telegram_file),
            web.get("/supervisor", self.supervisor),
            web.get("/reports", self.reports_page),
            web.get("/reports/chart/{name}.svg", self.report_chart),
            web.get("/reports/{key}.csv", self.report_csv),
            web.get("/admin/agents", self.agents_page),
            web.post("/admin/agents", self.add_agent),
            web.post("/admin/agents/{aid:\\d+}/{change}", self.change_agent),
            web.static("/static", HERE / "static", name="static"),
        ])
        return app

    # --- the guard: session and CSRF for every route but the log-in page ----------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        name = route.name or ""
        if name in PUBLIC or name == "login_post" or route.resource is None:
            return await handler(request)
        found = await auth.session_agent(self.engine, request.cookies.get(SESSION_COOKIE), self.clock())
        if found is None:
            if request.method == "GET" and not _wants_json(request) and not request.path.endswith("/events"):
                raise web.HTTPSeeOther("/console/login")
            return forbidden(request, 401, "log in first")
        agent, csrf = found
        if request.method not in ("GET", "HEAD"):
            given = request.headers.get("X-CSRF-Token")
            if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                given = str((await request.post()).get("csrf", ""))
            if not auth.csrf_ok(csrf, given):
                return forbidden(request, 403, "missing or wrong CSRF token")
        request[AGENT], request[CSRF] = agent, csrf
        try:
            return await handler(request)
        except web.HTTPForbidden as refusal:
            return forbidden(request, 403, refusal.text or "forbidden")

    def _require(self, request: web.Request, permission: Permission) -> AgentInfo:
        agent = request[AGENT]
        if not allowed(agent.role, permission):
            raise web.HTTPForbidden(text="not allowed for your role")
        return agent

    def _context(self, request: web.Request, **values: Any) -> dict[str, Any]:
        agent = request.get(AGENT)
        t = Translator(agent.locale, agent.timezone) if agent else Translator("en", self.company.timezone)
        return {
            "_": t._, "t": t, "agent": agent, "csrf": request.get(CSRF, ""), "now": self.clock(),
            "when": lambda value: t.datetime(value, "short") if value else "",
            "may": (lambda permission: allowed(agent.role, Permission(permission))) if agent else (lambda _p: False),
            "languages": locale_names(), "why_waiting": lambda error: wechat_notes.why_waiting(t, error),
            "as_template": t._(wechat_notes.AS_TEMPLATE), **values,
        }

    # --- log-in --------------------------------------------------------------------------

    async def login_page(self, request: web.Request, error: str | None = None) -> web.Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = aiohttp_jinja2.render_template("login.html", request, self._context(request, login_csrf=token, error=error))
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/console")
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not cookie or not auth.csrf_ok(cookie, str(form.get("csrf", ""))):
            return forbidden(request, 403, "missing or wrong CSRF token")
        t = Translator("en", self.company.timezone)
        outcome = await auth.log_in(self.engine, str(form.get("login", ""))[:64], str(form.get("password", ""))[:1024],
                                    self.clock(), self.lifetime)
        if isinstance(outcome, auth.LoginRefused):
            message = (N_("Too many failed attempts. Please wait a moment and try again.") if outcome is auth.LoginRefused.LOCKED
                       else N_("Wrong login or password."))
            response = await self.login_page(request, t._(message))
            response.set_status(429 if outcome is auth.LoginRefused.LOCKED else 401)
            return response
        done = web.HTTPSeeOther("/console/")
        done.set_cookie(SESSION_COOKIE, outcome.token, httponly=True, samesite="Strict", path="/console",
                        max_age=int(self.lifetime.total_seconds()))
        done.del_cookie(LOGIN_CSRF_COOKIE, path="/console")
        raise done

    async def logout(self, request: web.Request) -> web.StreamResponse:
        await agent_store.revoke_session(self.engine, auth.token_hash(request.cookies[SESSION_COOKIE]), self.clock())
        done = web.HTTPSeeOther("/console/login")
        done.del_cookie(SESSION_COOKIE, path="/console")
        raise done

    async def telegram_link(self, request: web.Request) -> web.Response:
        """A one-time code the agent sends to the bot (`/link CODE`) to act from the agents' Telegram group."""
        agent = request[AGENT]
        code = await new_link_code(self.engine, agent.id, self.clock())
        return aiohttp_jinja2.render_template("telegram_link.html", request, self._context(request, code=code))

    # --- queue -----------------------------------------------------------------------------

    def _filter(self, request: web.Request, agent: AgentInfo) -> views.QueueFilter:
        scope = request.query.get("scope", "all")
        scope = scope if scope in ("mine", "unassigned", "all") else "all"
        locales: tuple[str, ...] = ()
        if (language := request.query.get("language")) in locale_names():
            locales = (str(language),)
        elif (team := request.query.get("team")) and self.company.teams:
            locales = next((tuple(t.languages) for t in self.company.teams.teams if t.id == team), ("-",))
        return views.QueueFilter(scope, locales, agent.id, agent.id if agent.role is Role.AGENT else None)

    async def queue_page(self, request: web.Request) -> web.Response:
        agent = self._require(request, Permission.QUEUE)
        items = await views.queue(self.engine, self._filter(request, agent))
        teams = [t.id for t in self.company.teams.teams] if self.company.teams else []
        return aiohttp_jinja2.render_template("queue.html", request, self._context(
            request, items=items, query=dict(request.query), teams=teams))

    async def queue_rows(self, request: web.Request) -> web.Response:
        agent = self._require(request, Permission.QUEUE)
        items = await views.queue(self.engine, self._filter(request, agent))
        return aiohttp_jinja2.render_template("_rows.html", request, self._context(request, items=items))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `change` with the conversations that changed; `?c=ID`: viewing that one."""
        agent = self._require(request, Permission.QUEUE)
        viewing = int(request.query["c"]) if request.query.get("c", "").isdigit() else None
        if viewing is not None:
            await self._conversation(request, viewing)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        self.online[agent.id] += 1
        if viewing is not None:
            self.viewers[viewing][agent.id] = agent.name
            self.bus.changed({viewing})
        try:
            with self.bus.listen() as changes:
                await response.write(b"event: ready\ndata: {}\n\n")
                while True:
                    try:
                        ids = await asyncio.wait_for(changes.get(), timeout=25)
                    except TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    await response.write(f"event: change\ndata: {json.dumps(sorted(ids))}\n\n".encode())
        except ConnectionResetError:
            pass
        finally:
            self._streams.discard(task)
            self.online[agent.id] -= 1
            if not self.online[agent.id]:
                del self.online[agent.id]
            if viewing is not None:
                self.viewers[viewing].pop(agent.id, None)
                if not self.viewers[viewing]:
                    del self.viewers[viewing]
                self.bus.changed({viewing})
        return response

    # --- a conversation ---------------------------------------------------------------------

    async def _conversation(self, request: web.Request, conversation_id: int | None = None, *,
                            check: bool = True) -> views.ConversationInfo:
        """The conversation of the route, if this agent's role lets them open it (else 403)."""
        info = await views.conversation(self.engine, conversation_id or int(request.match_info["cid"]))
        if info is None:
            raise web.HTTPNotFound(text="no such conversation")
        if not check:
            return info
        agent = request[AGENT]
        if not await views.may_open_conversation(self.engine, info, agent.id, agent.role):
            raise web.HTTPForbidden(text="not your conversation")
        return info

    async def conversation_page(self, request: web.Request) -> web.Response:
        agent = self._require(request, Permission.QUEUE)
        info = await self._conversation(request)
        staff = [(a, load) for a, load in await agent_store.list_agents(self.engine) if a.active]
        # Routing's choice first (language, product line, least busy, online, within capacity).
        ranked = rank([Candidate(a.id, a.languages, a.product_lines, load, a.capacity, a.id in self.online)
                       for a, load in staff], info.locale, info.product_line)
        order = {c.agent_id: n for n, c in enumerate(ranked)}
        everyone = sorted((a for a, _load in staff), key=lambda a: (order.get(a.id, len(order)), a.name))
        canned = self.company.canned.replies if self.company.canned else []
        teams = [t.id for t in self.company.teams.teams] if self.company.teams else []
        return aiohttp_jinja2.render_template("conversation.html", request, self._context(
            request, c=info, lines=await views.transcript(self.engine, info.id),
            file=await customer_file(self.engine, info.customer_id),
            service_record=await reports.service_record(self, info.customer_id), survey_statuses=reports.SURVEY_STATUSES,
            advice=reports.ADVICE,
            tickets=await views.tickets_of_conversation(self.engine, info.id),
            others=[a for a in everyone if a.id != agent.id], everyone=everyone, canned=canned, teams=teams,
            resolutions=RESOLUTIONS, delivery=DELIVERY, viewers=self._viewers(info.id, agent.id),
            typing=self._typists(info.id, agent.id),
            suggested=ranked[0].agent_id if ranked else None,
            ownership_claims=await views.pending_ownership_claims(self.engine, info.customer_id),
            channels=await customer_channels(self.engine, info.customer_id),
            **await visit_desk.desk(self.engine, self.company, info.id, Translator(agent.locale, agent.timezone),
                                    self.clock()),
            wechat=await self._wechat(agent, info),
        ))

    async def visit_action(self, request: web.Request) -> web.StreamResponse:
        """Book, move or cancel for the customer, or the engineer's word on a visit (bot/console/visits.py)."""
        agent = self._require(request, Permission.HANDLE)
        info = await self._conversation(request)
        t = Translator(agent.locale, agent.timezone)
        problem = await visit_desk.act(self.engine, self.company, info.id, request.match_info["what"],
                                       await request.post(), t, self.clock(), by=agent.id)
        return self._answer(request, info.id, problem is None, problem or "")

    async def _wechat(self, agent: AgentInfo, info: views.ConversationInfo) -> wechat_notes.WindowNotice | None:
        """A WeChat customer's window, for the agent before they write."""
        if info.channel != "wechat":
            return None
        now = self.clock()
        window = await window_of(self.engine, info.id, now)
        return wechat_notes.notice(Translator(agent.locale, agent.timezone), window, now, self.wechat_template)

    def _viewers(self, conversation_id: int, me: int) -> list[str]:
        return [name for agent_id, name in self.viewers.get(conversation_id, {}).items() if agent_id != me]

    def _typists(self, conversation_id: int, me: int) -> list[str]:
        recent = time.monotonic() - TYPING_SHOWN
        return [name for agent_id, (name, at) in self.typing.get(conversation_id, {}).items() if agent_id != me and at > recent]

    async def typing_now(self, request: web.Request) -> web.Response:
        """An agent is writing in this conversation: the others see it (so two do not answer at once)."""
        agent = self._require(request, Permission.WRITE)
        conversation_id = (await self._conversation(request)).id
        self.typing[conversation_id][agent.id] = (agent.name, time.monotonic())
        self.bus.changed({conversation_id})
        if self.on_typing:  # the customer sees it too (the web chat's typing line)
            self.on_typing(conversation_id)
        return web.json_response({"ok": True})

    async def transcript(self, request: web.Request) -> web.Response:
        agent = self._require(request, Permission.QUEUE)
        info = await self._conversation(request)
        return aiohttp_jinja2.render_template("_transcript.html", request, self._context(
            request, c=info, lines=await views.transcript(self.engine, info.id), delivery=DELIVERY,
            viewers=self._viewers(info.id, agent.id), typing=self._typists(info.id, agent.id),
            wechat=await self._wechat(agent, info),
        ))

    async def act(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["act"]
        if name not in ACTS:
            raise web.HTTPNotFound(text="no such action")
        act, permission = ACTS[name]
        agent = self._require(request, permission)
        # A claim needs no view: the core takes only a waiting ticket, and a loser learns just who won.
        info = await self._conversation(request, check=act is not Act.CLAIM)
        form = await request.post()
        t = Translator(agent.locale, agent.timezone)
        text = str(form.get("text", "")).strip()[:4000]
        if name == "canned":
            canned = self.company.canned.get(str(form.get("canned", ""))) if self.company.canned else None
            if canned is None:
                return self._answer(request, info.id, False, t._("Choose a canned reply."))
            text = canned.in_language(info.locale)  # the customer's language, whatever the agent reads
        if act in (Act.REPLY, Act.NOTE) and not text:
            return self._answer(request, info.id, False, t._("Write something first."))
        resolution = str(form.get("resolution", "")) or None
        if resolution is not None and resolution not in {r.value for r in Resolution}:
            resolution = None
        action = Action(
            info.id, act, Actor(agent.id, agent.role), text=text,
            ticket_id=_int(form.get("ticket")), target_agent_id=_int(form.get("target")),
            resolution=resolution, team=str(form.get("team", "")) or None, claim_id=_int(form.get("claim")),
            identity_id=_int(form.get("via")),
        )
        result = await self.core.act(action)
        if result.ok:
            return self._answer(request, info.id, True, "")
        owner = await agent_store.get_agent(self.engine, result.owner_id) if result.owner_id else None
        template = REFUSALS.get(result.reason or "", N_("Not possible now: %(reason)s"))
        return self._answer(request, info.id, False, t._(template, owner=owner.name if owner else "?",
                                                         reason=result.reason or ""))

    async def send_file(self, request: web.Request) -> web.StreamResponse:
        """An agent's photo or document to the customer: type and size checked here, stored, then
        sent through the core like a reply (multipart, read as a stream: no whole-body limit)."""
        agent = self._require(request, Permission.WRITE)
        info = await self._conversation(request)
        t = Translator(agent.locale, agent.timezone)
        if self.media is None or not request.content_type.startswith("multipart/"):
            return self._answer(request, info.id, False, t._("Choose a file first."))
        text, data, name = "", b"", "file"
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "text":
                text = (await part.text())[:1024]
            elif part.name == "file":
                name = (part.filename or "file")[:100]
                while chunk := await part.read_chunk():
                    data += chunk
                    if len(data) > self.media_max_bytes:
                        return self._answer(request, info.id, False, t._("The file is too big."))
        if not data:
            return self._answer(request, info.id, False, t._("Choose a file first."))
        try:
            accepted = check_upload(data[:16], len(data), self.media_max_bytes)
        except Rejected:
            return self._answer(request, info.id, False, t._("Only photos (JPEG, PNG), PDF and MP4 videos can be sent."))
        ref = await self.media.save(data, accepted.extension)
        attachment = Attachment(accepted.kind.value, ref, name, accepted.mime)
        result = await self.core.act(Action(info.id, Act.REPLY, Actor(agent.id, agent.role), text=text, attachments=(attachment,)))
        return self._answer(request, info.id, result.ok, "" if result.ok else t._(REFUSALS.get(result.reason or "", N_("Not possible now: %(reason)s")),
                                                                                  owner="?", reason=result.reason or ""))

    async def media_file(self, request: web.Request) -> web.StreamResponse:
        self._require(request, Permission.QUEUE)
        path = self.media.path(PREFIX + request.match_info["name"]) if self.media else None
        if path is None:
            raise web.HTTPNotFound(text="no such file")
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private"})

    async def telegram_file(self, request: web.Request) -> web.StreamResponse:
        """A file a Telegram customer sent, fetched from the Bot API for the agent's eyes."""
        self._require(request, Permission.QUEUE)
        conversation_id = await views.conversation_of_message(self.engine, int(request.match_info["message"]))
        if conversation_id is None:
            raise web.HTTPNotFound(text="no such file")
        await self._conversation(request, conversation_id)
        files = await views.attachments(self.engine, int(request.match_info["message"]))
        index = int(request.match_info["index"])
        if self.telegram is None or index >= len(files) or files[index].get("ref", "").startswith(PREFIX):
            raise web.HTTPNotFound(text="no such file")
        data = await self.telegram.download(files[index]["ref"])
        mime = files[index].get("mime") or ("image/jpeg" if files[index].get("kind") == "photo" else "application/octet-stream")
        return web.Response(body=data, content_type=mime, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private"})

    async def customer_change(self, request: web.Request) -> web.StreamResponse:
        """A person's decision on the customer's file (issue 18): join another file into it or split a
        chat off (supervisors), erase the personal data (admins). The reason goes to the audit trail."""
        change = request.match_info["change"]
        if change not in ("join", "split", "erase"):
            raise web.HTTPNotFound(text="no such change")
        agent = self._require(request, Permission.MANAGE_AGENTS if change == "erase" else Permission.SUPERVISE)
        info = await self._conversation(request)
        form = await request.post()
        t = Translator(agent.locale, agent.timezone)
        reason = str(form.get("reason", "")).strip()[:500]
        if not reason:
            return self._answer(request, info.id, False, t._("Give a reason: it goes to the audit trail."))
        if change == "erase" and form.get("confirm") != "yes":
            return self._answer(request, info.id, False, t._("Tick that you understand that erasing cannot be undone."))
        by, now = f"agent {agent.id}", self.clock()
        async with self.engine.begin() as conn:
            if change == "join":
                other = _int(form.get("customer"))
                outcome = await files.join(conn, info.customer_id, other or 0, now, by=by, reason=reason, agent_id=agent.id,
                                           person_confirmed=form.get("phones_checked") == "yes")
                problem = {
                    files.JoinOutcome.SAME_FILE: t._("That is this customer's own file."),
                    files.JoinOutcome.UNKNOWN: t._("There is no such customer file."),
                    files.JoinOutcome.PHONES_DIFFER: t._("Both files hold different confirmed phones: tick that you checked "
                                                         "they are one customer's, then join again."),
                }.get(outcome)
            elif change == "split":
                split_off = await files.split(conn, _int(form.get("identity")) or 0, now, by=by, reason=reason, agent_id=agent.id)
                problem = None if split_off else t._("This chat cannot be split off: it is the file's only one.")
            else:
                erased = await files.erase(conn, info.customer_id, now, by=by, agent_id=agent.id)
                problem = None if erased is not None else t._("There is no such customer file.")
        if change == "erase" and problem is None:
            for ref in erased or []:
                if self.media is not None:
                    self.media.delete(ref)
        if problem is None:
            self.bus.changed({info.id})
        return self._answer(request, info.id, problem is None, problem or "")

    def _answer(self, request: web.Request, conversation_id: int, ok: bool, message: str) -> web.StreamResponse:
        if _wants_json(request):
            return web.json_response({"ok": ok, "message": message}, status=200 if ok else 409)
        raise web.HTTPSeeOther(f"/console/c/{conversation_id}")

    # --- supervisor and admin ------------------------------------------------------------------

    async def supervisor(self, request: web.Request) -> web.Response:
        self._require(request, Permission.SUPERVISE)
        now = self.clock()
        return aiohttp_jinja2.render_template("supervisor.html", request, self._context(
            request, overview=await views.overview(self.engine, now), agents=await agent_store.list_agents(self.engine),
            breaches=await views.breaches(self.engine),
            online=self.online, roles=ROLES, dead_jobs=await dead_jobs(self.engine),
            warnings=await reports.recent_warnings(self.engine, now), window_names=reports.WINDOW_NAMES,
        ))

    async def reports_page(self, request: web.Request) -> web.Response:
        return await reports.page(self, request)

    async def report_csv(self, request: web.Request) -> web.StreamResponse:
        return await reports.csv_export(self, request)

    async def report_chart(self, request: web.Request) -> web.StreamResponse:
        return await reports.chart(self, request)

    async def agents_page(self, request: web.Request, error: str | None = None) -> web.Response:
        self._require(request, Permission.MANAGE_AGENTS)
        lines = [line.id for line in self.company.catalog.lines]
        teams = [t.id for t in self.company.teams.teams] if self.company.teams else []
        return aiohttp_jinja2.render_template("agents.html", request, self._context(
            request, agents=await agent_store.list_agents(self.engine), roles=ROLES, lines=lines, teams=teams, error=error,
        ))

    async def add_agent(self, request: web.Request) -> web.StreamResponse:
        admin = self._require(request, Permission.MANAGE_AGENTS)
        form = await request.post()
        t = Translator(admin.locale, admin.timezone)
        login, name = str(form.get("login", "")).strip()[:64], str(form.get("name", "")).strip()[:200]
        role = str(form.get("role", Role.AGENT.value))
        try:
            if not login or not name or role not in {r.value for r in Role}:
                raise ValueError(t._("Login, name and role are required."))
            if len(str(form.get("password", ""))) < auth.MIN_PASSWORD:
                raise ValueError(t._("A password needs at least %(count)d characters.", count=auth.MIN_PASSWORD))
            await agent_store.add_agent(
                self.engine, login=login, name=name, password_hash=await auth.hash_in_thread(str(form.get("password", ""))),
                role=Role(role), now=self.clock(), by=admin.id,
                languages=[str(v) for v in form.getall("languages", []) if v in locale_names()],
                product_lines=[str(v) for v in form.getall("product_lines", [])],
                team=str(form.get("team", "")) or None, capacity=_int(form.get("capacity")) or 5,
                locale=str(form.get("locale", "en")) if form.get("locale") in locale_names() else "en",
                timezone=self.company.timezone,
            )
        except AgentExists:
            return await self._agents_error(request, t._("That login is taken."))
        except ValueError as problem:
            return await self._agents_error(request, str(problem))
        raise web.HTTPSeeOther("/console/admin/agents")

    async def _agents_error(self, request: web.Request, message: str) -> web.Response:
        response = await self.agents_page(request, message)
        response.set_status(400)
        return response

    async def change_agent(self, request: web.Request) -> web.StreamResponse:
        admin = self._require(request, Permission.MANAGE_AGENTS)
        agent_id, change = int(request.match_info["aid"]), request.match_info["change"]
        now = self.clock()
        if change in ("disable", "enable"):
            await agent_store.set_active(self.engine, agent_id, change == "enable", now, by=admin.id)
        elif change == "password":
            password = str((await request.post()).get("password", ""))
            if len(password) < auth.MIN_PASSWORD:
                t = Translator(admin.locale, admin.timezone)
                return await self._agents_error(request, t._("A password needs at least %(count)d characters.", count=auth.MIN_PASSWORD))
            hashed = await auth.hash_in_thread(password)
            await agent_store.set_password(self.engine, agent_id, hashed, now, by=admin.id)
        else:
            raise web.HTTPNotFound(text="no such change")
        raise web.HTTPSeeOther("/console/admin/agents")


def _int(value: Any) -> int | None:
    with suppress(TypeError, ValueError):
        return int(str(value))
    return None

