"""Warranty policy data: per-line component periods, exclusions and settings.

Loaded from ``data/warranty.yaml`` (see that file for the layout). All models
are frozen; a bad file raises `ValueError` naming the file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.datafile import load_model, problem
from services.periods import Period

ServiceKind = Literal["on_site", "carry_in"]
StartBasis = Literal["invoice", "acceptance"]
_ID = r"^[a-z][a-z0-9_]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentPolicy(_Frozen):
    """One row of the warranty table: a component, its period and service kind."""

    component: str = Field(pattern=_ID)
    period: Period
    service: ServiceKind
    replacement_only: bool = False
    """The part is replaced free of charge rather than repaired (e.g. 'free replacement for life')."""
    source: str | None = None
    note: str | None = None
    names: dict[str, str] = {}
    """The component's name per locale, for a component the program has no name for
    (a new product line's); bot/company.py requires all five then."""

    def name_in(self, locale: str) -> str | None:
        return self.names.get(locale)


class LinePolicy(_Frozen):
    """The warranty of one product line: its components and what the period starts from."""

    line_id: str = Field(pattern=_ID)
    components: tuple[ComponentPolicy, ...]
    start_basis: StartBasis = "invoice"
    exclusions: frozenset[str] = frozenset()
    """Things never covered on this line (gifts, parts bought elsewhere, ...)."""

    @model_validator(mode="after")
    def _unique_components(self) -> LinePolicy:
        if not self.components:
            raise ValueError("a line needs at least one component")
        ids = [c.component for c in self.components]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"component listed twice: {', '.join(duplicates)}")
        clash = sorted(self.exclusions & set(ids))
        if clash:
            raise ValueError(f"component both covered and excluded: {', '.join(clash)}")
        return self

    def component(self, component_id: str) -> ComponentPolicy:
        """The policy of `component_id`; `ValueError` naming the known ones if absent."""
        for policy in self.components:
            if policy.component == component_id:
                return policy
        known = ", ".join(c.component for c in self.components)
        raise ValueError(f"line {self.line_id!r} has no component {component_id!r} (known: {known})")


class WarrantySettings(_Frozen):
    """Per-company settings of the warranty rules (shipped defaults from domain.md §3)."""

    return_until_day: int = Field(default=7, ge=1)
    """Last day (sale day = day 1) on which a faulty product may be returned."""
    exchange_until_day: int = Field(default=20, ge=1)
    """Last day on which it may be exchanged (002 says 20; national rules elsewhere 15)."""
    extension_downtime_days: int = Field(default=20, ge=1)
    """Own-fault downtime beyond this many days in total restarts the warranty."""
    replaced_part_months: int = Field(default=3, ge=1)
    """Warranty of a part replaced out of warranty."""
    onsite_fee: Decimal = Field(default=Decimal(50), ge=0)
    """Fee per on-site visit out of warranty."""
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")

    @model_validator(mode="after")
    def _ordered(self) -> WarrantySettings:
        if self.return_until_day > self.exchange_until_day:
            raise ValueError("return_until_day must not be later than exchange_until_day")
        return self

    @property
    def replaced_part_period(self) -> Period:
        """The warranty of a part replaced out of warranty, as a `Period`."""
        return Period(amount=self.replaced_part_months, unit="months")


class Exclusion(_Frozen):
    """Something no warranty covers."""

    id: str = Field(pattern=_ID)
    source: str | None = None
    note: str | None = None


class WarrantyConfig(_Frozen):
    """The whole of ``data/warranty.yaml``."""

    settings: WarrantySettings
    exclusions: tuple[Exclusion, ...] = ()
    """Apply to every line (merged into each `LinePolicy.exclusions`)."""
    lines: dict[str, LinePolicy] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _line_ids_from_keys(cls, data: Any) -> Any:
        """Each line's id is its key under `lines`; global exclusions join each line's own."""
        if not isinstance(data, Mapping) or not isinstance(data.get("lines"), Mapping):
            return data
        shared = [e.get("id") if isinstance(e, Mapping) else e for e in data.get("exclusions") or ()]
        lines = {}
        for key, body in data["lines"].items():
            if isinstance(body, Mapping):
                own = body.get("exclusions") or []
                body = {"line_id": key, **body}  # an explicit, different line_id is caught below
                if isinstance(own, list):
                    body["exclusions"] = [*shared, *own]
            lines[key] = body
        return {**data, "lines": lines}

    @field_validator("settings")
    @classmethod
    def _currency_chosen(cls, settings: WarrantySettings) -> WarrantySettings:
        # Fees are shown to customers in this currency: the company names it, no default.
        if "currency" not in settings.model_fields_set:
            raise problem("missing: the currency of fees, e.g. CNY, GEL, RUB", ("currency",))
        return settings

    @model_validator(mode="after")
    def _keys_match(self) -> WarrantyConfig:
        for key, line in self.lines.items():
            if key != line.line_id:
                raise ValueError(f"line {key!r} declares line_id {line.line_id!r}")
        return self


def load_config(path: str | Path) -> WarrantyConfig:
    """Load the whole warranty file; `ValueError` names file, line and field on error."""
    return load_model(path, WarrantyConfig)


def load_policies(path: str | Path) -> dict[str, LinePolicy]:
    """Line id -> `LinePolicy` from a warranty YAML file."""
    return dict(load_config(path).lines)


def load_settings(path: str | Path) -> WarrantySettings:
    """The `settings` section of a warranty YAML file."""
    return load_config(path).settings
