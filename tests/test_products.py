"""The product registry: linking a serial in the chat (only on proof), claims a person
decides, the customer file, migration 0002."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from services.ownership import ClaimStatus
from storage.db import create_engine, downgrade, upgrade
from storage.models import ChannelIdentity, Conversation, Customer, Message, Product, Ticket
from storage.products import (
    LinkOutcome,
    confirm_claim,
    customer_file,
    link_product,
    link_products_by_phone,
    pending_claims,
    record_claim,
    refuse_claim,
    verify_phone,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


async def add_customer(engine: AsyncEngine, phone: str | None = None, **values: Any) -> int:
    async with engine.begin() as conn:
        return await conn.scalar(insert(Customer).values(
            locale=values.pop("locale", "en"), locale_chosen=True, phone=phone, created_at=T0, **values,
        ).returning(Customer.id))


async def add_product(engine: AsyncEngine, serial: str, customer_id: int | None = None, phone: str | None = None,
                      **values: Any) -> int:
    async with engine.begin() as conn:
        return await conn.scalar(insert(Product).values({
            "serial": serial, "product_line": "household_ac", "model": "KFR-26GW", "manufactured": date(2024, 3, 1),
            "invoice_date": date(2024, 4, 2), "invoice_ref": "INV-1", "dealer": "Shop", "customer_id": customer_id,
            "customer_phone": phone, "created_at": T0, "updated_at": T0, **values,
        }).returning(Product.id))


async def link(engine: AsyncEngine, customer_id: int, serial: str) -> Any:
    async with engine.begin() as conn:
        return await link_product(conn, customer_id, serial)


async def owner(engine: AsyncEngine, serial: str) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(Product.customer_id).where(Product.serial == serial))


# --- link_product ---------------------------------------------------------------------------


async def test_a_unit_sold_to_a_verified_phone_is_linked_and_then_already_yours(engine: AsyncEngine) -> None:
    me = await add_customer(engine, "+8613811111111", verified_phone="+8613811111111")
    product_id = await add_product(engine, "HA2403000123", phone="+8613811111111")
    result = await link(engine, me, "ha-2403-000123")
    assert (result.outcome, result.serial, result.product_id) == (LinkOutcome.LINKED, "HA2403000123", product_id)
    assert await owner(engine, "HA2403000123") == me
    result = await link(engine, me, "HA2403000123")
    assert (result.outcome, result.product_id) == (LinkOutcome.ALREADY_YOURS, product_id)


async def test_an_unknown_serial(engine: AsyncEngine) -> None:
    me = await add_customer(engine)
    result = await link(engine, me, "HA2403000999")
    assert (result.outcome, result.serial, result.product_id) == (LinkOutcome.UNKNOWN_SERIAL, "HA2403000999", None)


async def test_a_unit_of_another_customer_is_not_handed_over(engine: AsyncEngine) -> None:
    other = await add_customer(engine, "+8613811111111", verified_phone="+8613811111111")
    me = await add_customer(engine, "+8613811111111", verified_phone="+8613811111111")  # even with the same phone
    product_id = await add_product(engine, "HA2403000123", customer_id=other, phone="+8613811111111")
    result = await link(engine, me, "HA2403000123")
    assert (result.outcome, result.product_id, result.owner_customer_id) == (
        LinkOutcome.OWNED_BY_OTHER, product_id, other)
    assert await owner(engine, "HA2403000123") == other


async def test_regression_the_serial_alone_or_a_typed_phone_links_nothing(engine: AsyncEngine) -> None:
    """Issue 9.1: a record without a phone went to whoever typed the serial; a typed
    (unverified) phone equal to the record's was taken as proof."""
    typed = await add_customer(engine, "+8613811111111")  # the record's phone, but only typed
    stranger = await add_customer(engine, "+8613822222222", verified_phone="+8613822222222")
    no_phone = await add_customer(engine)
    await add_product(engine, "HA2403000123", phone="+8613811111111")
    await add_product(engine, "HA2403000124")  # the dealer recorded no phone
    for customer in (typed, stranger, no_phone):
        result = await link(engine, customer, "HA2403000123")
        assert (result.outcome, result.owner_customer_id, result.recorded_phone) == (
            LinkOutcome.NEEDS_PROOF, None, "+8613811111111")
        result = await link(engine, customer, "HA2403000124")
        assert (result.outcome, result.recorded_phone) == (LinkOutcome.NEEDS_PROOF, None)
    assert await owner(engine, "HA2403000123") is None and await owner(engine, "HA2403000124") is None
    buyer = await add_customer(engine)
    async with engine.begin() as conn:
        assert await verify_phone(conn, buyer, "+8613811111111") == ["HA2403000123"]  # proof links at once
    assert (await link(engine, buyer, "HA2403000123")).outcome is LinkOutcome.ALREADY_YOURS


async def test_two_customers_claiming_one_unit_at_once_never_both_win(engine: AsyncEngine) -> None:
    # Two files proved the same number (e.g. a number passed on): the first UPDATE wins.
    first = await add_customer(engine, verified_phone="+8613811111111")
    second = await add_customer(engine, verified_phone="+8613811111111")
    await add_product(engine, "HA2403000123", phone="+8613811111111")
    results = await asyncio.gather(link(engine, first, "HA2403000123"), link(engine, second, "HA2403000123"))
    assert sorted(r.outcome for r in results) == [LinkOutcome.LINKED, LinkOutcome.OWNED_BY_OTHER]
    winner = next(r for r in results if r.outcome is LinkOutcome.LINKED)
    loser = next(r for r in results if r.outcome is LinkOutcome.OWNED_BY_OTHER)
    assert loser.owner_customer_id == await owner(engine, "HA2403000123") != None  # noqa: E711
    assert winner.product_id == loser.product_id


async def test_a_claim_waits_for_a_person_who_confirms_or_refuses_it(engine: AsyncEngine) -> None:
    owner_id = await add_customer(engine, verified_phone="+8613811111111")
    claimant, other = await add_customer(engine), await add_customer(engine)
    unit = await add_product(engine, "HA2403000123", customer_id=owner_id, phone="+8613811111111")
    async with engine.begin() as conn:
        first = await record_claim(conn, product_id=unit, customer_id=claimant, ticket_id=None,
                                   phone="+8613811111111", phone_matches=True)
        assert await record_claim(conn, product_id=unit, customer_id=claimant, ticket_id=None) == first  # once
        second = await record_claim(conn, product_id=unit, customer_id=other, ticket_id=None)
    waiting = await pending_claims(engine)
    assert [(c.id, c.serial, c.customer_id, c.owner_customer_id, c.status) for c in waiting] == [
        (first, "HA2403000123", claimant, owner_id, ClaimStatus.PENDING),
        (second, "HA2403000123", other, owner_id, ClaimStatus.PENDING),
    ]
    assert await owner(engine, "HA2403000123") == owner_id  # a claim moves nothing
    refused = await refuse_claim(engine, second, "agent:ana")
    assert refused is not None and refused.status is ClaimStatus.REFUSED
    assert await refuse_claim(engine, second, "agent:bob") is None  # decided once
    confirmed = await confirm_claim(engine, first, "agent:ana")
    assert confirmed is not None and confirmed.status is ClaimStatus.CONFIRMED
    assert await owner(engine, "HA2403000123") == claimant  # a person's decision moves it
    assert await confirm_claim(engine, first, "agent:bob") is None
    assert await pending_claims(engine) == []


async def test_two_people_deciding_one_claim_at_once_never_both_win(engine: AsyncEngine) -> None:
    claimant = await add_customer(engine)
    unit = await add_product(engine, "HA2403000123")
    async with engine.begin() as conn:
        claim = await record_claim(conn, product_id=unit, customer_id=claimant, ticket_id=None)
    decided = await asyncio.gather(confirm_claim(engine, claim, "a"), refuse_claim(engine, claim, "b"))
    assert sum(d is not None for d in decided) == 1


async def test_a_phone_given_in_the_chat_links_the_units_sold_to_it(engine: AsyncEngine) -> None:
    me, other = await add_customer(engine), await add_customer(engine)
    await add_product(engine, "HA2403000001", phone="+8613811111111")
    await add_product(engine, "HA2403000002", phone="+8613811111111")
    await add_product(engine, "HA2403000003", phone="+8613811111111", customer_id=other)
    await add_product(engine, "HA2403000004", phone="+8613822222222")
    async with engine.begin() as conn:
        assert await link_products_by_phone(conn, me, "+8613811111111") == ["HA2403000001", "HA2403000002"]
    assert await owner(engine, "HA2403000003") == other


# --- the customer file ----------------------------------------------------------------------


async def conversation(engine: AsyncEngine, customer_id: int) -> int:
    async with engine.begin() as conn:
        identity = await conn.scalar(insert(ChannelIdentity).values(
            customer_id=customer_id, channel="telegram", external_id=str(customer_id), chat_id="1", created_at=T0,
        ).returning(ChannelIdentity.id))
        return await conn.scalar(insert(Conversation).values(
            customer_id=customer_id, identity_id=identity, state="", slots={}, mode="bot", version=0, updated_at=T0,
        ).returning(Conversation.id))


async def add_ticket(engine: AsyncEngine, customer_id: int, conversation_id: int, number: str, created: datetime,
                     messages: int, **values: Any) -> int:
    async with engine.begin() as conn:
        ticket_id = await conn.scalar(insert(Ticket).values(
            number=number, kind="repair", status="open", customer_id=customer_id, conversation_id=conversation_id,
            channel="telegram", locale="en", details={}, created_at=created, updated_at=created, **values,
        ).returning(Ticket.id))
        if messages:
            await conn.execute(insert(Message), [
                {"conversation_id": conversation_id, "ticket_id": ticket_id, "direction": "in", "author": "customer",
                 "channel": "telegram", "text": f"m{i}", "attachments": [], "created_at": created}
                for i in range(messages)
            ])
        return ticket_id


async def filled_customer(engine: AsyncEngine) -> int:
    me = await add_customer(engine, "+995599123456", locale="ka", timezone="Asia/Tbilisi", display_name="Nino")
    other = await add_customer(engine)
    mine = await add_product(engine, "HA2403000123", customer_id=me, install_address="Tbilisi")
    await add_product(engine, "IT2401000001", customer_id=me, product_line="it_project", model="SRV-2U",
                      acceptance_date=date(2024, 3, 15))
    await add_product(engine, "HA2403000999", customer_id=other)
    chat = await conversation(engine, me)
    verdict = {"in_warranty": True, "start": "2024-04-02", "basis": "invoice"}
    await add_ticket(engine, me, chat, "R-2025-000001", T0, messages=3, product_id=mine, warranty=verdict,
                     out_of_use_from=date(2025, 3, 1), working_again_on=date(2025, 3, 25), own_fault=True,
                     first_response_due=T0 + timedelta(hours=1))
    await add_ticket(engine, me, chat, "C-2025-000001", T0 + timedelta(days=2), messages=0,
                     serial="HA2403000123")
    other_chat = await conversation(engine, other)
    await add_ticket(engine, other, other_chat, "R-2025-000002", T0, messages=1)
    return me


async def test_the_customer_file(engine: AsyncEngine) -> None:
    me = await filled_customer(engine)
    data = await customer_file(engine, me)
    assert data is not None
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    assert data["customer"] == {"id": me, "display_name": "Nino", "locale": "ka", "phone": "+995599123456",
                                "verified_phone": None, "timezone": "Asia/Tbilisi", "created_at": "2025-03-01T08:00:00+00:00"}
    assert [p["serial"] for p in data["products"]] == ["HA2403000123", "IT2401000001"]
    assert data["products"][0]["invoice_date"] == "2024-04-02"
    assert data["products"][0]["manufactured"] == "2024-03-01"
    assert data["products"][1]["acceptance_date"] == "2024-03-15"
    newest, oldest = data["tickets"]
    assert (newest["number"], newest["serial"], newest["messages"], newest["warranty"]) == (
        "C-2025-000001", "HA2403000123", 0, None)
    assert newest["downtime"] == {"out_of_use_from": None, "working_again_on": None, "own_fault": None}
    assert (oldest["number"], oldest["kind"], oldest["status"], oldest["serial"], oldest["messages"]) == (
        "R-2025-000001", "repair", "open", "HA2403000123", 3)
    assert oldest["warranty"] == {"in_warranty": True, "start": "2024-04-02", "basis": "invoice"}
    assert oldest["downtime"] == {"out_of_use_from": "2025-03-01", "working_again_on": "2025-03-25", "own_fault": True}
    assert oldest["created_at"] == "2025-03-01T08:00:00+00:00"
    assert oldest["first_response_due"] == "2025-03-01T09:00:00+00:00"


async def test_no_file_for_an_unknown_customer(engine: AsyncEngine) -> None:
    assert await customer_file(engine, 999) is None


def test_cli_prints_the_customer_file(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)

    async def fill() -> int:
        engine = create_engine(sqlite_url)
        try:
            return await filled_customer(engine)
        finally:
            await engine.dispose()

    me = asyncio.run(fill())
    assert main(["customer-file", str(me)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["customer"]["display_name"] == "Nino" and len(data["tickets"]) == 2
    assert main(["customer-file", "999"]) == 1
    assert "no customer 999" in capsys.readouterr().err


def test_cli_records_downtime_on_a_ticket(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    engine = create_engine(sqlite_url)

    async def fill() -> None:
        me = await add_customer(engine)
        product = await add_product(engine, "NB2504000011", customer_id=me)
        chat = await conversation(engine, me)
        await add_ticket(engine, me, chat, "R-2025-000001", T0, messages=0, product_id=product)
        await add_ticket(engine, me, chat, "C-2025-000002", T0, messages=0)  # a complaint: no product

    async def recorded() -> tuple[Any, ...]:
        async with engine.connect() as conn:
            return tuple((await conn.execute(select(Ticket.out_of_use_from, Ticket.working_again_on, Ticket.own_fault)
                                             .where(Ticket.number == "R-2025-000001"))).one())

    asyncio.run(fill())
    assert main(["downtime", "r-2025-000001", "--out-of-use", "2025-03-02", "--working-again", "2025-03-20"]) == 0
    assert "NB2504000011 out of use from 2025-03-02, until 2025-03-20" in capsys.readouterr().out
    assert asyncio.run(recorded()) == (date(2025, 3, 2), date(2025, 3, 20), True)
    for args, reason in [
        (["R-2025-000009", "--out-of-use", "2025-03-02"], "no ticket R-2025-000009"),
        (["C-2025-000002", "--out-of-use", "2025-03-02"], "not linked to a registered product"),
        (["R-2025-000001", "--out-of-use", "2025-03-20", "--working-again", "2025-03-02"], "must be after 2025-03-20"),
        (["R-2025-000001", "--out-of-use", "2999-01-01"], "is in the future"),
    ]:
        assert main(["downtime", *args]) == 1
        assert reason in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["downtime", "R-2025-000001", "--out-of-use", "2025-02-30"])  # no such day
    assert "not a date (YYYY-MM-DD): '2025-02-30'" in capsys.readouterr().err
    assert asyncio.run(recorded()) == (date(2025, 3, 2), date(2025, 3, 20), True)  # nothing changed
    assert main(["downtime", "R-2025-000001", "--out-of-use", "2025-03-02", "--caused-by-use"]) == 0
    assert asyncio.run(recorded()) == (date(2025, 3, 2), None, False)
    asyncio.run(engine.dispose())


# --- schema ---------------------------------------------------------------------------------


async def test_serials_are_unique_and_tickets_point_at_real_products(engine: AsyncEngine) -> None:
    me = await add_customer(engine)
    await add_product(engine, "HA2403000123")
    with pytest.raises(IntegrityError):
        await add_product(engine, "HA2403000123")
    chat = await conversation(engine, me)
    with pytest.raises(IntegrityError):
        await add_ticket(engine, me, chat, "R-2025-000009", T0, messages=0, product_id=12345)


def test_migration_0002_up_and_down_with_tickets_and_messages_on_sqlite(tmp_path: Path) -> None:
    """Regression: a batch-mode rebuild of `tickets` failed with FOREIGN KEY constraint failed
    on DROP TABLE as soon as a message (or a related ticket) pointed at a ticket."""
    path = tmp_path / "stairs.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0001")
    with sqlite3.connect(path) as db:
        db.executescript("""
            insert into customers(id, locale, locale_chosen, created_at) values (1, 'en', 0, '2025-03-01 08:00:00');
            insert into channel_identities(id, customer_id, channel, external_id, chat_id, created_at)
                values (1, 1, 'telegram', '1', '1', '2025-03-01 08:00:00');
            insert into conversations(id, customer_id, identity_id, state, slots, mode, version, updated_at)
                values (1, 1, 1, '', '{}', 'bot', 0, '2025-03-01 08:00:00');
            insert into tickets(id, number, kind, status, priority, customer_id, locale, details, created_at, updated_at)
                values (1, 'R-2025-000001', 'repair', 'open', 'normal', 1, 'en', '{}', '2025-03-01', '2025-03-01');
            insert into tickets(id, number, kind, status, priority, customer_id, locale, details, created_at, updated_at,
                                related_ticket_id)
                values (2, 'C-2025-000001', 'complaint', 'open', 'normal', 1, 'en', '{}', '2025-03-01', '2025-03-01', 1);
            insert into messages(conversation_id, ticket_id, direction, author, channel, text, attachments, created_at)
                values (1, 1, 'in', 'customer', 'telegram', 'hello', '[]', '2025-03-01');
        """)
    upgrade(url)
    downgrade(url, "0001")
    upgrade(url)
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from tickets").fetchone() == (2,)
        assert db.execute("select count(*) from messages").fetchone() == (1,)
        assert db.execute("pragma foreign_key_check").fetchall() == []
        columns = {row[1] for row in db.execute("pragma table_info(tickets)")}
        assert {"product_id", "warranty", "out_of_use_from", "working_again_on", "own_fault"} <= columns
        assert [row[2] for row in db.execute("pragma foreign_key_list(tickets)")].count("products") == 1


def test_migration_0004_up_and_down_with_customers_in_use_on_sqlite(tmp_path: Path) -> None:
    """Adding and dropping `customers.verified_phone` must not rebuild `customers`, which
    conversations, tickets and products point at (SQLite runs with foreign keys on)."""
    path = tmp_path / "stairs.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0002")
    with sqlite3.connect(path) as db:
        db.executescript("""
            insert into customers(id, locale, locale_chosen, phone, created_at) values (1, 'en', 0, '+8613811111111', '2025-03-01');
            insert into channel_identities(id, customer_id, channel, external_id, chat_id, created_at)
                values (1, 1, 'telegram', '1', '1', '2025-03-01');
            insert into products(id, serial, product_line, model, customer_id, manufactured, created_at, updated_at)
                values (1, 'HA2403000123', 'household_ac', 'KFR-26GW', 1, '2024-03-01', '2025-03-01', '2025-03-01');
        """)
    upgrade(url, "0004")
    with sqlite3.connect(path) as db:
        db.execute("insert into product_claims(product_id, customer_id, status, created_at) values (1, 1, 'pending', '2025-03-02')")
        assert db.execute("select phone, verified_phone from customers").fetchone() == ("+8613811111111", None)
    downgrade(url, "0002")
    upgrade(url, "0004")
    with sqlite3.connect(path) as db:
        assert db.execute("select count(*) from products where customer_id = 1").fetchone() == (1,)
        assert db.execute("pragma foreign_key_check").fetchall() == []
