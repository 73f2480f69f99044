"""Over the real WeChat endpoint and the API double (tests/wechat_server.py): a survey marked
undeliverable (the 48-hour window had closed) is asked as soon as the follower writes again, by
the Service's own job runner, as a customer-service message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from bot.app import Service
from bot.i18n import Translator
from services.surveys import SurveyStatus
from storage.models import Conversation, Survey, Ticket, utcnow
from tests.test_wechat import Follower, api, pusher, service  # noqa: F401  (fixtures)
from tests.wechat_server import WeChatAPI, WeChatPusher


async def test_an_undeliverable_survey_goes_when_the_follower_writes(
    service: Service, pusher: WeChatPusher, api: WeChatAPI, engine: Any,  # noqa: F811
) -> None:
    follower = Follower(pusher, "oSurvey_0001")
    await follower.say("/start")
    now = utcnow()
    async with engine.begin() as conn:
        conversation, customer = (await conn.execute(select(Conversation.id, Conversation.customer_id))).one()
        ticket = await conn.scalar(insert(Ticket).values(
            number="R-2026-700001", kind="repair", status="resolved", customer_id=customer, conversation_id=conversation,
            locale="zh_Hans", details={}, created_at=now - timedelta(days=5), updated_at=now - timedelta(days=4),
        ).returning(Ticket.id))
        survey = await conn.scalar(insert(Survey).values(
            ticket_id=ticket, customer_id=customer, conversation_id=conversation, plan="repair_3d", level="first",
            round=0, status=SurveyStatus.UNDELIVERABLE.value, note="wechat_window_closed",
            due_at=now - timedelta(days=1), question=0, answers={}, created_at=now,
        ).returning(Survey.id))
    before = len(api.sent)

    await follower.say("你好")  # the window is open again
    t = Translator("zh_Hans", "Asia/Shanghai")
    question = t._("Question %(n)d of %(total)d:", n=1, total=3)
    sent = await api.wait_sent(before + 1)
    texts = [message["text"]["content"] for message in sent[before:] if message.get("msgtype") == "text"]
    assert any(question in text and "R-2026-700001" in text for text in texts), texts
    async with engine.connect() as conn:
        assert await conn.scalar(select(Survey.status).where(Survey.id == survey)) == SurveyStatus.ASKING
