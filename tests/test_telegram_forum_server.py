"""The Bot API test server's forum supergroups behave like Telegram's (issue 14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.telegram_server import FakeBotAPI

GROUP, PLAIN = -1001, -1002


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeBotAPI, Clock]]:
    clock = Clock()
    async with FakeBotAPI(enforce_limits=True, clock=clock) as api:
        api.forums.add_supergroup(GROUP)
        api.forums.add_supergroup(PLAIN, is_forum=False)
        yield api, clock


async def call(api: FakeBotAPI, method: str, **params: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(f"{api.base_url}/bot{api.token}/{method}", json=params) as response:
        body: dict[str, Any] = await response.json()
    return body


async def test_topics_open_close_reopen_and_delete_like_telegram(server: tuple[FakeBotAPI, Clock]) -> None:
    api, clock = server
    created = (await call(api, "createForumTopic", chat_id=GROUP, name="H-2026-000001 · ru · washer"))["result"]
    thread = created["message_thread_id"]
    assert api.messages[thread]["forum_topic_created"]["name"] == created["name"]  # the thread is its service message
    assert (await call(api, "createForumTopic", chat_id=PLAIN, name="x"))["description"] == "Bad Request: the chat is not a forum"
    assert (await call(api, "createForumTopic", chat_id=GROUP, name=""))["error_code"] == 400
    assert (await call(api, "editForumTopic", chat_id=GROUP, message_thread_id=thread, name=created["name"]))[
        "description"] == "Bad Request: TOPIC_NOT_MODIFIED"
    assert (await call(api, "closeForumTopic", chat_id=GROUP, message_thread_id=thread))["result"] is True
    assert (await call(api, "closeForumTopic", chat_id=GROUP, message_thread_id=thread))[
        "description"] == "Bad Request: TOPIC_NOT_MODIFIED"
    with pytest.raises(ValueError, match="closed"):
        api.forums.group_message(GROUP, 7, "hello", thread_id=thread)  # members cannot write in a closed topic
    clock.now += 10
    sent = await call(api, "sendMessage", chat_id=GROUP, message_thread_id=thread, text="admins can")
    assert sent["result"]["message_thread_id"] == thread and sent["result"]["is_topic_message"] is True
    assert (await call(api, "reopenForumTopic", chat_id=GROUP, message_thread_id=thread))["result"] is True
    assert (await call(api, "deleteForumTopic", chat_id=GROUP, message_thread_id=thread))["result"] is True
    clock.now += 10
    gone = await call(api, "sendMessage", chat_id=GROUP, message_thread_id=thread, text="still there?")
    assert gone == {"ok": False, "error_code": 400, "description": "Bad Request: message thread not found"}
    assert (await call(api, "closeForumTopic", chat_id=GROUP, message_thread_id=thread))[
        "description"] == "Bad Request: TOPIC_ID_INVALID"
    general = await call(api, "sendMessage", chat_id=GROUP, text="General")
    assert "message_thread_id" not in general["result"] and general["result"]["chat"]["is_forum"] is True


async def test_copy_message_media_and_admin_rights(server: tuple[FakeBotAPI, Clock]) -> None:
    api, clock = server
    thread = (await call(api, "createForumTopic", chat_id=GROUP, name="t"))["result"]["message_thread_id"]
    photo = api.user_message(42, "broken here", photo=True)["message"]
    copied = await call(api, "copyMessage", chat_id=GROUP, from_chat_id=42, message_id=photo["message_id"],
                        message_thread_id=thread)
    copy = api.messages[copied["result"]["message_id"]]
    assert copy["caption"] == "broken here" and copy["photo"] == photo["photo"] and "forward_origin" not in copy
    assert copy["message_thread_id"] == thread
    missing = await call(api, "copyMessage", chat_id=GROUP, from_chat_id=42, message_id=999_999)
    assert missing["description"] == "Bad Request: message to copy not found"
    member = (await call(api, "getChatMember", chat_id=GROUP, user_id=api.bot_user["id"]))["result"]
    assert member["status"] == "administrator" and member["can_manage_topics"] is True
    assert (await call(api, "getChat", chat_id=GROUP))["result"]["is_forum"] is True
    api.forums.add_supergroup(-1003, can_manage_topics=False)
    refused = await call(api, "createForumTopic", chat_id=-1003, name="t")
    assert refused["description"] == "Bad Request: not enough rights to manage topics"


async def test_twenty_a_minute_in_a_group_then_retry_after(server: tuple[FakeBotAPI, Clock]) -> None:
    api, clock = server
    thread = (await call(api, "createForumTopic", chat_id=GROUP, name="t"))["result"]["message_thread_id"]
    answers = [await call(api, "sendMessage", chat_id=GROUP, message_thread_id=thread, text=f"m{n}") for n in range(3)]
    assert [a["ok"] for a in answers] == [True, True, False]  # a burst of one, plus one of slack for jitter
    assert answers[2]["error_code"] == 429 and answers[2]["parameters"]["retry_after"] == 3
    clock.now += 3
    assert (await call(api, "sendMessage", chat_id=GROUP, message_thread_id=thread, text="later"))["ok"]
    clock.now += 60
    sent = 0
    for n in range(40):  # within a minute only 20 (+ the slack) get through
        clock.now += 1.5
        sent += (await call(api, "sendMessage", chat_id=GROUP, message_thread_id=thread, text=f"b{n}"))["ok"]
    assert sent <= 22
