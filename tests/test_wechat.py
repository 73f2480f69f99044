"""The WeChat channel end to end: the real Service's endpoint, pushed to as
WeChat pushes (signed, in safe mode encrypted), and the API double."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from wechatpy.replies import TextReply

from bot.app import Service
from bot.channels.wechat import parse_xml, render, sign, to_event, xml_safe
from bot.channels.wechat_menu import menu
from bot.config import Settings
from bot.core.events import Choice, Kind, Reply
from bot.i18n import Translator
from handlers.complaint import CATEGORIES, COMPLAINT
from handlers.menu import ENTRIES, GREETING
from handlers.repair import REPAIR
from storage.models import ChannelIdentity, Conversation, Customer, Message, Ticket
from tests.test_flow_warranty import PHONE, register
from tests.wechat_server import ACCOUNT, AES_KEY, APP_ID, SECRET, TOKEN, Answer, WeChatAPI, WeChatPusher, xml

LANGUAGES = {"zh_Hans": "zh_CN", "zh_Hant": "zh_TW", "en": "en"}


@pytest.fixture
async def api() -> AsyncIterator[WeChatAPI]:
    double = WeChatAPI()
    await double.start()
    yield double
    await double.stop()


def settings(db_url: str, api: WeChatAPI, safe: bool = True, media: Any = None) -> Settings:
    return Settings(
        database_url=db_url, port=0, telegram_bot_token=None, wechat_token=TOKEN, wechat_app_id=APP_ID,
        wechat_app_secret=SECRET, wechat_aes_key=AES_KEY if safe else None, wechat_account=ACCOUNT,
        wechat_api_base=api.base, **({"media_dir": media} if media else {}),
    )


@pytest.fixture
async def service(db_url: str, engine: Any, api: WeChatAPI, tmp_path: Any) -> AsyncIterator[Service]:
    running = Service(settings(db_url, api, media=tmp_path / "media"))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def pusher(service: Service) -> AsyncIterator[WeChatPusher]:
    client = WeChatPusher(f"http://127.0.0.1:{service.port}/wechat")
    yield client
    await client.close()


class Follower:
    """A customer writing to the Official Account."""

    def __init__(self, pusher: WeChatPusher, openid: str = "oCustomer_0001") -> None:
        self.pusher = pusher
        self.openid = openid
        self.answers: list[Answer] = []

    def fields(self, **values: Any) -> dict[str, Any]:
        return {"ToUserName": ACCOUNT, "FromUserName": self.openid, "CreateTime": int(time.time()), **values}

    async def send(self, **values: Any) -> str:
        answer = await self.pusher.push(self.fields(**values))
        assert answer.status == 200, answer.body
        self.answers.append(answer)
        return answer.text

    async def say(self, text: str) -> str:
        return await self.send(MsgType="text", Content=text, MsgId=self.pusher.next_msg_id())

    async def tap(self, label: str) -> str:
        """Answer the latest numbered list with the number of `label`."""
        for answer in reversed(self.answers):
            for line in reversed(answer.text.splitlines()):
                found = re.match(r"^(\d+)\. (.*)$", line)
                if found and label in found.group(2):
                    return await self.say(found.group(1))
        raise AssertionError(f"no choice {label!r}")


async def inbound(engine: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0)


# --- server verification and the protocol --------------------------------------


async def test_the_server_check_echoes_only_a_valid_signature(service: Service, pusher: WeChatPusher) -> None:
    timestamp, nonce = str(int(time.time())), "n1"
    good = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "echostr": "e123"}
    async with pusher.http.get(pusher.url, params=good) as response:
        assert (response.status, await response.text()) == (200, "e123")
    for params in ({**good, "nonce": "n2", "signature": "0" * 40}, {k: v for k, v in good.items() if k != "signature"}):
        async with pusher.http.get(pusher.url, params=params) as response:
            assert response.status == 403 and "e123" not in await response.text()


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_report_a_repair_through_the_encrypted_endpoint(
    pusher: WeChatPusher, api: WeChatAPI, engine: Any, language: str
) -> None:
    api.languages["oCustomer_0001"] = LANGUAGES[language]
    t = Translator(language, "Asia/Shanghai")
    follower = Follower(pusher)
    assert t._(GREETING) in await follower.send(MsgType="event", Event="subscribe", EventKey="qrscene_42")
    assert t._(REPAIR.slot("product_line").prompt) in await follower.tap(t._(ENTRIES["repair"]))
    assert t._(REPAIR.slot("model").prompt) in await follower.say("1")
    assert t._(REPAIR.slot("serial").prompt) in await follower.say("1")
    assert t._(REPAIR.slot("description").prompt) in await follower.say("HA2403000123")
    await follower.say("Water drips from the indoor unit")
    assert t._(REPAIR.slot("place").prompt) in await follower.tap(t._("Skip"))
    located = await follower.send(
        MsgType="location", Location_X="31.2304", Location_Y="121.4737", Scale=15, Label="Shanghai",
        MsgId=pusher.next_msg_id(),
    )
    assert t._(REPAIR.slot("phone").prompt) in located
    assert t._("Is everything correct?") in await follower.say("+86 138 0013 8000")
    answer = await follower.tap(t._("✅ Submit"))
    number = re.search(r"R-\d{4}-\d{6}", answer)
    assert number and t._("Thank you! Your repair request %(number)s is registered.", number=number.group(0)) in answer
    # The engineer's windows come as a numbered list: "1" books the first (bot/core/numbered.py).
    booked = await follower.say("1")
    assert t._("I will remind you the day before and an hour before. To change or cancel it, choose “Book a visit” in the menu.") in booked
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.kind, Ticket.locale, Ticket.phone, Ticket.serial))).one()
    assert tuple(ticket) == ("repair", language, "+8613800138000", "HA2403000123")
    assert api.sent == []  # every answer came back as the passive reply


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_a_complaint_my_tickets_and_a_person(pusher: WeChatPusher, api: WeChatAPI, engine: Any, language: str) -> None:
    api.languages["oCustomer_0001"] = LANGUAGES[language]
    t = Translator(language, "Asia/Shanghai")
    follower = Follower(pusher)
    await follower.say("/start")
    # A menu item of the custom menu arrives as a CLICK event with the entry's choice id.
    assert t._(COMPLAINT.slot("category").prompt) in await follower.send(MsgType="event", Event="CLICK", EventKey="menu:complaint")
    await follower.tap(t._(CATEGORIES["repair_quality"]))
    await follower.say("The same fault came back after two days")
    await follower.tap(t._("Skip"))
    answer = await follower.tap(t._("✅ Submit"))
    number = re.search(r"C-\d{4}-\d{6}", answer)
    assert number and number.group(0) in await follower.send(MsgType="event", Event="CLICK", EventKey="menu:tickets")
    # A person: the complaint just filed is already waiting for one (issue 11).
    waiting = await follower.send(MsgType="event", Event="CLICK", EventKey="menu:person")
    assert t._("You are already waiting for a person with request %(number)s. They will answer in this chat.", number=number.group(0)) in waiting
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(Ticket.kind, Ticket.status, Ticket.locale))).all()
    assert sorted(kinds) == [("complaint", "queued", language)]


async def test_a_digit_answers_the_list_offered_before_a_restart(
    db_url: str, engine: Any, api: WeChatAPI
) -> None:
    """The offered choices live in the store: another process understands "1"."""
    for text in ("/start", "1"):
        running = Service(settings(db_url, api))
        await running.start()
        client = WeChatPusher(f"http://127.0.0.1:{running.port}/wechat")
        try:
            answer = await Follower(client).say(text)
        finally:
            await client.close()
            await running.stop()
    t = Translator("zh_Hans", "Asia/Shanghai")
    assert t._(REPAIR.slot("product_line").prompt) in answer


async def test_plain_mode(db_url: str, engine: Any, api: WeChatAPI) -> None:
    running = Service(settings(db_url, api, safe=False))
    await running.start()
    client = WeChatPusher(f"http://127.0.0.1:{running.port}/wechat", safe=False)
    try:
        follower = Follower(client)
        text = await follower.say("/start")
        reply = follower.answers[-1].fields
        assert Translator("zh_Hans", "Asia/Shanghai")._(GREETING) in text and "\n1. " in text
        assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == ("oCustomer_0001", ACCOUNT, "text")
    finally:
        await client.close()
        await running.stop()


# --- retries ---------------------------------------------------------------------


async def test_a_retried_push_is_processed_once_and_gets_the_same_answer(pusher: WeChatPusher, engine: Any) -> None:
    follower = Follower(pusher)
    fields = follower.fields(MsgType="text", Content="/start", MsgId=pusher.next_msg_id())
    first = await pusher.push(fields)
    again = await pusher.push(fields)  # WeChat's retry: the same MsgId, a new timestamp and nonce
    assert first.status == again.status == 200 and first.text and again.text == first.text
    assert await inbound(engine) == 1


async def test_a_slow_turn_answers_success_and_the_replies_follow_as_messages(
    service: Service, pusher: WeChatPusher, api: WeChatAPI, engine: Any
) -> None:
    assert service.wechat is not None
    service.wechat._budget = 0.0  # every turn is "too slow" for the passive reply
    answer = await pusher.push(Follower(pusher).fields(MsgType="text", Content="/start", MsgId=pusher.next_msg_id()))
    assert (answer.status, answer.body) == (200, "success")
    sent = await api.wait_sent(1)
    greeting = Translator("zh_Hans", "Asia/Shanghai")._(GREETING)
    assert sent[0]["touser"] == "oCustomer_0001" and greeting in sent[0]["text"]["content"]
    assert "1. " in sent[0]["text"]["content"]


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 60
AMR = b"#!AMR\n" + b"\x3c" * 60


async def test_kinds_of_push(service: Service, pusher: WeChatPusher, api: WeChatAPI, engine: Any) -> None:
    follower = Follower(pusher)
    assert await follower.send(MsgType="event", Event="unsubscribe") == ""  # nothing to answer
    assert await follower.send(MsgType="event", Event="VIEW", EventKey="https://example.com/") == ""
    assert await follower.send(MsgType="event", Event="LOCATION", Latitude="31.2", Longitude="121.4", Precision="30") == ""
    assert await follower.send(MsgType="miniprogrampage", Title="x", MsgId=pusher.next_msg_id()) == ""
    assert await inbound(engine) == 0
    voice = await follower.send(
        MsgType="voice", MediaId=api.add_media(AMR, "audio/amr"), Format="amr", Recognition="我要报修",
        MsgId=pusher.next_msg_id(),
    )
    assert voice
    photo = api.add_media(JPEG, "image/jpeg")
    await follower.send(MsgType="image", PicUrl="http://127.0.0.1/p.jpg", MediaId=photo, MsgId=pusher.next_msg_id())
    await follower.send(MsgType="video", MediaId=api.add_media(MP4, "video/mp4"), ThumbMediaId="t", MsgId=pusher.next_msg_id())
    # Not what WeChat says it is (a "photo" that is HTML), and one WeChat no longer has: WeChat's id is kept.
    await follower.send(MsgType="image", MediaId=api.add_media(b"<html>", "image/jpeg"), MsgId=pusher.next_msg_id())
    await follower.send(MsgType="image", MediaId="expired", MsgId=pusher.next_msg_id())
    await follower.send(MsgType="link", Title="Manual", Description="", Url="https://example.com/m", MsgId=pusher.next_msg_id())
    async with engine.connect() as conn:
        texts = (await conn.execute(select(Message.text, Message.attachments).where(Message.direction == "in")
                                    .order_by(Message.id))).all()
    assert [row[0] for row in texts] == ["我要报修", "", "", "", "", "Manual\nhttps://example.com/m"]
    files = [row[1][0] for row in texts[:5]]
    assert [(f["kind"], f["mime"]) for f in files[:3]] == [("voice", "audio/amr"), ("photo", "image/jpeg"), ("video", "video/mp4")]
    # Kept in the media store like other channels' files (WeChat keeps them only 3 days).
    assert [await service.media.read(f["ref"]) for f in files[:3]] == [AMR, JPEG, MP4]
    assert files[3]["ref"] == "wechat:media0004" and files[4]["ref"] == "wechat:expired"


# --- bad input: the right 4xx, never a 500, nothing stored ---------------------------


def _text(openid: str = "oCustomer_0001", to: str = ACCOUNT, content: str = "hello") -> str:
    return xml({"ToUserName": to, "FromUserName": openid, "CreateTime": int(time.time()), "MsgType": "text",
                "Content": content, "MsgId": 7})


def _bad(pusher: WeChatPusher, case: str) -> tuple[dict[str, str], str | bytes, int]:
    """(query, body, expected status) of one bad push."""
    params, body = pusher.query(_text())
    if case == "forged signature":
        return {**params, "signature": sign("another token", params["timestamp"], params["nonce"])}, body, 403
    if case == "no signature":
        return {k: v for k, v in params.items() if k != "signature"}, body, 403
    if case == "stale timestamp":
        stamp = str(int(time.time()) - 301)
        return {**params, "timestamp": stamp, "signature": sign(TOKEN, stamp, params["nonce"])}, body, 403
    if case == "bad msg_signature":
        return {**params, "msg_signature": "0" * 40}, body, 403
    if case == "plain push in safe mode":
        plain = {k: v for k, v in params.items() if k not in ("encrypt_type", "msg_signature")}
        return plain, _text(), 403
    if case == "another app id":
        other = WeChatPusher(pusher.url, app_id="wxffffffffffffffff")
        params, body = other.query(_text())
        return params, body, 403
    if case == "too large":
        return params, _text(content="x" * 70_000), 413
    encrypted = {
        "DOCTYPE": '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                   "<xml><Content>&b;</Content></xml>",
        "external entity": '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
        "malformed": "<xml><ToUserName>gh_0123456789ab</ToUserName><Content>unclosed</xml>",
        "another account": _text(to="gh_someoneelse"),
        "nested tag": _text().replace("<Content><![CDATA[hello]]></Content>", "<Content><b>hello</b></Content>"),
        "bad FromUserName": _text(openid="o'; DROP TABLE--"),
        "not xml root": "<html><ToUserName>x</ToUserName></html>",
    }[case]
    params, body = pusher.query(encrypted)
    return params, body, 400


BAD = [
    "forged signature", "no signature", "stale timestamp", "bad msg_signature", "plain push in safe mode",
    "another app id", "too large", "DOCTYPE", "external entity", "malformed", "another account", "nested tag",
    "bad FromUserName", "not xml root",
]


@pytest.mark.parametrize("case", BAD)
async def test_a_bad_push_is_refused_and_changes_nothing(pusher: WeChatPusher, engine: Any, case: str) -> None:
    params, body, status = _bad(pusher, case)
    answer = await pusher.post(params, body)
    assert answer.status == status, answer.body
    assert await inbound(engine) == 0


async def test_a_repeated_nonce_is_refused(pusher: WeChatPusher, engine: Any) -> None:
    params, body = pusher.query(_text())
    assert (await pusher.post(params, body)).status == 200
    assert (await pusher.post(params, body)).status == 403
    assert await inbound(engine) == 1


def test_reply_text_cannot_break_the_reply_xml() -> None:
    text = "a ]]> b \x00\x01\x1b c <x/> &amp;"
    rendered = TextReply(source=ACCOUNT, target="o1", content=xml_safe(text)).render()
    assert parse_xml(rendered)["Content"] == "a ]]> b  c <x/> &amp;"
    broken = TextReply(source=ACCOUNT, target="o1", content=text).render()  # without the guard
    with pytest.raises(Exception):  # noqa: B017 - any parse error
        parse_xml(broken)


def test_choices_are_a_numbered_list() -> None:
    reply = Reply("Pick one:", (Choice("a", "Apple"), Choice("b", "Pear")))
    assert render(reply) == "Pick one:\n1. Apple\n2. Pear"


async def test_the_menu_command_creates_the_custom_menu(api: WeChatAPI, sqlite_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": sqlite_url, "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID,
           "WECHAT_APP_SECRET": SECRET, "WECHAT_API_BASE": api.base}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "wechat", "menu", "--locale", "zh_Hans", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    (created,) = api.menus
    t = Translator("zh_Hans", "Asia/Shanghai")
    assert [button["name"] for button in created["button"]] == ["售后服务", "意见反馈", "帮助"]
    items = [item for button in created["button"] for item in button["sub_button"]]
    assert {item["key"] for item in items} == {f"menu:{entry}" for entry in ENTRIES}
    assert all(item["type"] == "click" and item["name"] == t._(ENTRIES[item["key"][5:]]) for item in items)
    assert "售后服务" in out.decode()


def test_menu_labels_must_fit_wechats_limits() -> None:
    for locale in ("zh_Hans", "zh_Hant", "en", "ru"):
        body = menu(locale)
        assert len(body["button"]) <= 3 and all(len(b["sub_button"]) <= 5 for b in body["button"])
    with pytest.raises(ValueError, match="16 bytes"):
        menu("ka")  # Georgian words are longer than a top-level button allows


async def test_a_reply_outside_the_window_waits_and_goes_when_the_customer_writes(
    service: Service, pusher: WeChatPusher, api: WeChatAPI, engine: Any
) -> None:
    assert service.wechat is not None
    service.wechat._budget = 0.0  # the replies go as customer-service messages
    api.errcode = 45015  # WeChat: more than 48 hours since the customer wrote
    follower = Follower(pusher)
    await follower.say("/start")
    async with asyncio.timeout(10):
        while not (rows := (await _outbox(engine))) or rows[0][1] is None:
            await asyncio.sleep(0.02)  # the sender is about to record the refusal
    assert [(status, "45015" in error) for status, error in rows] == [("pending", True)]  # waiting, with the reason
    api.errcode = 0
    await follower.say("hello")  # the window opens again
    sent = await api.wait_sent(2)
    greeting = Translator("zh_Hans", "Asia/Shanghai")._(GREETING)
    assert any(greeting in message["text"]["content"] for message in sent)  # the one that waited went too


async def _outbox(engine: Any) -> list[tuple[str, str | None]]:
    from storage.models import OutboxRow

    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(select(OutboxRow.status, OutboxRow.error).order_by(OutboxRow.id))).all()]


async def test_choices_as_wechats_menu_message_where_the_account_may_send_it(
    db_url: str, engine: Any, api: WeChatAPI, tmp_path: Any,
) -> None:
    running = Service(settings(db_url, api, media=tmp_path / "media").model_copy(update={"wechat_menu_messages": True}))
    await running.start()
    pusher = WeChatPusher(f"http://127.0.0.1:{running.port}/wechat", api=api)
    try:
        t = Translator("zh_Hans", "Asia/Shanghai")
        follower = Follower(pusher)
        assert await follower.say("/start") == ""  # a menu message is a customer-service message, not the passive reply
        (menu_message,) = await api.wait_sent(1)
        assert menu_message["msgtype"] == "msgmenu" and t._(GREETING) in menu_message["msgmenu"]["head_content"]
        items = {item["content"]: item["id"] for item in menu_message["msgmenu"]["list"]}
        label = t._(ENTRIES["repair"])
        # The tap comes back as a text push carrying the item's id.
        assert await follower.send(MsgType="text", Content=label, bizmsgmenuid=items[label], MsgId=pusher.next_msg_id()) == ""
        second = (await api.wait_sent(2))[1]
        assert second["msgtype"] == "msgmenu" and t._(REPAIR.slot("product_line").prompt) in second["msgmenu"]["head_content"]
        async with engine.connect() as conn:
            state = await conn.scalar(select(Conversation.state))
        assert state and "repair" in state
    finally:
        await pusher.close()
        await running.stop()


def test_a_tap_on_a_menu_message_is_the_choice_it_offered() -> None:
    fields = {"ToUserName": ACCOUNT, "FromUserName": "o1", "CreateTime": "1", "MsgType": "text",
              "Content": "满意", "MsgId": "5", "bizmsgmenuid": "survey:5"}
    event = to_event(fields)
    assert event is not None and (event.kind, event.choice) == (Kind.CHOICE, "survey:5")


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_check_the_warranty(pusher: WeChatPusher, api: WeChatAPI, engine: Any, language: str) -> None:
    api.languages["oCustomer_0001"] = LANGUAGES[language]
    t = Translator(language, "Asia/Shanghai")
    await register(engine, "HA2403000123", "household_ac", "KFR-35GW", date.today() - timedelta(days=400))
    follower = Follower(pusher)
    await follower.say("/start")
    await follower.send(MsgType="event", Event="CLICK", EventKey="menu:warranty")
    await follower.say("HA2403000123")  # asked for the phone given at purchase: WeChat shares no contact, it is typed
    answer = await follower.say(PHONE)
    assert t._("An on-site visit is free. Please have the invoice and the warranty card ready for the engineer.") in answer
    assert t._("%(parts)s: covered for life", parts=t._("spare parts (free replacement)")) in answer
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.kind, Ticket.locale, Ticket.serial))).one()
    assert tuple(ticket) == ("warranty", language, "HA2403000123")  # a person confirms the typed phone (issue 9)


async def test_without_a_language_from_wechat_the_text_decides_then_simplified_chinese(
    pusher: WeChatPusher, api: WeChatAPI, engine: Any,
) -> None:
    api.languages |= {"oWrites_en": "xx", "oWrites_digit": "xx", "oWrites_ru": "xx"}  # no language we know
    await Follower(pusher, "oWrites_en").say("Hello, my air conditioner is leaking water")
    await Follower(pusher, "oWrites_ru").say("Здравствуйте, кондиционер течёт")
    await Follower(pusher, "oWrites_digit").say("1")
    async with engine.connect() as conn:
        rows = dict((await conn.execute(select(ChannelIdentity.external_id, Customer.locale)
                                        .join(Customer, Customer.id == ChannelIdentity.customer_id))).all())
    assert rows == {"oWrites_en": "en", "oWrites_ru": "ru", "oWrites_digit": "zh_Hans"}
