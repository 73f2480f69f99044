"""Throughput and latency of the Telegram pipeline against a bare aiogram echo.

    .venv/bin/python -m bench.pipeline                  # SQLite, 200 customers, 10 s per phase
    .venv/bin/python -m bench.pipeline --db postgres    # postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.pipeline --profile cprofile   # profile the pipeline instead

Two systems are measured in the same process, both fed with `await dp.feed_update(bot, update)`
and both answering through a `Bot` whose session (`LocalSession`) answers locally:

- echo: a bare aiogram `Dispatcher`, one message handler without filters calling
  `message.answer(text)` and one callback handler calling `bot.send_message`;
- pipeline: the service's aiogram dispatcher (`build_dispatcher(core)`), the real core
  `Dispatcher` (group commit into the store) and a real `OutboxSender` with a
  `TelegramTransport` (no rate limits) that delivers the replies.

Simulated customers walk the repair form step by step (the walk of tests/test_telegram_e2e.py)
and start over at /start after Submit. A step's latency runs from the `feed_update` call to the
bot's last sendMessage answering it (for the pipeline that includes the outbox delivery).
Phases: (a) closed loop, every customer sends its next update as soon as the answer is in;
(b) open loop at ~1 update/s per customer (randomized start, exponential think times).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time

_IMPORTED_AT = time.monotonic()  # aiogram's import alone takes seconds
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram import Dispatcher as AiogramDispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import CallbackQuery, Message, Update
from aiohttp import FormData

perf_counter = time.perf_counter

TOKEN = "123456:BENCH-not-a-real-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Bench Bot", "username": "bench_bot"}
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FIRST_USER = 700_000_000  # customers' Telegram ids (= their private chat ids)
STUCK_AFTER = 5.0  # seconds without an answer: the step is reported as stuck

# The repair form as a customer walks it on Telegram (tests/test_telegram_e2e.py):
# (kind, argument); "tap" presses the button whose label contains the argument
# (None: the first button) on the bot's last message with an inline keyboard.
WALK: tuple[tuple[str, str | None], ...] = (
    ("text", "/start"),
    ("tap", "🛠"),
    ("tap", None),  # product line
    ("tap", None),  # model
    ("text", "HA2403000123"),  # serial
    ("text", "Water drips from the indoor unit"),  # description
    ("tap", "Skip"),  # files
    ("location", None),
    ("contact", None),
    ("tap", None),  # day
    ("tap", None),  # time window
    ("tap", "Submit"),
)
SUBMIT_STEP = len(WALK) - 1


# --- the Bot API, answered locally ----------------------------------------------------


class Chat:
    """What the bot sent to one chat, and who waits for it."""

    __slots__ = ("sent", "target", "future", "last_at", "last_text", "keyboard")

    def __init__(self) -> None:
        self.sent = 0  # sendMessage calls so far
        self.target = 0  # resolve `future` when `sent` reaches this
        self.future: asyncio.Future[float] | None = None
        self.last_at = 0.0
        self.last_text = ""
        # (message_id, text, inline_keyboard) of the last message with an inline keyboard
        self.keyboard: tuple[int, str, list[list[dict[str, Any]]]] | None = None


class LocalSession(BaseSession):
    """A Bot API session that answers in-process, no sockets.

    Real work per call, as `AiohttpSession.make_request` does it: the URL, `method.model_dump()`
    and `prepare_value` of every field (JSON-encoding markups), an `aiohttp.FormData` encoded to
    the urlencoded request body; then the answer is built as Telegram would (a Message JSON
    with increasing message_id, `reply_markup` echoed for inline keyboards), serialized with
    `json_dumps` and parsed back through `check_response` (json_loads + pydantic validation of
    `Response[Message]`, binding the bot). Not done: the socket and HTTP framing; in their place
    one `await asyncio.sleep(0)`, as a real request yields to the event loop at least once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.chats: dict[int, Chat] = {}
        self.calls: Counter[str] = Counter()
        self._message_ids = itertools.count(1)

    def chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat()
        return chat

    async def close(self) -> None:
        pass

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,
                             chunk_size: int = 65536, raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""  # pragma: no cover

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        name = method.__api_method__
        self.api.api_url(token=bot.token, method=name)
        form = FormData(quote_fields=False)
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            value = self.prepare_value(value, bot=bot, files=files)
            if not value:
                continue
            form.add_field(key, value)
            fields[key] = value
        form()  # the request body, as aiohttp would write it to the socket
        await asyncio.sleep(0)  # a real request yields to the event loop at least once
        result = self._answer(name, fields)
        response = self.check_response(bot, method, 200, self.json_dumps({"ok": True, "result": result}))
        return response.result

    async def post_json(self, name: str, body: bytes) -> tuple[int, bytes]:
        """What the server answers to a JSON POST (the transport's `BotAPI.post`)."""
        await asyncio.sleep(0)
        result = self._answer(name, json.loads(body))
        return 200, self.json_dumps({"ok": True, "result": result}).encode()

    def _answer(self, name: str, fields: dict[str, Any]) -> Any:
        self.calls[name] += 1
        now = int(time.time())
        if name == "sendMessage":
            chat_id = int(fields["chat_id"])
            message_id = next(self._message_ids)
            result: Any = self._message(chat_id, message_id, fields, now)
            self._delivered(chat_id, message_id, result)
        elif name == "editMessageText":
            result = self._message(int(fields["chat_id"]), int(fields["message_id"]), fields, now)
            result["edit_date"] = now
        elif name in ("answerCallbackQuery", "deleteWebhook", "setWebhook", "sendChatAction"):
            result = True
        elif name == "getMe":
            result = BOT_USER
        else:
            raise NotImplementedError(f"LocalSession does not answer {name}")
        return result

    @staticmethod
    def _message(chat_id: int, message_id: int, fields: dict[str, Any], now: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id, "date": now, "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "Customer"},
            "text": fields.get("text", ""),
        }
        markup = fields.get("reply_markup")
        if isinstance(markup, str):  # form-encoded (aiogram) rather than JSON
            markup = json.loads(markup)
        if markup:
            if "inline_keyboard" in markup:  # Telegram echoes only inline keyboards
                message["reply_markup"] = markup
        return message

    def _delivered(self, chat_id: int, message_id: int, message: dict[str, Any]) -> None:
        chat = self.chat(chat_id)
        chat.sent += 1
        chat.last_at = now = perf_counter()
        chat.last_text = message["text"]
        if "reply_markup" in message:
            chat.keyboard = (message_id, message["text"], message["reply_markup"]["inline_keyboard"])
        future = chat.future
        if future is not None and chat.sent >= chat.target:
            chat.future = None
            if not future.done():
                future.set_result(now)


def make_local_bot() -> Bot:
    """The service's `make_bot` (same defaults), with the local session in place of aiohttp's."""
    from bot.channels.telegram import make_bot

    bot = make_bot(TOKEN)
    bot.session = LocalSession()  # make_bot's AiohttpSession opens nothing until its first request
    return bot


def local_bot_api(bot: Bot) -> Any:
    """The transport's JSON client, posting to the local session instead of a socket."""
    from bot.channels.telegram import BotAPI

    session: LocalSession = bot.session  # type: ignore[assignment]

    class LocalBotAPI(BotAPI):
        async def post(self, method: str, body: bytes) -> tuple[int, bytes]:
            return await session.post_json(method, body)

    return LocalBotAPI(bot)


# --- customers ------------------------------------------------------------------------


class Customer:
    """A Telegram user walking the repair form; its updates are built from templates
    validated once (bound to the bot) and copied with new ids per step (`model_copy`, a
    few microseconds: parsing an Update costs ~160 us in either system and is left out)."""

    def __init__(self, user_id: int, bot: Bot, session: LocalSession) -> None:
        self.user_id = user_id
        self.chat = session.chat(user_id)
        self.step = 0
        user = {"id": user_id, "is_bot": False, "first_name": "Customer", "last_name": str(user_id), "language_code": "en"}
        chat = {"id": user_id, "type": "private", "first_name": "Customer"}
        base = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": user}
        ctx = {"bot": bot}
        self._update = Update.model_validate({"update_id": 1, "message": {**base, "text": "x"}}, context=ctx)
        self._text = self._update.message
        self._location = Message.model_validate({**base, "location": {"latitude": 41.7151, "longitude": 44.8271}}, context=ctx)
        self._contact = Message.model_validate(
            {**base, "contact": {"phone_number": "995555123456", "first_name": "Customer", "user_id": user_id}}, context=ctx)
        bot_message = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": BOT_USER, "text": "x"}
        self._callback = CallbackQuery.model_validate(
            {"id": "1", "from": user, "chat_instance": f"ci{user_id}", "data": "x", "message": bot_message}, context=ctx)
        self._bot_message = self._callback.message

    def update(self, update_id: int, message_id: int) -> Update:
        kind, arg = WALK[self.step]
        if kind == "tap":
            return self._tap(update_id, arg)
        if kind == "text":
            message = self._text.model_copy(update={"message_id": message_id, "text": arg})
        elif kind == "location":
            message = self._location.model_copy(update={"message_id": message_id})
        else:
            message = self._contact.model_copy(update={"message_id": message_id})
        return self._update.model_copy(update={"update_id": update_id, "message": message})

    def _tap(self, update_id: int, label: str | None) -> Update:
        keyboard = self.chat.keyboard
        data, message_id, text = "x", 1, ""
        if keyboard is not None:  # the echo sends no keyboards: then any data will do
            message_id, text, rows = keyboard
            buttons = [b for row in rows for b in row]
            button = buttons[0] if label is None else next((b for b in buttons if label in b["text"]), None)
            if button is None:
                raise RuntimeError(f"customer {self.user_id}: no button {label!r} in {text!r}")
            data = button["callback_data"]
        message = self._bot_message.model_copy(update={"message_id": message_id, "text": text})
        callback = self._callback.model_copy(update={"id": str(update_id), "data": data, "message": message})
        return self._update.model_copy(update={"update_id": update_id, "message": None, "callback_query": callback})


# --- systems --------------------------------------------------------------------------


@dataclass
class System:
    name: str
    dp: AiogramDispatcher
    bot: Bot
    expected: list[int]  # sendMessage calls answering each step of WALK
    check_submit: bool = False
    close: Callable[[], Awaitable[None]] | None = None
    customers: list[Customer] = field(default_factory=list)
    submitted: int = 0
    bad_submits: int = 0

    @property
    def session(self) -> LocalSession:
        return self.bot.session  # type: ignore[return-value]

    async def step(self, customer: Customer, ids: itertools.count[int]) -> float:
        """Send the customer's next update; returns the seconds until its last answer arrived."""
        index = customer.step
        update = customer.update(next(ids), next(ids))
        chat = customer.chat
        chat.target = chat.sent + self.expected[index]
        future = chat.future = asyncio.get_running_loop().create_future()
        start = perf_counter()
        await self.dp.feed_update(self.bot, update)
        done = await future
        if index == SUBMIT_STEP:
            self.submitted += 1
            if self.check_submit and "is registered" not in chat.last_text:
                self.bad_submits += 1
        customer.step = (index + 1) % len(WALK)
        return done - start


def build_echo(customers: int, first_user: int) -> System:
    dp = AiogramDispatcher()

    async def on_message(message: Message) -> None:
        await message.answer(message.text or "echo")

    async def on_callback(callback: CallbackQuery, bot: Bot) -> None:
        await bot.send_message(callback.from_user.id, callback.data or "echo")

    dp.message.register(on_message)
    dp.callback_query.register(on_callback)
    bot = make_local_bot()
    system = System("echo", dp, bot, [1] * len(WALK))
    system.customers = [Customer(first_user + i, bot, system.session) for i in range(customers)]
    return system


async def empty_tables(engine: Any) -> None:
    """As tests/conftest.py: PostgreSQL's test database is shared, so start from empty tables."""
    from sqlalchemy import text

    from storage.models import Base

    if engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


async def build_pipeline(url: str, customers: int, first_user: int) -> System:
    from bot.channels.telegram import TelegramTransport, build_dispatcher
    from bot.company import load_company
    from bot.config import Settings
    from bot.core.dispatcher import Dispatcher
    from bot.outbox import OutboxSender
    from handlers.router import route
    from storage.db import checkpoints, create_engine

    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    engine = create_engine(url, background_checkpoints=True)
    await empty_tables(engine)
    company = load_company(settings)
    bot = make_local_bot()
    api = local_bot_api(bot)
    sender = OutboxSender(engine, [TelegramTransport(api)], {}, lease=settings.outbox_lease)  # no Limits
    core = Dispatcher(
        engine, company, route, outbox=sender,
        max_batch=settings.commit_max_batch, window=settings.commit_window,
    )
    dp = build_dispatcher(core, api)
    sender_task = asyncio.create_task(sender.run(), name="outbox")
    checkpoint_task = asyncio.create_task(checkpoints(url), name="checkpoints")

    async def close() -> None:
        sender_task.cancel()
        checkpoint_task.cancel()
        await asyncio.gather(sender_task, checkpoint_task, return_exceptions=True)
        await sender.close()
        await core.close()
        await engine.dispose()

    system = System("pipeline", dp, bot, [], check_submit=True, close=close)
    system.customers = [Customer(first_user + i, bot, system.session) for i in range(customers)]
    return system


async def calibrate(system: System, ids: itertools.count[int], user_id: int, show: bool, walks: int = 2) -> None:
    """Walk the form (twice) with one customer, waiting for quiet after each step: how many
    sendMessage calls answer each step (the pipeline's replies come from the outbox, later)."""
    customer = Customer(user_id, system.bot, system.session)
    chat = customer.chat
    counts: list[list[int]] = [[] for _ in range(walks)]
    for cycle in range(walks):
        for index, (kind, arg) in enumerate(WALK):
            before = chat.sent
            await system.dp.feed_update(system.bot, customer.update(next(ids), next(ids)))
            quiet_since, seen = perf_counter(), chat.sent
            while perf_counter() - quiet_since < 0.1 or chat.sent == before:
                await asyncio.sleep(0.01)
                if chat.sent != seen:
                    quiet_since, seen = perf_counter(), chat.sent
                if perf_counter() - quiet_since > 5:
                    raise RuntimeError(f"{system.name}: no answer to step {index} ({kind} {arg!r})")
            counts[cycle].append(chat.sent - before)
            if show and cycle == 0:
                print(f"  step {index:2} {kind} {arg or ''}: {chat.sent - before} message(s); last: "
                      f"{chat.last_text[:70]!r}".replace("\n", " "))
            customer.step = (index + 1) % len(WALK)
    if any(c != counts[0] for c in counts):
        raise RuntimeError(f"{system.name}: answers per step differ between walks: {counts}")
    if system.check_submit and "is registered" not in chat.last_text:
        raise RuntimeError(f"{system.name}: the walk did not end with a registered request: {chat.last_text!r}")
    system.expected = counts[-1]


async def greet_everyone(system: System, ids: itertools.count[int]) -> None:
    """One /start per customer, unmeasured: their identities exist before the phases begin."""
    for customer in system.customers:
        customer.step = 0
    await asyncio.gather(*(system.step(c, ids) for c in system.customers))


# --- phases ----------------------------------------------------------------------------


@dataclass
class Result:
    system: str
    phase: str
    updates: int
    seconds: float
    latencies: list[float]
    cpu: float
    stuck: int
    gc_max_ms: float
    offered: float = 0.0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class GcWatch:
    """The longest garbage-collection pause while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.longest = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = perf_counter()
        elif self.on:
            self.longest = max(self.longest, perf_counter() - self._start)


async def run_phase(system: System, phase: str, seconds: float, warmup: float, ids: itertools.count[int],
                    gcwatch: GcWatch, rate: float = 0.0, seed: int = 1) -> Result:
    """phase "closed": every customer sends again as soon as answered.
    phase "open": each customer sends at `rate` updates/s on average (exponential gaps)."""
    for customer in system.customers:
        customer.step = 0  # /start first
    window = [float("inf"), float("inf")]
    latencies: list[float] = []
    counted = 0
    stop = False
    rng = random.Random(seed)

    idle: set[asyncio.Task[None]] = set()  # customers thinking, not waiting for an answer

    async def one(customer: Customer) -> None:
        nonlocal counted
        due = perf_counter() + (rng.uniform(0, 1 / rate) if rate else 0.0)
        while not stop:
            if rate:
                wait = due - perf_counter()
                if wait > 0:
                    me = asyncio.current_task()
                    idle.add(me)  # type: ignore[arg-type]
                    await asyncio.sleep(wait)
                    idle.discard(me)  # type: ignore[arg-type]
                due += rng.expovariate(rate)  # open loop: the schedule does not wait for answers
            sent = perf_counter()
            latency = await system.step(customer, ids)
            if window[0] <= sent < window[1]:
                latencies.append(latency)
                counted += 1

    tasks = [asyncio.create_task(one(c)) for c in system.customers]
    await asyncio.sleep(warmup)
    gc.collect(1)
    gcwatch.on, gcwatch.longest = True, 0.0
    cpu0, window[0] = time.process_time(), perf_counter()
    await asyncio.sleep(seconds)
    window[1] = perf_counter()
    cpu = time.process_time() - cpu0
    gcwatch.on = False
    stop = True
    for task in idle:
        task.cancel()
    # Let in-flight steps finish; a step without an answer for STUCK_AFTER s is stuck.
    _done, pending = await asyncio.wait(tasks, timeout=STUCK_AFTER)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    if pending:  # let the stuck steps' answers arrive, so the next phase starts clean
        await asyncio.sleep(0.5)
    for customer in system.customers:
        customer.chat.future = None
    elapsed = window[1] - window[0]
    return Result(system.name, phase, counted, elapsed, latencies, cpu, len(pending), gcwatch.longest * 1000,
                  offered=rate * len(system.customers))


# --- report ---------------------------------------------------------------------------


def table(results: list[Result], customers: int) -> str:
    rows = [f"{'system':<9} {'phase':<22} {'updates/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'CPU us/upd':>10} {'gc max ms':>9} {'stuck':>5}"]
    for r in results:
        phase = "a closed loop" if r.phase == "closed" else f"b open {r.offered:.0f}/s offered"
        cpu = r.cpu / r.updates * 1e6 if r.updates else float("nan")
        rows.append(f"{r.system:<9} {phase:<22} {r.rate:>9.0f} {r.pct(0.50):>7.1f} {r.pct(0.99):>7.1f} "
                    f"{max(r.latencies, default=0) * 1000:>7.1f} {cpu:>10.0f} {r.gc_max_ms:>9.1f} {r.stuck:>5}")
    by = {(r.system, r.phase): r for r in results}
    echo, pipe, pipe_open = by.get(("echo", "closed")), by.get(("pipeline", "closed")), by.get(("pipeline", "open"))
    if echo and pipe:
        ratio = pipe.rate / echo.rate
        rows.append("")
        rows.append(f"pipeline/echo throughput: {ratio:.0%}   (target >= 35%: {'met' if ratio >= 0.35 else 'NOT met'})")
    if pipe_open:
        p99 = pipe_open.pct(0.99)
        rows.append(f"pipeline p99 at {customers} conversations, ~1 update/s each: {p99:.1f} ms   "
                    f"(target <= 25 ms: {'met' if p99 <= 25 else 'NOT met'})")
    return "\n".join(rows)


# --- main ------------------------------------------------------------------------------


def prepare_database(kind: str) -> tuple[str, str | None]:
    """A migrated store: a fresh SQLite file in a temp dir, or the PostgreSQL test database.
    Synchronous (alembic runs its own event loop), so called before ours starts."""
    from storage.db import upgrade

    if kind == "postgres":
        upgrade(POSTGRES_URL)
        return POSTGRES_URL, None
    tmp = tempfile.mkdtemp(prefix="bench-pipeline-")
    url = f"sqlite:///{tmp}/store.db"
    upgrade(url)
    return url, tmp


async def amain(args: argparse.Namespace, url: str) -> list[Result]:
    ids = itertools.count(1_000)
    echo = build_echo(args.customers, FIRST_USER)
    pipeline = await build_pipeline(url, args.customers, FIRST_USER)
    gcwatch = GcWatch()
    gc.callbacks.append(gcwatch)
    gc.collect()
    gc.freeze()  # as Service.start does after start-up
    try:
        if args.show_walk:
            print("pipeline, one customer's walk (answers per step):")
        await calibrate(echo, ids, FIRST_USER - 1, False, walks=1)
        await calibrate(pipeline, ids, FIRST_USER - 1, args.show_walk)
        print(f"sendMessage calls per step, pipeline: {pipeline.expected}", flush=True)
        for system in (echo, pipeline):
            await greet_everyone(system, ids)

        if args.profile:
            return [await profile(pipeline, args, ids, gcwatch)]

        results = []
        warm = args.warmup
        # Interleaved, so a change in the machine's background load hits both systems alike.
        for system in (echo, pipeline):
            print(f"{system.name}: closed loop, {args.customers} customers, {args.seconds:g} s ...", flush=True)
            results.append(await run_phase(system, "closed", args.seconds, warm, ids, gcwatch))
        for system in (echo, pipeline):
            print(f"{system.name}: open loop, {args.customers} customers at ~1 update/s, {args.seconds:g} s ...", flush=True)
            results.append(await run_phase(system, "open", args.seconds, warm, ids, gcwatch, rate=1.0))
        print(f"pipeline walks submitted: {pipeline.submitted}, without a registered request: {pipeline.bad_submits}; "
              f"Bot API calls: {dict(pipeline.session.calls)}")
        return results
    finally:
        gc.callbacks.remove(gcwatch)
        if pipeline.close:
            await pipeline.close()


async def profile(system: System, args: argparse.Namespace, ids: itertools.count[int], gcwatch: GcWatch) -> Result:
    """The pipeline's closed (or open) loop under a profiler; prints the top functions."""
    rate = 1.0 if args.profile_phase == "open" else None
    if args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        result = await run_phase(system, args.profile_phase, args.seconds, 0.0, ids, gcwatch, rate=rate)
        profiler.stop()
        out = args.profile_out or os.path.join(tempfile.gettempdir(), "bench-pipeline.pyinstrument.txt")
        with open(out, "w") as fh:
            fh.write(profiler.output_text(unicode=True, color=False, show_all=False))
        print(f"pyinstrument report: {out}")
        return result
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    result = await run_phase(system, args.profile_phase, args.seconds, 0.0, ids, gcwatch, rate=rate)
    profiler.disable()
    out = args.profile_out or os.path.join(tempfile.gettempdir(), "bench-pipeline.prof")
    profiler.dump_stats(out)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(45)
    print(f"cProfile data: {out} (python -m pstats {out})")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200, help="concurrent conversations (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase and system (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each phase (default 1)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--show-walk", action="store_true", help="print the pipeline's answers to one walk")
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument"], help="profile the pipeline's closed loop only")
    parser.add_argument("--profile-phase", choices=["closed", "open"], default="closed", help="the phase to profile")
    parser.add_argument("--profile-out", help="where to write the profile")
    args = parser.parse_args(argv)

    # As the service's CLI: INFO, without aiogram's line per update.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    started = _IMPORTED_AT
    load = os.getloadavg()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"store: {args.db}", flush=True)
    url, tmp = prepare_database(args.db)
    try:
        results = asyncio.run(amain(args, url))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(results, args.customers))
    print(f"\ntotal run time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
