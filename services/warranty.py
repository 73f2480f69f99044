"""Warranty rules (domain.md §3): start, three guarantees, extension, verdict.

Pure functions over dates and plain data; the tables live in
``data/warranty.yaml`` (`load_policies`, `load_settings`).

* Coverage is inclusive: a component covers ``start .. end`` with
  ``end = start + period - 1 day`` (see `services.periods`); lifetime has no end.
* With no invoice the warranty starts on the first day of the manufacturing
  month, which the serial number (the warranty-card barcode) encodes: see
  `services.serials` for the format (§3.2).
* Three guarantees count days inclusively, the sale day being day 1.
* Downtime extension (§3.4): see `services.downtime`; each component's own
  period restarts when own-fault downtime within it exceeds 20 days in total.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, NamedTuple

from services.downtime import DowntimeRecord, DowntimeRow, effective_start, restarts
from services.periods import Period, coverage_end, is_covered, remaining_days
from services.warranty_config import (
    ComponentPolicy,
    LinePolicy,
    ServiceKind,
    WarrantyConfig,
    WarrantySettings,
    load_config,
    load_policies,
    load_settings,
)

__all__ = [
    "ComponentPolicy", "ComponentVerdict", "DowntimeRecord", "LinePolicy",
    "OutOfWarrantyTerms", "Period", "WarrantyConfig", "WarrantySettings",
    "WarrantyStart", "WarrantyVerdict", "effective_start", "evaluate", "load_config",
    "load_policies", "load_settings", "remedies", "replaced_part_end", "restarts",
    "three_guarantees_window", "warranty_start",
]

Window = Literal["return", "exchange", "repair"]
Cause = Literal["product", "user", "disaster"]
Reason = Literal["expired", "user_caused", "disaster", "not_started", "excluded"]
DEFAULT_SETTINGS = WarrantySettings()


class WarrantyStart(NamedTuple):
    """When the warranty starts and from which evidence."""

    start: date
    basis: Literal["invoice", "manufacture", "acceptance"]


class NoStartDate(ValueError):
    """The product's record lacks the date its warranty counts from."""


def warranty_start(
    invoice_date: date | None,
    manufactured: date | None,
    acceptance_date: date | None,
    policy: LinePolicy,
) -> WarrantyStart:
    """Invoice date; else the manufacturing month (from the serial number,
    `services.serials.parse_serial`); the acceptance date for project lines."""
    if policy.start_basis == "acceptance":
        if acceptance_date is None:
            raise NoStartDate(f"line {policy.line_id!r}: the warranty starts at final acceptance; no date given")
        return WarrantyStart(acceptance_date, "acceptance")
    if invoice_date is not None:
        return WarrantyStart(invoice_date, "invoice")
    if manufactured is not None:
        return WarrantyStart(manufactured, "manufacture")
    raise NoStartDate(f"line {policy.line_id!r}: need the invoice date or the serial number to start the warranty")


def three_guarantees_window(
    sale_date: date, on_date: date, settings: WarrantySettings = DEFAULT_SETTINGS
) -> Window | None:
    """Which remedy window `on_date` falls in (sale day = day 1); None before the sale.

    Days 1..return_until_day: "return"; up to exchange_until_day: "exchange";
    afterwards "repair" (whether still in warranty is for the caller to decide).
    """
    day = (on_date - sale_date).days + 1
    if day < 1:
        return None
    if day <= settings.return_until_day:
        return "return"
    if day <= settings.exchange_until_day:
        return "exchange"
    return "repair"


_REMEDIES: dict[Window | None, tuple[Window, ...]] = {
    "return": ("return", "exchange", "repair"),
    "exchange": ("exchange", "repair"),
    "repair": ("repair",),
    None: (),
}


def remedies(window: Window | None) -> tuple[Window, ...]:
    """The remedies the customer may choose from in `window`."""
    return _REMEDIES[window]


@dataclass(frozen=True, slots=True)
class ComponentVerdict:
    """One component on one day."""

    component: str
    covered: bool
    """In period and the cause does not void the warranty."""
    in_period: bool
    start: date
    """Effective start, after any downtime restart."""
    end: date | None
    """Last covered day (inclusive); None = lifetime."""
    remaining_days: int | None
    """Covered days left counting the day asked about; None = lifetime."""
    service: ServiceKind
    replacement_only: bool


@dataclass(frozen=True, slots=True)
class OutOfWarrantyTerms:
    """What an out-of-warranty repair costs (domain.md §3.5)."""

    onsite_visit_fee: Decimal
    replaced_part_warranty: Period
    currency: str
    parts: Literal["at_cost"] = "at_cost"
    carry_in_service_fee: Decimal = Decimal(0)
    phone_support_fee: Decimal = Decimal(0)
    requires_customer_consent: bool = True


@dataclass(frozen=True, slots=True)
class WarrantyVerdict:
    """The warranty position of a product (or one component of it) on a day."""

    line_id: str
    on_date: date
    in_warranty: bool
    reason: Reason | None
    """Why not in warranty; None when in warranty."""
    components: tuple[ComponentVerdict, ...]
    charges: OutOfWarrantyTerms | None
    """Set exactly when not in warranty."""
    requires_proof_of_purchase: bool
    """In warranty the engineer asks for the invoice and warranty card (003 §7 B.5)."""

    def component(self, component_id: str) -> ComponentVerdict:
        """The verdict for `component_id` (KeyError if it was not evaluated)."""
        for verdict in self.components:
            if verdict.component == component_id:
                return verdict
        raise KeyError(component_id)


def evaluate(
    line_policy: LinePolicy,
    start: date,
    on_date: date,
    *,
    cause: Cause | None = None,
    downtime: Iterable[DowntimeRow] = (),
    component: str | None = None,
    settings: WarrantySettings = DEFAULT_SETTINGS,
    components: Collection[str] | None = None,
) -> WarrantyVerdict:
    """Judge the warranty on `on_date` for every component, or only `component`.

    Overall the product is in warranty when at least one evaluated component
    with a finite period is in its period (lifetime entitlements such as free
    spare parts count only when nothing else is evaluated: they stay listed as
    covered but do not keep an old unit "in warranty"), and the fault is not the
    user's or a disaster's (`cause` None = not yet known, judged on dates alone).
    Downtime restarts each component's own period. Out of warranty, `charges`
    holds the terms to put to the customer; they apply to the components not covered.
    `components`: the ones the unit has (its model decides, e.g. an LCD monitor has no
    CRT tube); None: all of the line's.
    """
    if cause not in (None, "product", "user", "disaster"):
        raise ValueError(f"unknown cause {cause!r}; expected product, user, disaster or None")
    if component is not None and component in line_policy.exclusions:
        return _verdict(line_policy, on_date, "excluded", (), settings)
    policies = (line_policy.component(component),) if component else line_policy.components
    if components is not None:
        policies = tuple(p for p in policies if p.component in components)
    records = list(downtime)
    voided = cause in ("user", "disaster")
    verdicts = tuple(_judge(p, start, on_date, records, voided, settings) for p in policies)
    finite = [v for v in verdicts if v.end is not None] or verdicts
    reason: Reason | None = None
    if not any(v.in_period for v in finite):
        reason = "not_started" if on_date < start else "expired"
    elif cause == "user":
        reason = "user_caused"
    elif cause == "disaster":
        reason = "disaster"
    return _verdict(line_policy, on_date, reason, verdicts, settings)


def replaced_part_end(replaced_on: date, settings: WarrantySettings = DEFAULT_SETTINGS) -> date:
    """Last covered day of a part replaced out of warranty on `replaced_on` (3 months by default)."""
    end = coverage_end(replaced_on, settings.replaced_part_period)
    assert end is not None  # a months period always ends
    return end


def _judge(
    policy: ComponentPolicy,
    start: date,
    on_date: date,
    records: list[DowntimeRow],
    voided: bool,
    settings: WarrantySettings,
) -> ComponentVerdict:
    def end_of(s: date) -> date | None:
        return coverage_end(s, policy.period)

    begin = effective_start(start, records, end_of, settings)
    end = end_of(begin)
    in_period = is_covered(begin, end, on_date)
    return ComponentVerdict(
        component=policy.component,
        covered=in_period and not voided,
        in_period=in_period,
        start=begin,
        end=end,
        remaining_days=remaining_days(end, on_date) if on_date >= begin else remaining_days(end, begin),
        service=policy.service,
        replacement_only=policy.replacement_only,
    )


def _verdict(
    line: LinePolicy,
    on_date: date,
    reason: Reason | None,
    components: tuple[ComponentVerdict, ...],
    settings: WarrantySettings,
) -> WarrantyVerdict:
    charges = None
    if reason is not None:
        charges = OutOfWarrantyTerms(
            onsite_visit_fee=settings.onsite_fee,
            replaced_part_warranty=settings.replaced_part_period,
            currency=settings.currency,
        )
    return WarrantyVerdict(line.line_id, on_date, reason is None, reason, components, charges, reason is None)
