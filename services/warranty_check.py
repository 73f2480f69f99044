"""A product's warranty answer: start, per-component verdict, return/exchange window.

Puts the rules of `services.warranty` together for one registered product, so
the chat (and later the agent console) shows the same answer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.downtime import DowntimeRow
from services.warranty import (
    WarrantyConfig,
    WarrantyVerdict,
    evaluate,
    three_guarantees_window,
    warranty_start,
)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """What the registry knows of a product (storage fills it)."""

    id: int
    serial: str
    product_line: str
    model: str | None
    invoice_date: date | None
    manufactured: date | None
    acceptance_date: date | None


@dataclass(frozen=True, slots=True)
class WarrantyAnswer:
    start: date
    basis: str  # invoice | manufacture | acceptance
    verdict: WarrantyVerdict
    window: str | None  # return | exchange | repair (days counted from the invoice); None: no invoice
    window_until: date | None  # last day of the current return / exchange window

    def free_visit(self) -> bool:
        """In warranty, an on-site visit costs nothing."""
        return self.verdict.in_warranty


def check(
    config: WarrantyConfig, product: ProductRecord, today: date, downtime: Sequence[DowntimeRow] = (),
    components: Collection[str] | None = None,
) -> WarrantyAnswer:
    """The warranty position of `product` on `today`; NoStartDate when its record lacks the start.
    `components`: those its model has (`bot.company.Company.components_of`); None: all of the line's."""
    policy = config.lines[product.product_line]
    start, basis = warranty_start(product.invoice_date, product.manufactured, product.acceptance_date, policy)
    verdict = evaluate(policy, start, today, downtime=downtime, settings=config.settings, components=components)
    window = until = None
    if product.invoice_date is not None:
        window = three_guarantees_window(product.invoice_date, today, config.settings)
        days = {"return": config.settings.return_until_day, "exchange": config.settings.exchange_until_day}
        if window in days:
            until = product.invoice_date + timedelta(days=days[window] - 1)
    return WarrantyAnswer(start, basis, verdict, window, until)
