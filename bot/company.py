"""The company's product catalogue (`data/products.yaml`): models and a validating loader.

The YAML is read by `services.datafile` with every scalar kept as text (so `NO`, `0800`
or `1.10` never turn into booleans or numbers); each problem is reported to the operator
as `<file>: <field path>: <what is wrong> (line N)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bot.brand import FILE as BRAND_FILE
from bot.brand import BrandFiles, load_brand
from bot.config import Settings
from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES
from bot.people import CannedReplies, Teams, load_canned, load_teams
from services.datafile import load_model, problem
from services.engineers import Roster, load_roster
from services.entities import ProductTerms
from services.intents import Recogniser, load_intents
from services.location import ServiceArea, load_area
from services.sla import SlaConfig, load_sla
from services.survey_plans import SurveyConfig, load_surveys
from services.warranty import WarrantyConfig, load_config

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "products.yaml"

_ID_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_ID = 32  # the id travels in button data (Telegram: 64 bytes with the question's name)
_PREFIX_RE = re.compile(r"[A-Z]{2}")
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./+_-]{0,23}")

class CompanyDataError(ValueError):
    """The company data file is missing, malformed or inconsistent; the message is for an operator."""


def _check_names(names: dict[str, str], *, required: bool) -> dict[str, str]:
    if not names and not required:
        return names
    for loc in names:
        if loc not in SUPPORTED_LOCALES:
            raise problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (loc,))
    for loc in SUPPORTED_LOCALES:
        if loc not in names:
            raise problem("missing", (loc,))
        if not names[loc]:
            raise problem("must not be empty", (loc,))
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProductModel(_Strict):
    code: str
    names: dict[str, str] = {}  # optional; when given, all SUPPORTED_LOCALES are required
    # The warranty components (data/warranty.yaml) this model has; empty: all of its line's.
    components: tuple[str, ...] = ()

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _CODE_RE.fullmatch(v):
            raise problem("must be 1-24 characters: letters, digits and . / + _ - (no spaces)")
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_names(v, required=False)

    def name_in(self, locale: str) -> str:
        """Display name in `locale`, else in English, else the bare model code."""
        return self.names.get(locale) or self.names.get(DEFAULT_LOCALE) or self.code


class ProductLine(_Strict):
    id: str
    serial_prefix: str
    names: dict[str, str]
    # Other words customers use for the line, per locale (any subset of them).
    synonyms: dict[str, tuple[str, ...]] = {}
    models: list[ProductModel]

    @field_validator("synonyms")
    @classmethod
    def _synonyms(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for loc, words in v.items():
            if loc not in SUPPORTED_LOCALES:
                raise problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (loc,))
            for i, word in enumerate(words):
                if not word.strip():
                    raise problem("must not be empty", (loc, i))
        return v

    def terms(self) -> list[str]:
        """Every name and synonym of the line, in all languages (customers mix them)."""
        return [*self.names.values(), *(word for words in self.synonyms.values() for word in words)]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.fullmatch(v):
            raise problem("must be snake_case (lower-case letters, digits, underscores), e.g. household_ac")
        if len(v) > MAX_ID:
            raise problem(f"must be at most {MAX_ID} characters")
        return v

    @field_validator("serial_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _PREFIX_RE.fullmatch(v):
            raise problem("must be two upper-case letters A-Z, e.g. HA")
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_names(v, required=True)

    @field_validator("models", mode="before")
    @classmethod
    def _no_models(cls, v: Any) -> Any:
        return [] if v is None else v  # `models:` left empty reads as "no models"

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[ProductModel]) -> list[ProductModel]:
        if not v:
            raise problem("must list at least one model")
        seen: dict[str, int] = {}
        for i, m in enumerate(v):
            if (j := seen.setdefault(m.code.upper(), i)) != i:
                raise problem(f"duplicate code {m.code!r} (also models[{j}])", (i, "code"))
        return v

    def name_in(self, locale: str) -> str:
        """Display name in `locale`, falling back to English."""
        return self.names.get(locale) or self.names[DEFAULT_LOCALE]

    def model(self, code: str) -> ProductModel | None:
        """The model with this code (case-insensitive), or None."""
        code = code.strip().upper()
        return next((m for m in self.models if m.code.upper() == code), None)


class Catalog(_Strict):
    lines: list[ProductLine]  # in file order

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        if not self.lines:
            raise problem("must list at least one product line", ("lines",))
        for field in ("id", "serial_prefix"):
            seen: dict[str, int] = {}
            for i, line in enumerate(self.lines):
                value = getattr(line, field)
                if (j := seen.setdefault(value, i)) != i:
                    raise problem(f"duplicate {value!r} (also lines[{j}])", ("lines", i, field))
        return self

    def line(self, id: str) -> ProductLine:
        """The line with this id; KeyError if there is none."""
        for line in self.lines:
            if line.id == id:
                return line
        raise KeyError(id)

    def line_for_serial_prefix(self, prefix: str) -> ProductLine | None:
        """The line whose serial numbers start with `prefix` (case-insensitive), or None."""
        prefix = prefix.strip().upper()
        return next((line for line in self.lines if line.serial_prefix == prefix), None)


# --- loading -------------------------------------------------------------------------------


def load_catalog(path: Path = DEFAULT_CATALOG_PATH) -> Catalog:
    """Read and validate the catalogue (every scalar as text); CompanyDataError lists every problem."""
    try:
        return load_model(path, Catalog, text_scalars=True)
    except ValueError as error:
        raise CompanyDataError(str(error)) from error


@dataclass(frozen=True, slots=True)
class Company:
    """Company configuration the flows need (loaded once at start-up)."""

    catalog: Catalog
    timezone: str
    phone_region: str
    sla: SlaConfig
    area: ServiceArea
    warranty: WarrantyConfig
    intents: Recogniser  # what typed messages mean (data/intents.yaml)
    products: ProductTerms  # the catalogue's names, indexed for typed messages
    teams: Teams | None = None  # data/teams.yaml: language teams and their hours
    canned: CannedReplies | None = None  # data/canned_replies.yaml
    roster: Roster | None = None  # data/engineers.yaml: engineers, visit lengths
    surveys: SurveyConfig | None = None  # data/surveys.yaml: return-visit plans
    brand: BrandFiles | None = None  # data/company.yaml and its logo (the chat's look)

    def components_of(self, line_id: str, model_code: str | None) -> tuple[str, ...] | None:
        """The warranty components a unit of this model has; None (all of the line's) when
        the model does not say or is not in the catalogue."""
        try:
            model = self.catalog.line(line_id).model(model_code or "")
        except KeyError:
            return None
        return model.components if model and model.components else None


def load_company(settings: Settings) -> Company:
    """The company of `settings`; CompanyDataError names the file and field at fault."""
    data = settings.data_dir
    catalog = load_catalog(data / "products.yaml")
    try:
        sla = load_sla(data / "sla.yaml")
        area = load_area(data / "service_centres.yaml")
        warranty = load_config(data / "warranty.yaml")
        teams = load_teams(data / "teams.yaml")
        canned = load_canned(data / "canned_replies.yaml")
        intents = load_intents(data / "intents.yaml")
        roster = load_roster(data / "engineers.yaml")
        try:
            roster.check_against({line.id for line in catalog.lines}, {c.id for c in area.centres})
        except ValueError as error:
            raise ValueError(f"engineers.yaml: {error}") from error
        surveys = load_surveys(data / "surveys.yaml") if (data / "surveys.yaml").exists() else None
        brand = BrandFiles(*load_brand(data)) if (data / BRAND_FILE).exists() else None
    except ValueError as error:  # the loaders name the file, line and field
        raise CompanyDataError(str(error)) from error
    _check_components(catalog, warranty, data / "products.yaml")
    check_lines_covered(catalog, warranty, sla)
    check_component_names(warranty)
    return Company(catalog, settings.company_timezone, settings.default_phone_region, sla, area, warranty, intents,
                   product_terms(catalog), teams, canned, roster, surveys, brand)


def product_terms(catalog: Catalog) -> ProductTerms:
    return ProductTerms(
        prefixes={line.id: line.serial_prefix for line in catalog.lines},
        lines={line.id: line.terms() for line in catalog.lines},
        models={(line.id, m.code): tuple(m.names.values()) for line in catalog.lines for m in line.models},
    )


def _check_components(catalog: Catalog, warranty: WarrantyConfig, path: Path) -> None:
    """Every model's components must be warranty components of its line."""
    for i, line in enumerate(catalog.lines):
        policy = warranty.lines.get(line.id)
        known = {c.component for c in policy.components} if policy else set()
        for j, model in enumerate(line.models):
            for k, component in enumerate(model.components):
                if component not in known:
                    raise CompanyDataError(
                        f"{path.name}: lines[{i}].models[{j}].components[{k}]: {component!r} is not a warranty "
                        f"component of {line.id} in warranty.yaml (known: {', '.join(sorted(known)) or 'none'})"
                    )


def check_lines_covered(catalog: Catalog, warranty: WarrantyConfig, sla: SlaConfig) -> None:
    """Every product line has warranty rules and service times, and those files name no
    line the catalogue lacks: adding a line is an edit of the three files, no code."""
    known = [line.id for line in catalog.lines]
    for i, line in enumerate(catalog.lines):
        if line.id not in warranty.lines:
            raise CompanyDataError(
                f"warranty.yaml: lines: product line {line.id!r} (products.yaml lines[{i}]) has no warranty rules; "
                f"add an entry `{line.id}:` with its start_basis and components"
            )
        if line.id not in sla.lines:
            raise CompanyDataError(
                f"sla.yaml: lines: product line {line.id!r} (products.yaml lines[{i}]) has no service times; "
                f"add an entry `{line.id}:` with its classes (city, within_300km, ...), or `{line.id}: {{}}` "
                "for only the any_line and default promises"
            )
    for file, ids in (("warranty.yaml", warranty.lines), ("sla.yaml", sla.lines)):
        for line_id in ids:
            if line_id not in known:
                raise CompanyDataError(
                    f"{file}: lines: {line_id!r} is not a product line of products.yaml (known: {', '.join(known)})"
                )


def check_component_names(warranty: WarrantyConfig) -> None:
    """A warranty component is shown to customers by name: the program knows the names of
    the shipped ones (handlers/warranty.py); any other needs `names` in all five languages."""
    from handlers.warranty import COMPONENTS  # the handlers import this module: at call time

    for line_id, policy in warranty.lines.items():
        for k, component in enumerate(policy.components):
            missing = [loc for loc in SUPPORTED_LOCALES if not component.names.get(loc, "").strip()]
            unknown = sorted(set(component.names) - set(SUPPORTED_LOCALES))
            where = f"warranty.yaml: lines.{line_id}.components[{k}] ({component.component})"
            if unknown:
                raise CompanyDataError(f"{where}: names: unknown locale {unknown[0]!r} (expected {', '.join(SUPPORTED_LOCALES)})")
            if component.names and missing:
                raise CompanyDataError(f"{where}: names: missing {', '.join(missing)} (all five languages are needed)")
            if not component.names and component.component not in COMPONENTS:
                raise CompanyDataError(
                    f"{where}: a new component needs its name for customers: add "
                    f"names: {{{', '.join(f'{loc}: ...' for loc in SUPPORTED_LOCALES)}}}"
                )
