"""Telegram end to end: the real Service (aiogram's polling loop and webhook
handler, the outbox sender) against a Bot API test server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import Service
from bot.i18n import Translator, locale_names
from handlers.complaint import CATEGORIES, COMPLAINT
from handlers.menu import ENTRIES, GREETING
from handlers.repair import REPAIR
from storage.models import ChannelIdentity, Message, OutboxRow, Ticket
from storage.models import Customer as CustomerRow
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import USER, Customer, eventually, free_port, settings, settled

NUMBER = re.compile(r"R-\d{4}-\d{6}")


LANGUAGES = {"en": "en", "ru": "ru", "ka": "ka", "zh-hans": "zh_Hans", "zh-hant": "zh_Hant"}


async def each_language(walk: Callable[[str, int], Awaitable[None]]) -> None:
    """One customer per language, all at once: under the production limit of one
    message a second per chat, each chat waits only for itself."""
    await asyncio.gather(*(walk(language, USER + n) for n, language in enumerate(LANGUAGES)))


async def test_report_a_repair_in_every_language(service: Service, api: FakeBotAPI, engine: Any) -> None:
    async def walk(language: str, user: int) -> None:
        locale = LANGUAGES[language]
        t = Translator(locale, "Asia/Shanghai")
        customer = Customer(api, engine, user_id=user, language=language)
        assert t._(GREETING) in await customer.say("/start")
        def prompt(slot: str) -> str:
            return t._(REPAIR.slot(slot).prompt)

        assert prompt("product_line") in await customer.tap("🛠")
        assert prompt("model") in await customer.tap_first()
        assert prompt("serial") in await customer.tap_first()
        assert prompt("description") in await customer.say("HA2403000123")
        await customer.say("Water drips from the indoor unit")
        assert t.n("Received %(count)d file. Send more, or press Done.", "Received %(count)d files. Send more, or press Done.", 1) in await customer.say(photo=True)
        await customer.tap(t._("Done"))
        location_prompt = customer._sends()[-2]
        assert location_prompt["reply_markup"]["keyboard"][0][0]["request_location"] is True
        await customer.say(location=(41.7151, 44.8271))
        phone_prompt = customer._sends()[-2]
        assert phone_prompt["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        assert t._("Is everything correct?") in await customer.say(contact_phone="995555123456")
        answer = await customer.tap(t._("✅ Submit"))
        number = NUMBER.search(answer).group(0)
        assert t._("Thank you! Your repair request %(number)s is registered.", number=number) in answer
        # Pressed keyboards were closed by editing the message, showing the choice.
        edits = [s for s in api.sent_to(user) if s["method"] == "editMessageText"]
        assert edits and all("reply_markup" not in s["params"] for s in edits)
        async with engine.connect() as conn:
            ticket = (await conn.execute(select(Ticket.__table__).where(Ticket.locale == locale))).one()
        assert (ticket.number, ticket.locale, ticket.phone) == (number, locale, "+995555123456")
        assert ticket.details["attachments"][0]["kind"] == "photo"

    await each_language(walk)
    assert any(method == "answerCallbackQuery" for method, _params in api.requests)


async def test_complaint_tickets_a_person_and_language_in_every_language(service: Service, api: FakeBotAPI, engine: Any) -> None:
    async def walk(language: str, user: int) -> None:
        t = Translator(LANGUAGES[language], "Asia/Shanghai")
        customer = Customer(api, engine, user_id=user, language=language)
        await customer.say("/start")
        # File a complaint about a late visit.
        assert t._(COMPLAINT.slot("category").prompt) in await customer.tap(t._(ENTRIES["complaint"]))
        assert t._(COMPLAINT.slot("description").prompt) in await customer.tap(t._(CATEGORIES["late_visit"]))
        assert t._(COMPLAINT.slot("related").prompt) in await customer.say("Nobody came on Monday")
        await customer.tap(t._("Skip"))
        answer = await customer.tap(t._("✅ Submit"))
        number = re.search(r"C-\d{4}-\d{6}", answer).group(0)
        assert t._("Your complaint %(number)s is registered and has gone to our service team.", number=number) in answer
        # My tickets lists it with its status in the customer's language.
        listed = await customer.tap(t._(ENTRIES["tickets"]))
        assert t.n("Your ticket:", "Your latest %(count)d tickets:", 1) in listed and number in listed
        # Talk to a person: the complaint just filed is already waiting for one (issue 11).
        answer = await customer.tap(t._(ENTRIES["person"]))
        assert t._("You are already waiting for a person with request %(number)s. They will answer in this chat.", number=number) in answer
        # /language: the choice is kept on the customer and the bot speaks it at once.
        assert t._("Choose your language:") in await customer.say("/language")
        other = "ru" if language != "ru" else "ka"
        done = await customer.tap(locale_names()[other])
        assert Translator(other, "Asia/Shanghai")._("Done: I will write to you in English from now on.") in done
        async with engine.connect() as conn:
            customer_id = await conn.scalar(
                select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == str(user))
            )
            rows = (await conn.execute(
                select(Ticket.kind, Ticket.status, Ticket.locale).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
            )).all()
            chosen = await conn.scalar(select(CustomerRow.locale).where(CustomerRow.id == customer_id))
        assert [tuple(r) for r in rows] == [("complaint", "queued", LANGUAGES[language])]
        assert chosen == other

    await each_language(walk)


async def test_an_update_delivered_again_after_a_restart_is_processed_once(db_url: str, engine: Any, api: FakeBotAPI) -> None:
    # Polling confirms an update only with the next getUpdates. If that never reaches
    # Telegram (here: it fails) and the bot restarts, Telegram delivers the same update again.
    customer = Customer(api, engine)
    first = Service(settings(db_url, api))
    await first.start()
    await api.wait_until(lambda: any(m == "getUpdates" for m, _ in api.requests))  # a long poll is waiting
    api.fail_next("getUpdates", 1000, status=502)  # every later poll, the confirming one included
    api.user_message(USER, "/start")
    await customer._answer(confirmed=False)
    await first.stop()
    api.clear_faults()
    assert [u["message"]["text"] for u in api.pending_updates] == ["/start"]  # never confirmed
    second = Service(settings(db_url, api))
    await second.start()
    try:
        await api.wait_until(lambda: not api.pending_updates, timeout=10)  # delivered again, then confirmed
        await customer.say("/menu")
        async with engine.connect() as conn:
            inbound = await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        assert inbound == 2
        assert len(customer._sends()) == 2  # no second greeting
    finally:
        await second.stop()


async def test_bad_input_and_every_kind_of_file_over_telegram(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    assert "I do not know the command /frobnicate" in await customer.say("/frobnicate@test_bot")
    await customer.tap("Report a repair")
    assert "choose the product" in await customer.say("banana")  # text where a choice is expected
    await customer.tap("Household")
    assert "Please answer this question with text." in await customer.say("caption", photo=True)  # a photo at a choice
    await customer.tap_first()
    assert "two letters and ten digits" in await customer.say("12345")  # a serial in the wrong format
    assert "month" in await customer.say("HA2413000123")
    await customer.say("HA2403000123")
    assert "Please answer this question with text." in await customer.say(photo=True)  # a photo where text is expected
    assert "too long" in await customer.say("x" * 2500)
    await customer.say("It rattles and drips")
    for kind in ("photo", "document", "voice", "video"):
        await customer.say(**{kind: True})
    await customer.tap("Done")
    await customer.say(location=(31.2304, 121.4737))
    assert "valid phone number" in await customer.say("12345")  # an invalid phone number
    await customer.say("+86 138 0013 8000")
    assert NUMBER.search(await customer.tap("Submit"))
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.__table__))).one()
    assert [a["kind"] for a in ticket.details["attachments"]] == ["photo", "document", "voice", "video"]
    assert {a["ref"] for a in ticket.details["attachments"]} <= set(api.files)  # references to Telegram's files
    assert ticket.description == "It rattles and drips" and ticket.phone == "+8613800138000"


async def test_callback_from_an_old_keyboard(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    await customer.say("/start")
    await customer.tap("Report a repair")
    first_prompt = customer._sends()[-1]
    await customer.tap("Household")
    button = first_prompt["reply_markup"]["inline_keyboard"][2][0]
    customer.last_update = api.callback(USER, button["callback_data"], first_prompt["message_id"])["update_id"]
    assert "earlier question" in "\n".join(s["text"] for s in await customer._answer())


async def test_bot_api_outage_during_sending_is_delivered_after_recovery(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    api.fail_next("sendMessage", 1, status=502, description="Bad Gateway")
    api.user_message(USER, "/start")
    answer = await api.wait_until(lambda: customer._sends(), timeout=15)  # after a back-off of about 2 s
    assert "service assistant" in answer[0]["text"]
    async def outbox_row() -> tuple[str, int]:
        async with engine.connect() as conn:
            return tuple((await conn.execute(select(OutboxRow.status, OutboxRow.attempts))).one())

    assert await eventually(outbox_row, ("sent", 2))


async def test_flood_control_retry_after_is_honoured(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    api.fail_next("sendMessage", 1, status=429, retry_after=2)
    api.user_message(USER, "/start")
    clock = asyncio.get_running_loop().time
    await api.wait_until(lambda: any(m == "sendMessage" for m, _p in api.requests), timeout=10)
    refused_at = clock()  # the first attempt: answered 429, retry_after 2
    sent = await api.wait_until(lambda: customer._sends(), timeout=10)
    assert clock() - refused_at >= 1.9  # not before Telegram said
    failed_at = next(i for i, (m, _p) in enumerate(api.requests) if m == "sendMessage")
    assert sent and len([m for m, _p in api.requests[failed_at:] if m == "sendMessage"]) == 2


async def test_a_customer_who_blocked_the_bot_does_not_hold_up_others(service: Service, api: FakeBotAPI, engine: Any) -> None:
    api.block_chat(USER)
    api.user_message(USER, "/start")
    other = Customer(api, engine, user_id=777)
    assert "service assistant" in await other.say("/start")
    async def marked() -> bool:
        async with engine.connect() as conn:
            query = select(ChannelIdentity.unreachable_at).where(ChannelIdentity.external_id == str(USER))
            return await conn.scalar(query) is not None

    assert await eventually(marked, True)


async def test_long_texts_are_split_at_the_telegram_limit(service: Service, api: FakeBotAPI) -> None:
    from bot.channels.telegram import BotAPI, TelegramTransport
    from bot.core.events import Choice, Reply

    transport = TelegramTransport(BotAPI(service.bot))
    paragraph = "Lorem ipsum dolor sit amet " * 40  # ~1,100 characters
    text = "\n\n".join([paragraph] * 8)  # ~8,800 characters
    await transport.deliver(str(USER), Reply(text, (Choice("x:1", "OK"),)), 1)
    parts = [s for s in api.sent_to(USER) if s["method"] == "sendMessage"]
    assert len(parts) == 3 and all(len(p["text"]) <= 4096 for p in parts)
    assert [bool(p["reply_markup"]) for p in parts] == [False, False, True]  # keyboard on the last part
    assert " ".join(p["text"] for p in parts).split() == text.split()  # nothing lost at the cuts


async def test_a_long_reply_cut_short_by_an_error_goes_on_from_where_it_stopped(service: Service, api: FakeBotAPI) -> None:
    from bot.channels.telegram import BotAPI, TelegramTransport
    from bot.core.events import Reply
    from bot.outbox import Temporary

    transport = TelegramTransport(BotAPI(service.bot))
    text = "\n\n".join(f"Part {n}: " + "word " * 700 for n in range(3))  # three messages
    api.fail_next("sendMessage", 1, status=502, after=1)  # the first part goes out, the second fails
    with pytest.raises(Temporary):
        await transport.deliver(str(USER), Reply(text), 7)
    await transport.deliver(str(USER), Reply(text), 7)  # the outbox's retry of row 7
    parts = [s["text"] for s in api.sent_to(USER) if s["method"] == "sendMessage"]
    assert [p.split(":")[0] for p in parts] == ["Part 0", "Part 1", "Part 2"]  # each once


async def test_a_reply_whose_answer_was_lost_is_not_sent_again(service: Service, api: FakeBotAPI, engine: Any) -> None:
    customer = Customer(api, engine)
    api.lose_answer_next("sendMessage")  # Telegram sends it, the bot never hears back
    api.user_message(USER, "/start")
    async def statuses() -> list[str]:
        async with engine.connect() as conn:
            return list(await conn.scalars(select(OutboxRow.status).order_by(OutboxRow.id)))

    assert await eventually(statuses, ["uncertain"])
    assert len(customer._sends()) == 1  # the greeting, once
    customer.seen = 1
    assert "How can I help" in await customer.say("/menu")  # the chat goes on, once everything is out
    assert len(customer._sends()) == 2  # still one greeting
    assert await eventually(statuses, ["uncertain", "sent"])


SECRET = "s3cret-token-of-at-least-32-chars_OK"


async def test_webhook_with_secret(db_url: str, engine: Any, api: FakeBotAPI) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    running = Service(settings(db_url, api, port=port, webhook_url=url, webhook_secret=SECRET))
    await running.start()
    try:
        await api.wait_until(lambda: api.webhook.get("url") == url)
        customer = Customer(api, engine)
        assert "service assistant" in await customer.say("/start")
        update = {"update_id": 99999, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                                  "from": {"id": 5, "is_bot": False, "first_name": "X"}, "text": "hi"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 401
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, data="{not json", headers=good) as response:
                assert response.status == 400
            async with http.post(url, data=json.dumps({"update_id": "x", "message": 5}), headers=good) as response:
                assert response.status == 400
            genuine = dict(update, update_id=99998, message=dict(update["message"], text="/start"))
            for _ in range(2):  # Telegram retries a delivery it thinks failed: same update_id
                async with http.post(url, json=genuine, headers=good) as response:
                    assert response.status == 200
        await api.wait_until(lambda: api.sent_to(5), timeout=10)
        await settled(engine, 5)
        async with engine.connect() as conn:
            inbound = await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        assert inbound == 2  # the customer's /start and one copy of the retried update
        assert len([s for s in api.sent_to(5) if s["method"] == "sendMessage"]) == 1
    finally:
        await running.stop()


async def test_workers_without_a_webhook_secret_agree_on_one(db_url: str, engine: Any, api: FakeBotAPI) -> None:
    """Regression (issue 8, item 5): each worker invented its own random secret, so only
    the last one to call setWebhook accepted Telegram's calls."""
    url = "http://127.0.0.1:9/telegram/webhook"
    workers = [Service(settings(db_url, api, webhook_url=url)) for _ in range(2)]
    secrets = {worker.webhook_secret for worker in workers}
    for worker in workers:
        await worker.engine.dispose()
    assert len(secrets) == 1
    secret = secrets.pop()
    assert secret and len(secret) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert secret != Service(settings(db_url, FakeBotAPI(token="999:OTHER"), webhook_url=url)).webhook_secret


@pytest.mark.parametrize("weak", ["s3cret-token", "x" * 31, "a" * 40 + "!", "ä" * 40, "y" * 257])
def test_a_weak_webhook_secret_stops_the_start(weak: str, tmp_path: Any) -> None:
    from bot.app import ConfigError

    api = FakeBotAPI()
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be 32 to 256 characters"):
        Service(settings(f"sqlite:///{tmp_path}/x.db", api, webhook_url="http://127.0.0.1:9/hook", webhook_secret=weak))
