"""aiogram (real session, polling loop and webhook handler) against tests.telegram_server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.telegram_server import FakeBotAPI

TOKEN = "123:ABC"
USER = 555
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]],
)


def make_bot(api: FakeBotAPI, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, webhook_retry_delay=0.05) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


def echo_dispatcher(seen: list[object] | None = None) -> Dispatcher:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        if seen is not None:
            seen.append(query)
        await query.answer("ok")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


@pytest.fixture
async def polling(api: FakeBotAPI, bot: Bot) -> AsyncIterator[list[object]]:
    seen: list[object] = []
    dp = echo_dispatcher(seen)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False),
    )
    await api.wait_until(lambda: any(m == "getUpdates" for m, _ in api.requests))
    yield seen
    await dp.stop_polling()
    await asyncio.wait_for(task, 5)


async def test_get_me(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (123, True, "test_bot", "Test Bot")
    assert api.requests == [("getMe", {})]


async def test_send_message_records_markup(api: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(USER, "Pick one", reply_markup=KEYBOARD)
    second = await bot.send_message(USER, "Second")
    assert isinstance(first, Message) and first.chat.id == USER and first.from_user.is_bot
    assert first.text == "Pick one" and first.reply_markup.model_dump() == KEYBOARD.model_dump()
    assert second.message_id > first.message_id and second.reply_markup is None
    assert api.sent[0]["method"] == "sendMessage" and api.sent[0]["chat_id"] == USER
    assert api.sent[0]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]],
    }
    assert [m["text"] for m in api.sent_to(USER)] == ["Pick one", "Second"]
    assert api.sent_to(999) == []


async def test_edit_message(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(USER, "v1", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text(
        text="v2", chat_id=USER, message_id=sent.message_id, reply_markup=KEYBOARD,
    )
    assert isinstance(edited, Message) and edited.text == "v2" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="v2", chat_id=USER, message_id=sent.message_id, reply_markup=KEYBOARD,
        )
    cleared = await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
    assert isinstance(cleared, Message) and cleared.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=USER, message_id=9999)
    assert [m["method"] for m in api.sent] == [
        "sendMessage", "editMessageText", "editMessageReplyMarkup",
    ]


async def test_polling_echo_and_offset_confirmation(api: FakeBotAPI, polling: list[object]) -> None:
    first = api.user_message(USER, "hello")
    await api.wait_for_sent(lambda m: m["text"] == "echo: hello")
    # aiogram confirms the update by polling again with offset = update_id + 1
    await api.wait_until(
        lambda: any(p.get("offset") == first["update_id"] + 1 for m, p in api.requests),
    )
    second = api.user_message(USER, "again")
    assert second["update_id"] == first["update_id"] + 1
    sent = await api.wait_for_sent(2)
    await asyncio.sleep(0.3)  # give a redelivery the chance to show up
    assert [m["text"] for m in api.sent] == ["echo: hello", "echo: again"]
    assert sent[0]["chat_id"] == USER and api.pending_updates == []


async def test_callback_query_parsed(api: FakeBotAPI, bot: Bot, polling: list[object]) -> None:
    question = await bot.send_message(USER, "Satisfied?", reply_markup=KEYBOARD)
    update = api.callback(USER, "yes", question.message_id)
    await api.wait_until(lambda: polling)
    query = polling[0]
    assert isinstance(query, CallbackQuery)
    assert query.id == update["callback_query"]["id"] and query.chat_instance
    assert query.data == "yes" and query.from_user.id == USER and not query.from_user.is_bot
    assert isinstance(query.message, Message) and query.message.text == "Satisfied?"
    assert query.message.message_id == question.message_id
    await api.wait_until(lambda: any(m == "answerCallbackQuery" for m, _ in api.requests))
    answer = next(p for m, p in api.requests if m == "answerCallbackQuery")
    assert answer["callback_query_id"] == query.id and answer["text"] == "ok"


async def test_long_polling_waits_and_wakes(api: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9
    asyncio.get_running_loop().call_later(0.2, api.user_message, USER, "late")
    started = time.monotonic()
    updates = await bot.get_updates(timeout=10)
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates] == ["late"]
    # not confirmed yet -> delivered again; confirmed with offset -> gone
    assert len(await bot.get_updates()) == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1) == []


async def test_duplicate_update_and_limit(api: FakeBotAPI, bot: Bot) -> None:
    update = api.user_message(USER, "dup")
    api.push_update(update)
    api.user_message(USER, "third")
    ids = [u.update_id for u in await bot.get_updates(limit=2)]
    assert ids == [update["update_id"], update["update_id"]]


@pytest.mark.parametrize("kind", ["photo", "document", "voice", "video"])
async def test_injected_media_is_valid(api: FakeBotAPI, bot: Bot, kind: str) -> None:
    raw = api.user_message(USER, "look", language_code="de", **{kind: True})
    message = Update.model_validate(raw).message
    assert message is not None and message.content_type == kind and message.caption == "look"
    assert message.from_user.language_code == "de" and message.chat.id == USER
    media = message.photo[-1] if kind == "photo" else getattr(message, kind)
    file = await bot.get_file(media.file_id)
    assert file.file_path
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == f"{kind} from {USER}".encode()


async def test_contact_and_location(api: FakeBotAPI) -> None:
    contact = Update.model_validate(api.user_message(USER, contact_phone="+4912345")).message
    location = Update.model_validate(api.user_message(USER, location=(52.5, 13.4))).message
    assert contact.contact.phone_number == "+4912345" and contact.contact.user_id == USER
    assert (location.location.latitude, location.location.longitude) == (52.5, 13.4)


async def test_send_uploaded_photo_and_chat_action(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.send_chat_action(USER, "typing") is True
    photo = BufferedInputFile(b"\x89PNG fake", filename="receipt.png")
    sent = await bot.send_photo(USER, photo, caption="Your receipt", reply_markup=KEYBOARD)
    assert sent.caption == "Your receipt" and sent.photo and sent.photo[-1].width == 800
    doc = await bot.send_document(USER, BufferedInputFile(b"%PDF", filename="manual.pdf"))
    assert doc.document.file_name == "manual.pdf"
    again = await bot.send_document(USER, doc.document.file_id)
    assert again.document.file_id == doc.document.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_voice(USER, "no-such-file")
    assert [m["method"] for m in api.sent] == ["sendPhoto", "sendDocument", "sendDocument"]
    assert api.sent[0]["caption"] == "Your receipt" and api.sent[0]["reply_markup"]


async def test_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 1, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER, "hi")
    assert info.value.retry_after == 3 and "retry after 3" in info.value.message
    assert (await bot.send_message(USER, "hi")).text == "hi"
    assert len(api.sent) == 1


async def test_blocked_chat(api: FakeBotAPI, bot: Bot) -> None:
    api.block_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    await bot.send_message(USER + 1, "other chat works")
    api.block_chat(USER, blocked=False)
    await bot.send_message(USER, "unblocked")
    assert [m["chat_id"] for m in api.sent] == [USER + 1, USER]


@pytest.mark.parametrize(("mode", "error"), [
    ("502", TelegramServerError), ("close", TelegramNetworkError),
])
async def test_outage(api: FakeBotAPI, bot: Bot, mode: str, error: type[Exception]) -> None:
    api.outage(True, mode=mode)
    with pytest.raises(error):
        await bot.send_message(USER, "hi")
    api.outage(False)
    assert (await bot.send_message(USER, "hi")).text == "hi"


async def test_unauthorized_and_unknown_method(api: FakeBotAPI) -> None:
    wrong = make_bot(api, token="999:XYZ")
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await wrong.session.close()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/bot{TOKEN}/noSuchMethod", json={}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False, "error_code": 404, "description": "Not Found: method not found",
            }


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


async def test_webhook_delivery(api: FakeBotAPI, bot: Bot) -> None:
    app = web.Application()
    SimpleRequestHandler(echo_dispatcher(), bot, secret_token="s3cret").register(app, "/webhook")
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url, secret_token="s3cret")
        info = await bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
        update = api.user_message(USER, "via webhook")
        await api.wait_for_sent(lambda m: m["text"] == "echo: via webhook")
        assert api.webhook_deliveries == [(update["update_id"], 200)]
        assert await bot.delete_webhook() is True
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates() == []
    finally:
        await runner.cleanup()


async def test_webhook_wrong_secret_is_rejected_and_retried(api: FakeBotAPI, bot: Bot) -> None:
    app = web.Application()
    SimpleRequestHandler(echo_dispatcher(), bot, secret_token="right").register(app, "/webhook")
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url, secret_token="wrong")
        update = api.user_message(USER, "hello")
        await api.wait_until(lambda: len(api.webhook_deliveries) == api.webhook_attempts)
        assert api.webhook_deliveries == [(update["update_id"], 401)] * api.webhook_attempts
        info = await bot.get_webhook_info()
        assert info.last_error_message and "401" in info.last_error_message
        assert api.sent == []
    finally:
        await runner.cleanup()


async def test_webhook_retries_until_success_and_runs_reply_method(api: FakeBotAPI, bot: Bot) -> None:
    calls: list[int] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        update = await request.json()
        calls.append(update["update_id"])
        if len(calls) == 1:
            return web.Response(status=500)
        # answer with a method call inside the webhook response, as aiogram can
        return web.json_response({"method": "sendMessage", "chat_id": USER, "text": "from reply"})

    app = web.Application()
    app.router.add_post("/webhook", flaky)
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url)
        update = api.user_message(USER, "hi")
        sent = await api.wait_for_sent(1)
        assert sent[0]["text"] == "from reply" and sent[0]["chat_id"] == USER
        assert api.webhook_deliveries == [(update["update_id"], 500), (update["update_id"], 200)]
    finally:
        await runner.cleanup()


async def test_webhook_reply_from_aiogram_handler(api: FakeBotAPI, bot: Bot) -> None:
    router = Router()

    @router.message()
    async def reply(message: Message) -> SendMessage:
        return message.answer("answered in webhook response", reply_markup=KEYBOARD)

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False).register(app, "/webhook")
    runner, url = await serve(app)
    try:
        api.user_message(USER, "stale")  # dropped by drop_pending_updates
        await bot.set_webhook(url, drop_pending_updates=True)
        update = api.user_message(USER, "hi")
        sent = await api.wait_for_sent(1)
        assert sent[0]["text"] == "answered in webhook response"
        assert sent[0]["reply_markup"] == {
            "inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]],
        }
        assert api.webhook_deliveries == [(update["update_id"], 200)]
    finally:
        await runner.cleanup()


async def test_webhook_connection_error_is_recorded(api: FakeBotAPI, bot: Bot) -> None:
    runner, url = await serve(web.Application())
    await runner.cleanup()  # nothing listens on that port any more
    await bot.set_webhook(url)
    api.user_message(USER, "hi")
    await api.wait_until(lambda: len(api.webhook_deliveries) == api.webhook_attempts)
    assert all(isinstance(result, str) for _, result in api.webhook_deliveries)
    assert api.pending_updates == []


async def test_wait_for_sent_times_out(api: FakeBotAPI) -> None:
    with pytest.raises(TimeoutError):
        await api.wait_for_sent(1, timeout=0.1)
