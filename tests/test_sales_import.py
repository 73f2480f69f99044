"""The dealers' sales-record import: row checks, batches, re-imports, the CLI, 100k rows."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.company import Company
from services.sales_records import (
    COLUMNS,
    HeaderError,
    RecordParser,
    RowRejected,
    SaleRecord,
    differences,
    read_rows,
)
from storage.db import create_engine
from storage.models import Customer, Product, utcnow
from storage.products import Outcome, RowResult, _ImportStatements, _insert, import_sales

TODAY = date(2025, 6, 30)
HEADER = ",".join(COLUMNS[:8])  # the optional location columns left out, as a file may

# (prefix, a model of that line) for the generated files.
MODELS = [("HA", "KFR-35GW"), ("LC", "kfr-72qw"), ("WH", "KFRS-3.5/150L"), ("PC", "TC-D310"),
          ("MN", "LM-2216"), ("NB", "NB-T14"), ("LS", "GF-1530"), ("IT", "SRV-2U")]
ADDRESSES = ["", "12 Rustaveli Ave, Tbilisi", '"Quoted" Building, 5 Nanjing Rd, Shanghai', "北京市朝阳区建国路 88 号",
             "Тверская ул., 7, Москва"]


def parser(company: Company, today: date = TODAY) -> RecordParser:
    return RecordParser(company.catalog, today, "CN")


def good_row(i: int) -> list[str]:
    prefix, model = MODELS[i % len(MODELS)]
    month = 1 + i % 12
    phone = ["", f"+86138{i:08d}", f"139 {i % 10000:04d} {i // 10000 % 10000:04d}", f"+995 599 {i % 1000000:06d}"][i % 4]
    acceptance = f"2024-{month:02d}-28" if prefix == "IT" else ""
    place = ["", ""] if i % 3 else [f"{30 + i % 20}.{i % 9973:04d}", f"{100 + i % 30}.{i % 7919:04d}"]
    return [f"{prefix}24{month:02d}{i:06d}", model, f"2024-{month:02d}-{1 + i % 27:02d}", f"INV-{i}",
            f"Dealer {i % 37}", phone, ADDRESSES[i % len(ADDRESSES)], acceptance, *place]


# Bad rows: how to spoil a good row, and the start of the reason the report must give.
BAD_KINDS = [
    (lambda r: r.__setitem__(0, r[0][:8]), "serial: "),                          # too short
    (lambda r: r.__setitem__(0, r[0][:4] + "13" + r[0][6:]), "serial: "),         # month 13
    (lambda r: r.__setitem__(0, "ZZ" + r[0][2:]), "serial: prefix ZZ"),
    (lambda r: r.__setitem__(1, "NO-SUCH-MODEL"), "model: "),
    (lambda r: r.__setitem__(2, "2099-01-01"), "invoice_date: 2099-01-01 is in the future"),
    (lambda r: r.__setitem__(2, "2023-12-31"), "invoice_date: 2023-12-31 is before the manufacturing month"),
    (lambda r: r.__setitem__(2, "15/04/2024"), "invoice_date: '15/04/2024' is not a date"),
    (lambda r: r.__setitem__(5, "12345"), "customer_phone: '12345' is not a valid phone number"),
    (lambda r: r.__setitem__(4, " "), "dealer: missing"),
    (lambda r: r.__setitem__(3, "X" * 65), "invoice_ref: longer than 64 characters"),
    (lambda r: r.append("extra"), "has 11 fields, the header has 10"),
    (lambda r: r.__setitem__(7, "2024-13-01"), "acceptance_date: "),
    (lambda r: r.__setitem__(slice(8, 10), ["95.5", "44.8"]), "latitude: 95.5 is outside"),
]


def sales_rows(n: int, bad_every: int = 100) -> Iterator[tuple[list[str], str | None]]:
    """n data rows, every `bad_every`-th one spoiled (cycling through BAD_KINDS, plus an
    earlier serial repeated with other data); yields (cells, expected reason or None)."""
    bad = 0
    for i in range(n):
        row = good_row(i)
        if i % bad_every != bad_every - 1:
            yield row, None
            continue
        kind = bad % (len(BAD_KINDS) + 1)
        bad += 1
        if kind == len(BAD_KINDS):  # the serial of an earlier good row, with another invoice
            row = good_row(i - bad_every // 2)
            row[3] = f"INV-OTHER-{i}"
            yield row, "serial already "
        else:
            spoil, reason = BAD_KINDS[kind]
            spoil(row)
            yield row, reason


def write_sales_file(path: Path, n: int, bad_every: int = 100) -> dict[int, str | None]:
    """Write a generated file (BOM, CRLF as spreadsheets save it); spreadsheet row number -> expected reason."""
    expected = {}
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for number, (cells, reason) in enumerate(sales_rows(n, bad_every), start=2):
            writer.writerow(cells)
            expected[number] = reason
    return expected


def lines(*rows: str) -> io.StringIO:
    return io.StringIO("\n".join([HEADER, *rows]) + "\n", newline="")


# --- pure: header, rows, checks --------------------------------------------------------------


def test_header_is_forgiving_about_case_spaces_and_optional_columns() -> None:
    text = io.StringIO(" Serial ,MODEL,Invoice Date,invoice-ref,Dealer\nHA2403000001,KFR-35GW,2024-04-01,I1,D\n")
    (row,) = read_rows(text)
    assert row.number == 2 and row.problem is None
    assert row.values == {"serial": "HA2403000001", "model": "KFR-35GW", "invoice_date": "2024-04-01",
                          "invoice_ref": "I1", "dealer": "D"}


@pytest.mark.parametrize(("header", "message"), [
    ("serial,model,invoice_date,invoice_ref", "missing column(s): dealer"),
    ("serial,model,invoice_date,invoice_ref,dealer,phone", "unknown column(s) 'phone'"),
    ("serial,model,invoice_date,invoice_ref,dealer,Model", "column(s) given twice: model"),
    ("", "the file is empty"),
])
def test_a_wrong_header_refuses_the_file(header: str, message: str) -> None:
    with pytest.raises(HeaderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_rows(io.StringIO(header + "\n")))


def test_blank_rows_are_skipped_and_rows_numbered_as_a_spreadsheet_shows_them() -> None:
    text = lines("", ",,,,,,,", "HA2403000001,KFR-35GW,2024-04-01,I1,D,,\"two\nlines\",", "HA2403000002,KFR-35GW")
    rows = list(read_rows(text))
    assert [r.number for r in rows] == [4, 5]
    assert rows[0].values["install_address"] == "two\nlines"
    assert rows[1].problem == "has 2 fields, the header has 8"


def test_a_row_is_normalised(company: Company) -> None:
    values = dict(zip(COLUMNS, ["ha-2403-000123", "kfr-26gw", "2024-04-02", " INV-1 ", "Shop", "138 1234 5678",
                                "Road 1", ""]))
    assert parser(company).parse(values) == SaleRecord(
        serial="HA2403000123", product_line="household_ac", model="KFR-26GW", manufactured=date(2024, 3, 1),
        invoice_date=date(2024, 4, 2), invoice_ref="INV-1", dealer="Shop", customer_phone="+8613812345678",
        install_address="Road 1", acceptance_date=None,
    )


def test_project_equipment_keeps_its_acceptance_date(company: Company) -> None:
    values = dict(zip(COLUMNS, ["IT2401000001", "SRV-2U", "2024-02-01", "P-7", "Integrator", "+995 555 12 34 56",
                                "", "2024-03-15"]))
    record = parser(company).parse(values)
    assert (record.product_line, record.acceptance_date, record.customer_phone) == (
        "it_project", date(2024, 3, 15), "+995555123456")


REJECTIONS = [
    ({"serial": ""}, "serial: missing"),
    ({"serial": "HA240300012"}, "serial: 'HA240300012' is not in the form LLYYMMNNNNNN"),
    ({"serial": "HA2400000123"}, "serial: 'HA2400000123' has no valid manufacturing month"),
    ({"serial": "QQ2403000123"}, "serial: prefix QQ is not a product line of the catalogue"),
    ({"serial": "HA2512000123", "invoice_date": "2025-06-01"}, "serial: manufacturing month 2025-12 is in the future"),
    ({"model": "NB-T14"}, "model: 'NB-T14' is not a model of household_ac"),
    ({"model": ""}, "model: missing"),
    ({"invoice_date": ""}, "invoice_date: missing"),
    ({"invoice_date": "2024-4-2"}, "invoice_date: '2024-4-2' is not a date in the form YYYY-MM-DD"),
    ({"invoice_date": "20240402"}, "invoice_date: '20240402' is not a date"),
    ({"invoice_date": "2024-02-30"}, "invoice_date: '2024-02-30' is not a date"),
    ({"invoice_date": "2025-07-01"}, "invoice_date: 2025-07-01 is in the future"),
    ({"invoice_date": "2024-02-29"}, "invoice_date: 2024-02-29 is before the manufacturing month 2024-03"),
    ({"acceptance_date": "2024-01-01"}, "acceptance_date: 2024-01-01 is before the manufacturing month"),
    ({"acceptance_date": "next week"}, "acceptance_date: 'next week' is not a date"),
    ({"invoice_ref": ""}, "invoice_ref: missing"),
    ({"dealer": "  "}, "dealer: missing"),
    ({"dealer": "D" * 201}, "dealer: longer than 200 characters"),
    ({"customer_phone": "555"}, "customer_phone: '555' is not a valid phone number"),
    ({"customer_phone": "+86 12"}, "customer_phone: '+86 12' is not a valid phone number"),
    ({"install_address": "Stra\ufffde 1"}, "not UTF-8 text"),
    ({"latitude": "41.7"}, "longitude: missing (give both or neither)"),
    ({"latitude": "north", "longitude": "44.8"}, "latitude: 'north' is not a number in decimal degrees"),
    ({"latitude": "91", "longitude": "44.8"}, "latitude: 91 is outside -90..90"),
    ({"latitude": "41.7", "longitude": "nan"}, "longitude: nan is outside -180..180"),
]


@pytest.mark.parametrize(("change", "reason"), REJECTIONS)
def test_each_bad_field_is_rejected_with_its_reason(company: Company, change: dict[str, str], reason: str) -> None:
    values = dict(zip(COLUMNS, ["HA2403000123", "KFR-26GW", "2024-04-02", "INV-1", "Shop", "", "", ""]))
    with pytest.raises(RowRejected) as error:
        parser(company).parse({**values, **change})
    assert str(error.value).startswith(reason)


def test_differences_name_each_changed_field(company: Company) -> None:
    record = SaleRecord("HA2403000123", "household_ac", "KFR-26GW", date(2024, 3, 1), date(2024, 4, 2), "INV-1", "Shop")
    registered = {**record.values(), "invoice_date": date(2024, 4, 1), "customer_phone": "+8613812345678"}
    assert differences(registered, record) == [
        "invoice_date 2024-04-01 in the registry, 2024-04-02 in this row",
        "customer_phone +8613812345678 in the registry, (empty) in this row",
    ]


# --- into the registry (SQLite and PostgreSQL) ---------------------------------------------


async def run_import(engine: AsyncEngine, company: Company, text: io.StringIO | Iterator[str], **kwargs: object) -> tuple[
        dict[str, int], list[RowResult]]:
    results: list[RowResult] = []
    counts = await import_sales(engine, read_rows(text), parser(company), on_result=results.append, **kwargs)  # type: ignore[arg-type]
    assert counts.rows == len(results)
    return {"accepted": counts.accepted, "unchanged": counts.unchanged, "rejected": counts.rejected}, results


async def registry_size(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Product))


def csv_text(rows: Iterator[tuple[list[str], str | None]]) -> tuple[io.StringIO, dict[int, str | None]]:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    expected = {}
    for number, (cells, reason) in enumerate(rows, start=2):
        writer.writerow(cells)
        expected[number] = reason
    out.seek(0)
    return out, expected


async def test_two_thousand_rows_with_bad_ones_and_a_reimport(engine: AsyncEngine, company: Company) -> None:
    text, expected = csv_text(sales_rows(2000, bad_every=50))
    bad = sum(1 for reason in expected.values() if reason)
    assert bad == 40
    counts, results = await run_import(engine, company, text)
    assert counts == {"accepted": 1960, "unchanged": 0, "rejected": 40}
    for result in results:
        reason = expected[result.row]
        if reason is None:
            assert result.outcome is Outcome.ACCEPTED, result
        else:
            assert result.outcome is Outcome.REJECTED and result.reason.startswith(reason), result
    assert await registry_size(engine) == 1960

    text.seek(0)
    counts, results = await run_import(engine, company, text)
    assert counts == {"accepted": 0, "unchanged": 1960, "rejected": 40}
    assert {r.reason for r in results if r.outcome is Outcome.UNCHANGED} == {"same data as in the registry"}
    assert await registry_size(engine) == 1960

    async with engine.connect() as conn:
        product = (await conn.execute(select(Product.__table__).where(Product.serial == "LC2402000001"))).one()
    assert (product.product_line, product.model, product.manufactured, product.invoice_date, product.customer_phone,
            product.customer_id) == ("light_commercial_ac", "KFR-72QW", date(2024, 2, 1), date(2024, 2, 2),
                                     "+8613800000001", None)


async def test_changed_data_is_rejected_and_the_registry_untouched(engine: AsyncEngine, company: Company) -> None:
    await run_import(engine, company, lines("HA2403000123,KFR-26GW,2024-04-02,INV-1,Shop A,,,"))
    counts, (result,) = await run_import(engine, company, lines("HA2403000123,KFR-26GW,2024-04-05,INV-1,Shop B,,,"))
    assert counts["rejected"] == 1
    assert result.reason == (
        "serial already registered with different data (invoice_date 2024-04-02 in the registry, 2024-04-05 in this "
        "row; dealer Shop A in the registry, Shop B in this row)"
    )
    async with engine.connect() as conn:
        assert await conn.scalar(select(Product.dealer)) == "Shop A"


async def test_a_serial_twice_in_a_file(engine: AsyncEngine, company: Company) -> None:
    row = "HA2403000123,KFR-26GW,2024-04-02,INV-1,Shop,,,"
    same = "ha-2403-000123,kfr-26gw,2024-04-02,INV-1,Shop,,,"
    other = "HA2403000123,KFR-26GW,2024-04-02,INV-9,Shop,,,"
    for batch_size in (1000, 2):  # in one batch, then across batches
        await _reset(engine)
        counts, results = await run_import(engine, company, lines(row, same, other), batch_size=batch_size)
        assert counts == {"accepted": 1, "unchanged": 1, "rejected": 1}
        assert results[1].reason in ("same data as in row 2", "same data as in the registry")
        assert results[2].reason.startswith("serial already ") and "INV-1 in " in results[2].reason


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(Product.__table__.delete())


async def test_the_buyer_is_linked_when_exactly_one_customer_proved_the_phone(engine: AsyncEngine, company: Company) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        ids = (await conn.execute(insert(Customer).returning(Customer.id), [
            {"locale": "en", "locale_chosen": False, "phone": phone, "verified_phone": verified, "created_at": now}
            for phone, verified in (("+8613811111111", "+8613811111111"), ("+8613822222222", "+8613822222222"),
                                    ("+8613822222222", "+8613822222222"), ("+8613844444444", None))
        ])).scalars().all()
    counts, results = await run_import(engine, company, lines(
        "HA2403000001,KFR-26GW,2024-04-02,I1,Shop,138 1111 1111,,",   # one customer: linked
        "HA2403000002,KFR-26GW,2024-04-02,I2,Shop,+86 138 2222 2222,,",  # two customers: nobody
        "HA2403000003,KFR-26GW,2024-04-02,I3,Shop,+8613833333333,,",  # no customer yet
        "HA2403000004,KFR-26GW,2024-04-02,I4,Shop,,,",
        # Issue 9.1: a phone only typed in the chat (unverified) is nobody's proof
        "HA2403000005,KFR-26GW,2024-04-02,I5,Shop,+8613844444444,,",
    ))
    assert counts["accepted"] == 5
    assert results[0].reason == f"linked to customer {ids[0]}"
    assert [r.reason for r in results[1:]] == ["", "", "", ""]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Product.serial, Product.customer_id, Product.customer_phone)
                                   .order_by(Product.serial))).all()
    assert [tuple(r) for r in rows] == [
        ("HA2403000001", ids[0], "+8613811111111"),
        ("HA2403000002", None, "+8613822222222"),
        ("HA2403000003", None, "+8613833333333"),
        ("HA2403000004", None, None),
        ("HA2403000005", None, "+8613844444444"),
    ]


async def test_progress_is_reported_every_so_many_rows(engine: AsyncEngine, company: Company) -> None:
    text, _ = csv_text(sales_rows(1250, bad_every=10_000))
    seen: list[int] = []
    await run_import(engine, company, text, on_progress=seen.append, progress_every=500, batch_size=100)
    assert seen == [500, 1000]


async def test_a_serial_registered_meanwhile_is_compared_not_lost(engine: AsyncEngine, company: Company) -> None:
    """A concurrent import registers the serial between our lookup and our INSERT (PostgreSQL)."""
    await run_import(engine, company, lines("HA2403000123,KFR-26GW,2024-04-02,INV-1,Shop,,,"))
    same = SaleRecord("HA2403000123", "household_ac", "KFR-26GW", date(2024, 3, 1), date(2024, 4, 2), "INV-1", "Shop")
    other = SaleRecord("HA2403000123", "household_ac", "KFR-26GW", date(2024, 3, 1), date(2024, 4, 3), "INV-1", "Shop")
    st = _ImportStatements(engine.dialect.name)
    async with engine.begin() as conn:
        results = await _insert(conn, st, [(7, same)])
        assert results[7].outcome is Outcome.UNCHANGED
        results = await _insert(conn, st, [(8, other)])
        assert results[8].outcome is Outcome.REJECTED and "invoice_date" in results[8].reason
    assert await registry_size(engine) == 1


# --- the command ---------------------------------------------------------------------------


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_cli_import_with_report(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    source = tmp_path / "sales.csv"
    source.write_bytes(
        "\ufeffserial,model,invoice_date,invoice_ref,dealer,customer_phone,install_address,latitude,longitude\r\n"
        "HA2403000123,KFR-26GW,2024-04-02,INV-1,Shop,,北京市朝阳区,39.9219,116.4436\r\n"
        "HA2403000124,KFR-99,2024-04-02,INV-2,Shop,,,,\r\n".encode()
        + b"HA2403000125,KFR-26GW,2024-04-02,INV-3,Shop,,M\xfcnchen,,\r\n"  # Latin-1, not UTF-8
    )
    report = tmp_path / "report.csv"
    assert main(["import-sales", str(source), "--report", str(report)]) == 1
    assert "3 rows in" in capsys.readouterr().out
    assert read_report(report) == [
        {"row": "2", "serial": "HA2403000123", "outcome": "accepted", "reason": ""},
        {"row": "3", "serial": "HA2403000124", "outcome": "rejected",
         "reason": "model: 'KFR-99' is not a model of household_ac, the product line of the serial"},
        {"row": "4", "serial": "HA2403000125", "outcome": "rejected",
         "reason": "not UTF-8 text: save the file as 'CSV UTF-8'"},
    ]
    async def installed_at() -> tuple[Any, ...]:
        engine = create_engine(sqlite_url)
        try:
            async with engine.connect() as conn:
                return tuple((await conn.execute(select(Product.install_address, Product.latitude, Product.longitude))).one())
        finally:
            await engine.dispose()

    assert asyncio.run(installed_at()) == ("北京市朝阳区", 39.9219, 116.4436)
    assert main(["import-sales", str(source)]) == 1
    captured = capsys.readouterr()
    assert ": 0 accepted, 1 unchanged, 2 rejected" in captured.out
    assert "row 3 HA2403000124: model: 'KFR-99'" in captured.err


def test_cli_refuses_a_file_with_a_wrong_header(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    source = tmp_path / "sales.csv"
    source.write_text("serial;model;invoice_date\nHA2403000123;KFR-26GW;2024-04-02\n", encoding="utf-8")
    assert main(["import-sales", str(source)]) == 2
    assert "columns must be separated by commas (this file seems to use ';')" in capsys.readouterr().err
    assert main(["import-sales", str(tmp_path / "missing.csv")]) == 2


@pytest.mark.slow
def test_a_hundred_thousand_rows_on_sqlite(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    source, report = tmp_path / "sales.csv", tmp_path / "report.csv"
    expected = write_sales_file(source, 100_000)
    bad = sum(1 for reason in expected.values() if reason)
    timings = []
    for run in ("first import", "re-import"):
        started = time.perf_counter()
        assert main(["import-sales", str(source), "--report", str(report)]) == 1
        timings.append((run, time.perf_counter() - started))
        captured = capsys.readouterr()
        assert captured.err.count("rows...") == 10  # progress every 10,000 rows
        outcomes = Counter(row["outcome"] for row in read_report(report))
        good = "accepted" if run == "first import" else "unchanged"
        assert outcomes == {good: 100_000 - bad, "rejected": bad}
    for row in read_report(report):
        reason = expected[int(row["row"])]
        assert (row["outcome"] == "rejected") == (reason is not None)
        assert reason is None or row["reason"].startswith(reason), row
    with capsys.disabled():
        print("\n" + "; ".join(f"{run} of 100,000 rows ({bad} bad): {seconds:.1f} s" for run, seconds in timings))
