"""A batch's first contacts created together (storage/turns.py, find_or_create_identities)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.models import ChannelIdentity, Conversation, Customer, utcnow
from storage.turns import NewIdentity, Statements, find_or_create_identities, find_or_create_identity


async def test_new_and_known_identities_of_one_batch(engine: Any) -> None:
    st = Statements(engine.dialect.name)
    now = utcnow()
    async with engine.begin() as conn:
        known = await find_or_create_identity(conn, st, channel="wechat", external_id="o0", chat_id="o0", locale="en",
                                              display_name=None, now=now)
    wanted = [NewIdentity("wechat", f"o{n}", f"o{n}", "zh_Hant" if n % 2 else "en", None) for n in range(4)]
    async with engine.begin() as conn:
        found = await find_or_create_identities(conn, st, wanted, now)
    assert found[("wechat", "o0")] == known
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(ChannelIdentity.external_id, Customer.id, Customer.locale, Conversation.id)
            .join(Customer, Customer.id == ChannelIdentity.customer_id)
            .join(Conversation, Conversation.identity_id == ChannelIdentity.id).order_by(ChannelIdentity.external_id)
        )).all()
        assert await conn.scalar(select(func.count()).select_from(Customer)) == 4
    assert [(r[0], r[2]) for r in rows] == [("o0", "en"), ("o1", "zh_Hant"), ("o2", "en"), ("o3", "zh_Hant")]
    assert {("wechat", r[0]): (r[1], r[3]) for r in rows} == found
    async with engine.begin() as conn:  # all known now: nothing new
        assert await find_or_create_identities(conn, st, wanted, now) == found
