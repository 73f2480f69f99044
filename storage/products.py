"""The product registry: the sales-record import, the customer file, linking a serial.

The import works in batches (`BATCH` rows, one transaction each): one query for the
batch's serials already registered, one for the customers owning its phones, one
multi-row INSERT ... ON CONFLICT DO NOTHING. Re-importing a file changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import islice
from typing import Any

from sqlalchemy import Insert, Select, bindparam, func, select, update

from services.downtime import check_record
from services.ownership import ClaimStatus
from services.sales_records import COMPARED, RecordParser, Row, RowRejected, SaleRecord, differences
from services.serials import clean
from storage.db import Store, StoreConnection, insert_ignore
from storage.models import Customer, Message, Product, ProductClaim, Ticket, table_of, utcnow

products = table_of(Product)
claims = table_of(ProductClaim)
customers = table_of(Customer)
tickets = table_of(Ticket)
messages = table_of(Message)

BATCH = 1000

# --- import ------------------------------------------------------------------------------


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RowResult:
    """One line of the operator's report."""

    row: int
    serial: str
    outcome: Outcome
    reason: str = ""


@dataclass(slots=True)
class ImportCounts:
    accepted: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def rows(self) -> int:
        return self.accepted + self.unchanged + self.rejected

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


class _ImportStatements:
    def __init__(self, dialect: str) -> None:
        self.registered: Select[Any] = select(products.c.serial, *(products.c[name] for name in COMPARED)).where(
            products.c.serial.in_(bindparam("serials", expanding=True))
        )
        # Only a proven phone links a unit (issue 9): a typed number could be anybody's.
        self.owners: Select[Any] = select(customers.c.verified_phone, customers.c.id).where(
            customers.c.verified_phone.in_(bindparam("phones", expanding=True))
        )
        self.insert: Insert = insert_ignore(dialect, products).returning(products.c.serial)


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


async def import_sales(
    engine: Store,
    rows: Iterable[Row],
    parser: RecordParser,
    *,
    on_result: Callable[[RowResult], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
    batch_size: int = BATCH,
) -> ImportCounts:
    """Register the sold units of `rows` (read lazily); each row's outcome goes to `on_result`.

    `on_progress(rows_done)` is called each time another `progress_every` rows are done.
    """
    st = _ImportStatements(engine.dialect.name)
    counts = ImportCounts()
    for batch in _batches(rows, batch_size):
        results, first = _check(parser, batch)  # before the transaction: SQLite's write lock stays short
        async with engine.begin() as conn:
            results.update(await _register(conn, st, first))
        for row in batch:
            result = results[row.number]
            counts.add(result.outcome)
            if on_result:
                on_result(result)
        done = counts.rows
        if on_progress and done // progress_every > (done - len(batch)) // progress_every:
            on_progress(done)
    return counts


Firsts = dict[str, tuple[int, SaleRecord]]  # serial -> (row number, record) of its first row in a batch


def _check(parser: RecordParser, batch: list[Row]) -> tuple[dict[int, RowResult], Firsts]:
    """The outcomes known without the registry, and the first row of each good serial of the batch."""
    results: dict[int, RowResult] = {}
    first: Firsts = {}
    for row in batch:
        record = _parse(parser, row, results)
        if record is None:
            continue
        if record.serial in first:
            earlier, registered = first[record.serial]
            results[row.number] = _compare(row.number, record, registered.values(), f"row {earlier}")
        else:
            first[record.serial] = (row.number, record)
    return results, first


async def _register(conn: StoreConnection, st: _ImportStatements, first: Firsts) -> dict[int, RowResult]:
    registered = await _registered(conn, st, list(first))
    results = {}
    new = []
    for serial, (number, record) in first.items():
        if serial in registered:
            results[number] = _compare(number, record, registered[serial], "the registry")
        else:
            new.append((number, record))
    if new:
        results.update(await _insert(conn, st, new))
    return results


def _parse(parser: RecordParser, row: Row, results: dict[int, RowResult]) -> SaleRecord | None:
    if row.problem:
        results[row.number] = RowResult(row.number, row.serial, Outcome.REJECTED, row.problem)
        return None
    try:
        return parser.parse(row.values)
    except RowRejected as error:
        results[row.number] = RowResult(row.number, row.serial, Outcome.REJECTED, str(error))
        return None


def _compare(number: int, record: SaleRecord, registered: dict[str, Any], where: str) -> RowResult:
    """`where` is "the registry" or "row N" (an earlier row of the same file)."""
    changed = differences(registered, record, f"in {where}")
    if not changed:
        return RowResult(number, record.serial, Outcome.UNCHANGED, f"same data as in {where}")
    already = "already registered" if where == "the registry" else f"already in {where}"
    reason = f"serial {already} with different data ({'; '.join(changed)})"
    return RowResult(number, record.serial, Outcome.REJECTED, reason)


async def _registered(conn: StoreConnection, st: _ImportStatements, serials: list[str]) -> dict[str, dict[str, Any]]:
    if not serials:
        return {}
    result = await conn.execute(st.registered, {"serials": serials})
    return {row.serial: dict(row._mapping) for row in result}


async def _owners(conn: StoreConnection, st: _ImportStatements, phones: set[str]) -> dict[str, int]:
    """Phone -> customer, for phones exactly one customer has (an ambiguous phone links nobody)."""
    if not phones:
        return {}
    found: dict[str, list[int]] = defaultdict(list)
    for phone, customer_id in await conn.execute(st.owners, {"phones": sorted(phones)}):
        found[phone].append(customer_id)
    return {phone: ids[0] for phone, ids in found.items() if len(ids) == 1}


async def _insert(
    conn: StoreConnection, st: _ImportStatements, new: list[tuple[int, SaleRecord]]
) -> dict[int, RowResult]:
    owners = await _owners(conn, st, {r.customer_phone for _, r in new if r.customer_phone})
    now = utcnow()
    params = []
    for _, record in new:
        values = record.values()
        values.update(customer_id=owners.get(record.customer_phone or ""), created_at=now, updated_at=now)
        params.append(values)
    inserted = {row.serial for row in await conn.execute(st.insert, params)}
    results = {}
    raced = []
    for (number, record), values in zip(new, params):
        if record.serial not in inserted:
            raced.append((number, record))  # registered meanwhile by a concurrent import (PostgreSQL)
            continue
        linked = f"linked to customer {values['customer_id']}" if values["customer_id"] else ""
        results[number] = RowResult(number, record.serial, Outcome.ACCEPTED, linked)
    if raced:
        registered = await _registered(conn, st, [r.serial for _, r in raced])
        for number, record in raced:
            results[number] = _compare(number, record, registered[record.serial], "the registry")
    return results


# --- linking a serial to a customer (the chat flow) -------------------------------------


class LinkOutcome(StrEnum):
    LINKED = "linked"  # now linked to this customer
    ALREADY_YOURS = "already_yours"
    UNKNOWN_SERIAL = "unknown_serial"
    OWNED_BY_OTHER = "owned_by_other"  # linked to another customer: a person must look at it
    NEEDS_PROOF = "needs_proof"  # linked to nobody, but this customer has not proved it is theirs


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What `link_product` did, with what the person who decides needs.

    `owner_customer_id` is the customer the product is linked to (`owned_by_other`).
    `recorded_phone` is the buyer's phone from the sales record (None: the dealer
    recorded none, so only a person can confirm a claim): never show it to the customer.
    """

    outcome: LinkOutcome
    serial: str
    product_id: int | None = None
    owner_customer_id: int | None = None
    recorded_phone: str | None = None


async def link_product(conn: StoreConnection, customer_id: int, serial: str) -> LinkResult:
    """Link the registered unit `serial` to the customer if they proved it is theirs.

    Proof: the unit is linked to nobody and its sales record names the customer's
    verified phone. One atomic UPDATE: two customers claiming the same unit never both win.
    """
    serial = clean(serial)
    proven = select(customers.c.verified_phone).where(customers.c.id == customer_id).scalar_subquery()
    claim = (
        update(products)
        .where(products.c.serial == serial, products.c.customer_id.is_(None), products.c.customer_phone == proven)
        .values(customer_id=customer_id, updated_at=utcnow())
        .returning(products.c.id)
    )
    product_id = await conn.scalar(claim)
    if product_id is not None:
        return LinkResult(LinkOutcome.LINKED, serial, product_id)
    query = select(products.c.id, products.c.customer_id, products.c.customer_phone).where(products.c.serial == serial)
    found = (await conn.execute(query)).first()
    if found is None:
        return LinkResult(LinkOutcome.UNKNOWN_SERIAL, serial)
    if found.customer_id == customer_id:
        return LinkResult(LinkOutcome.ALREADY_YOURS, serial, found.id)
    outcome = LinkOutcome.NEEDS_PROOF if found.customer_id is None else LinkOutcome.OWNED_BY_OTHER
    return LinkResult(outcome, serial, found.id, found.customer_id, found.customer_phone)


async def verify_phone(conn: StoreConnection, customer_id: int, phone: str) -> list[str]:
    """Record `phone` (E.164) as proven the customer's and link the unlinked units sold to
    it; their serials. Call only with proof (a Telegram contact whose user is the sender)."""
    await conn.execute(
        update(customers).where(customers.c.id == customer_id).values(phone=phone, verified_phone=phone)
    )
    return await link_products_by_phone(conn, customer_id, phone)


async def link_products_by_phone(conn: StoreConnection, customer_id: int, phone: str) -> list[str]:
    """Link the unlinked units sold to `phone` (E.164) to the customer; their serials.

    Only for a phone the customer proved (see `verify_phone`).
    """
    claim = (
        update(products)
        .where(products.c.customer_phone == phone, products.c.customer_id.is_(None))
        .values(customer_id=customer_id, updated_at=utcnow())
        .returning(products.c.serial)
    )
    return sorted(await conn.scalars(claim))


# --- claims a person decides (the agents' console) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    product_id: int
    serial: str
    customer_id: int
    ticket_id: int | None
    phone: str | None
    phone_matches: bool | None
    owner_customer_id: int | None  # who the unit is linked to now
    status: ClaimStatus
    created_at: datetime


async def record_claim(
    conn: StoreConnection, *, product_id: int, customer_id: int, ticket_id: int | None,
    phone: str | None = None, phone_matches: bool | None = None,
) -> int:
    """Record (or refresh) the customer's pending claim to the unit; its id. Changes no link."""
    pending = select(claims.c.id).where(
        claims.c.product_id == product_id, claims.c.customer_id == customer_id,
        claims.c.status == ClaimStatus.PENDING.value,
    )
    found = await conn.scalar(pending)
    values = {"ticket_id": ticket_id, "phone": phone, "phone_matches": phone_matches}
    if found is not None:
        await conn.execute(update(claims).where(claims.c.id == found).values(**values))
        return int(found)
    inserted = await conn.scalar(
        claims.insert().values(
            product_id=product_id, customer_id=customer_id, status=ClaimStatus.PENDING.value,
            created_at=utcnow(), **values,
        ).returning(claims.c.id)
    )
    return int(inserted)


_CLAIM_QUERY = select(
    claims.c.id, claims.c.product_id, products.c.serial, claims.c.customer_id, claims.c.ticket_id,
    claims.c.phone, claims.c.phone_matches, products.c.customer_id.label("owner_customer_id"),
    claims.c.status, claims.c.created_at,
).join(products, products.c.id == claims.c.product_id)


def _claim(row: Any) -> Claim:
    values = dict(row._mapping)
    values["status"] = ClaimStatus(values["status"])
    return Claim(**values)


async def pending_claims(engine: Store, ticket_id: int | None = None) -> list[Claim]:
    """Claims waiting for a person, oldest first (of one ticket, if given)."""
    query = _CLAIM_QUERY.where(claims.c.status == ClaimStatus.PENDING.value).order_by(claims.c.id)
    if ticket_id is not None:
        query = query.where(claims.c.ticket_id == ticket_id)
    async with engine.connect() as conn:
        return [_claim(row) for row in await conn.execute(query)]


async def confirm_claim(engine: Store, claim_id: int, decided_by: str) -> Claim | None:
    """A person confirmed the claim: the unit is linked to the claimant (moved, if it was
    linked to someone else: the person decided). None if the claim is not pending."""
    async with engine.begin() as conn:
        return await decide_claim(conn, claim_id, ClaimStatus.CONFIRMED, decided_by)


async def refuse_claim(engine: Store, claim_id: int, decided_by: str) -> Claim | None:
    """A person refused the claim; the unit stays as it is. None if the claim is not pending."""
    async with engine.begin() as conn:
        return await decide_claim(conn, claim_id, ClaimStatus.REFUSED, decided_by)


async def decide_claim(
    conn: StoreConnection, claim_id: int, status: ClaimStatus, decided_by: str, customer_id: int | None = None,
) -> Claim | None:
    """Confirm (linking the unit to the claimant) or refuse a pending claim inside the caller's
    transaction; None if it is not pending (or not the given customer's)."""
    if customer_id is not None and await conn.scalar(
        select(claims.c.customer_id).where(claims.c.id == claim_id)
    ) != customer_id:
        return None
    decided = await _decide(conn, claim_id, status, decided_by)
    if decided is None:
        return None
    if status is ClaimStatus.CONFIRMED:
        product_id, claimant = decided
        await conn.execute(
            update(products).where(products.c.id == product_id).values(customer_id=claimant, updated_at=utcnow())
        )
    row = (await conn.execute(_CLAIM_QUERY.where(claims.c.id == claim_id))).one()
    return _claim(row)


async def customer_pending_claims(engine: Store, customer_id: int) -> list[Claim]:
    """One customer's claims waiting for a person, oldest first."""
    query = _CLAIM_QUERY.where(claims.c.status == ClaimStatus.PENDING.value, claims.c.customer_id == customer_id)
    async with engine.connect() as conn:
        return [_claim(row) for row in await conn.execute(query.order_by(claims.c.id))]


async def _decide(conn: StoreConnection, claim_id: int, status: ClaimStatus, decided_by: str) -> tuple[int, int] | None:
    """Pending -> `status`, atomically: two people deciding at once never both win."""
    decided = (await conn.execute(
        update(claims)
        .where(claims.c.id == claim_id, claims.c.status == ClaimStatus.PENDING.value)
        .values(status=status.value, decided_at=utcnow(), decided_by=decided_by)
        .returning(claims.c.product_id, claims.c.customer_id)
    )).first()
    return (int(decided[0]), int(decided[1])) if decided else None


# --- the customer file (domain.md §1) ------------------------------------------------------

_PRODUCT_FIELDS = (
    "serial", "product_line", "model", "manufactured", "invoice_date", "invoice_ref", "acceptance_date",
    "dealer", "install_address", "latitude", "longitude",
)
_TICKET_FIELDS = (
    "number", "kind", "status", "priority", "channel", "product_line", "model", "created_at", "updated_at",
    "visit_date", "visit_window", "first_response_due", "onsite_due", "fix_due", "warranty",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


async def customer_file(engine: Store, customer_id: int) -> dict[str, Any] | None:
    """The customer, their products and their tickets (newest first) as plain JSON data; None if unknown."""
    async with engine.connect() as conn:
        customer = (await conn.execute(
            select(customers.c.id, customers.c.display_name, customers.c.locale, customers.c.phone,
                   customers.c.verified_phone, customers.c.timezone, customers.c.created_at).where(customers.c.id == customer_id)
        )).first()
        if customer is None:
            return None
        owned = await conn.execute(
            select(*(products.c[name] for name in _PRODUCT_FIELDS))
            .where(products.c.customer_id == customer_id).order_by(products.c.id)
        )
        count = select(func.count()).where(messages.c.ticket_id == tickets.c.id).scalar_subquery()
        rows = await conn.execute(
            select(
                *(tickets.c[name] for name in _TICKET_FIELDS),
                func.coalesce(tickets.c.serial, products.c.serial).label("serial"),
                tickets.c.out_of_use_from, tickets.c.working_again_on, tickets.c.own_fault,
                count.label("messages"),
            )
            .outerjoin(products, products.c.id == tickets.c.product_id)
            .where(tickets.c.customer_id == customer_id)
            .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
        )
        return {
            "customer": {name: _plain(value) for name, value in customer._mapping.items()},
            "products": [{name: _plain(value) for name, value in row._mapping.items()} for row in owned],
            "tickets": [_ticket(row) for row in rows],
        }


def _ticket(row: Any) -> dict[str, Any]:
    out = {name: _plain(row._mapping[name]) for name in (*_TICKET_FIELDS, "serial", "messages")}
    out["downtime"] = {
        "out_of_use_from": _plain(row.out_of_use_from),
        "working_again_on": _plain(row.working_again_on),
        "own_fault": row.own_fault,
    }
    return out


# --- downtime on a ticket (domain.md §3.4) ------------------------------------------------


async def record_downtime(
    engine: Store, number: str, out_of_use: date, working_again: date | None, own_fault: bool, today: date,
) -> str:
    """Record on ticket `number` the days its product was out of use; the warranty engine adds
    them up per product. Returns the product's serial; ValueError (for the operator) otherwise."""
    check_record(out_of_use, working_again, today)
    async with engine.begin() as conn:
        found = (await conn.execute(
            select(tickets.c.id, products.c.serial)
            .outerjoin(products, products.c.id == tickets.c.product_id)
            .where(tickets.c.number == number.strip().upper())
        )).first()
        if found is None:
            raise ValueError(f"no ticket {number}")
        if found.serial is None:
            raise ValueError(f"ticket {number} is not linked to a registered product; downtime counts per product")
        await conn.execute(update(tickets).where(tickets.c.id == found.id).values(
            out_of_use_from=out_of_use, working_again_on=working_again, own_fault=own_fault, updated_at=utcnow(),
        ))
        return str(found.serial)
