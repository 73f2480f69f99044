"""Plain records the store hands to the layers above (no SQLAlchemy objects leave it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class TicketInfo:
    id: int
    number: str
    kind: str
    status: str
    created_at: datetime
    updated_at: datetime
    product_line: str | None = None
    model: str | None = None
    visit_date: date | None = None
    visit_window: str | None = None
