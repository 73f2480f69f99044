"""Dealers' sales records (the CSV of docs/sales-import.md): reading and checking rows.

Pure: no I/O beyond the text lines handed in. Each data row becomes either a
`SaleRecord` or a `RowRejected` whose reason an operator can act on; a bad row never
stops the others. Writing to the registry is `storage.products.import_sales`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING

from services.contact import normalize_phone
from services.serials import parse_serial

if TYPE_CHECKING:
    from bot.company import Catalog

REQUIRED = ("serial", "model", "invoice_date", "invoice_ref", "dealer")
OPTIONAL = ("customer_phone", "install_address", "acceptance_date", "latitude", "longitude")
COLUMNS = REQUIRED + OPTIONAL
# The registry's column sizes (storage.models.Product): checked here so that one long
# value is a rejected row, not a failed batch on PostgreSQL.
MAX_LENGTH = {"invoice_ref": 64, "dealer": 200, "install_address": 2000}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE_CACHE = 100_000


class HeaderError(ValueError):
    """The file cannot be read as sales records at all (the header is wrong); for an operator."""


class RowRejected(ValueError):
    """One row is refused; `str(error)` is the reason shown in the report."""


@dataclass(frozen=True, slots=True)
class SaleRecord:
    """One sold unit, checked and normalised (model code as in the catalogue, phone E.164)."""

    serial: str
    product_line: str
    model: str
    manufactured: date
    invoice_date: date
    invoice_ref: str
    dealer: str
    customer_phone: str | None = None
    install_address: str | None = None
    acceptance_date: date | None = None
    latitude: float | None = None  # the installation's location, decimal degrees
    longitude: float | None = None

    def values(self) -> dict[str, object]:
        """Column name -> value (much cheaper than `dataclasses.asdict`)."""
        return {name: getattr(self, name) for name in FIELDS}


FIELDS = tuple(f.name for f in fields(SaleRecord))
# The fields an import compares with the registry: same values = "unchanged".
COMPARED = tuple(name for name in FIELDS if name not in ("serial", "manufactured"))


@dataclass(frozen=True, slots=True)
class Row:
    """A data row: `number` as a spreadsheet shows it (the header is row 1).

    `problem` is set when the row could not even be split into the header's columns.
    """

    number: int
    values: dict[str, str]
    problem: str | None = None

    @property
    def serial(self) -> str:
        return (self.values.get("serial") or "").strip()


def _column_name(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def read_header(cells: list[str]) -> list[str]:
    """The column names of a header row; HeaderError names what is missing, unknown or twice."""
    for separator in (";", "\t", "|"):
        if len(cells) == 1 and separator in cells[0]:
            raise HeaderError(
                f"header row: the columns must be separated by commas (this file seems to use {separator!r})"
            )
    names = [_column_name(cell) for cell in cells]
    problems = []
    unknown = [cells[i].strip() for i, name in enumerate(names) if name not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(u) for u in unknown)}")
    twice = sorted({name for name in names if name in COLUMNS and names.count(name) > 1})
    if twice:
        problems.append(f"column(s) given twice: {', '.join(twice)}")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if problems:
        raise HeaderError(f"header row: {'; '.join(problems)} (expected columns: {', '.join(COLUMNS)})")
    return names


def read_rows(lines: Iterable[str]) -> Iterator[Row]:
    """Data rows of a CSV text stream, lazily (rows that cannot be split carry a `problem`).

    Blank rows (also rows of empty cells, as spreadsheets export them) are skipped.
    HeaderError if the first non-blank row is not a valid header.
    """
    reader = csv.reader(lines)
    names: list[str] | None = None
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            number += 1
            if names is None:
                raise HeaderError(f"header row: {error}") from error
            yield Row(number, {}, f"cannot be read as CSV: {error}")
            continue
        number += 1
        if not any(cell.strip() for cell in cells):
            continue
        if names is None:
            names = read_header(cells)
            continue
        values = dict(zip(names, cells))
        if len(cells) != len(names):
            yield Row(number, values, f"has {len(cells)} fields, the header has {len(names)}")
            continue
        yield Row(number, values)
    if names is None:
        raise HeaderError("the file is empty: a header row is required")


class RecordParser:
    """Checks rows against the catalogue; `today` is the company's date (no dates after it)."""

    def __init__(self, catalog: Catalog, today: date, phone_region: str) -> None:
        self.today = today
        self.phone_region = phone_region
        self._lines = {line.serial_prefix: line for line in catalog.lines}
        self._models = {line.id: {m.code.upper(): m.code for m in line.models} for line in catalog.lines}
        # Validating a phone costs ~0.1 ms, most of a row's time; a buyer of several units repeats it.
        self._phones: dict[str, str | None] = {}

    def parse(self, values: dict[str, str]) -> SaleRecord:
        """The record of one row's values; RowRejected with the reason (the field first)."""
        text = {name: (values.get(name) or "").strip() for name in COLUMNS}
        if "\ufffd" in "".join(text.values()):
            raise RowRejected("not UTF-8 text: save the file as 'CSV UTF-8'")
        for name in REQUIRED:
            if not text[name]:
                raise RowRejected(f"{name}: missing")
        for name, limit in MAX_LENGTH.items():
            if len(text[name]) > limit:
                raise RowRejected(f"{name}: longer than {limit} characters")
        serial, line_id, manufactured = self._serial(text["serial"])
        return SaleRecord(
            serial=serial,
            product_line=line_id,
            model=self._model(line_id, text["model"]),
            manufactured=manufactured,
            invoice_date=self._date("invoice_date", text["invoice_date"], manufactured),
            invoice_ref=text["invoice_ref"],
            dealer=text["dealer"],
            customer_phone=self._phone(text["customer_phone"]) if text["customer_phone"] else None,
            install_address=text["install_address"] or None,
            acceptance_date=self._optional_date("acceptance_date", text["acceptance_date"], manufactured),
            **self._location(text["latitude"], text["longitude"]),
        )

    @staticmethod
    def _location(lat: str, lon: str) -> dict[str, float]:
        if not lat and not lon:
            return {}
        if not (lat and lon):
            raise RowRejected(f"{'longitude' if lat else 'latitude'}: missing (give both or neither)")
        found = {}
        for name, text, limit in (("latitude", lat, 90), ("longitude", lon, 180)):
            try:
                value = float(text)
            except ValueError:
                raise RowRejected(f"{name}: {text!r} is not a number in decimal degrees, e.g. 41.7151") from None
            if not -limit <= value <= limit:  # also NaN
                raise RowRejected(f"{name}: {text} is outside -{limit}..{limit}")
            found[name] = value
        return found

    def _serial(self, text: str) -> tuple[str, str, date]:
        try:
            info = parse_serial(text)
        except ValueError as error:
            if str(error) == "month":
                raise RowRejected(f"serial: {text!r} has no valid manufacturing month (characters 5-6)") from None
            raise RowRejected(f"serial: {text!r} is not in the form LLYYMMNNNNNN, e.g. HA2403000123") from None
        line = self._lines.get(info.prefix)
        if line is None:
            raise RowRejected(f"serial: prefix {info.prefix} is not a product line of the catalogue")
        if info.manufactured > self.today:
            raise RowRejected(f"serial: manufacturing month {info.manufactured:%Y-%m} is in the future")
        return info.serial, line.id, info.manufactured

    def _model(self, line_id: str, text: str) -> str:
        code = self._models[line_id].get(text.upper())
        if code is None:
            raise RowRejected(f"model: {text!r} is not a model of {line_id}, the product line of the serial")
        return code

    def _date(self, name: str, text: str, manufactured: date) -> date:
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError
            value = date.fromisoformat(text)
        except ValueError:
            raise RowRejected(f"{name}: {text!r} is not a date in the form YYYY-MM-DD") from None
        if value > self.today:
            raise RowRejected(f"{name}: {value} is in the future")
        if value < manufactured:
            raise RowRejected(f"{name}: {value} is before the manufacturing month {manufactured:%Y-%m} of the serial")
        return value

    def _optional_date(self, name: str, text: str, manufactured: date) -> date | None:
        return self._date(name, text, manufactured) if text else None

    def _phone(self, text: str) -> str:
        if text not in self._phones:
            if len(self._phones) >= _PHONE_CACHE:
                self._phones.clear()
            try:
                self._phones[text] = normalize_phone(text, self.phone_region)
            except ValueError:
                self._phones[text] = None
        phone = self._phones[text]
        if phone is None:
            raise RowRejected(
                f"customer_phone: {text!r} is not a valid phone number (give +country code, "
                f"or a number of region {self.phone_region})"
            )
        return phone


def differences(registered: dict[str, object], record: SaleRecord, where: str = "in the registry") -> list[str]:
    """What differs between a registered product (its COMPARED fields) and a record, for the report."""
    out = []
    for name in COMPARED:
        old, new = registered.get(name), getattr(record, name)
        if old != new:
            out.append(f"{name} {_shown(old)} {where}, {_shown(new)} in this row")
    return out


def _shown(value: object) -> str:
    return "(empty)" if value is None or value == "" else str(value)
