"""The company's product catalogue (`data/products.yaml`): models and a validating loader.

The YAML is read with every scalar kept as text (so `NO`, `0800` or `1.10` never turn into
booleans or numbers), duplicate keys are refused, and each problem is reported to the
operator as `<file>: <field path>: <what is wrong> (line N)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.config import Settings
from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES
from services.location import ServiceArea, load_area
from services.sla import SlaConfig, load_sla
from services.warranty import WarrantyConfig, load_config

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "products.yaml"

_ID_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_ID = 32  # the id travels in button data (Telegram: 64 bytes with the question's name)
_PREFIX_RE = re.compile(r"[A-Z]{2}")
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9./+_-]{0,23}")

FieldPath = tuple[str | int, ...]  # a field path such as ("lines", 2, "names", "ka")


class CompanyDataError(ValueError):
    """The company data file is missing, malformed or inconsistent; the message is for an operator."""


def _problem(msg: str, subpath: FieldPath = ()) -> PydanticCustomError:
    # `subpath` is appended to the error's own location (used by list- and catalogue-level checks).
    return PydanticCustomError("company_data", "{msg}", {"msg": msg, "subpath": subpath})


def _check_names(names: dict[str, str], *, required: bool) -> dict[str, str]:
    if not names and not required:
        return names
    for loc in names:
        if loc not in SUPPORTED_LOCALES:
            raise _problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (loc,))
    for loc in SUPPORTED_LOCALES:
        if loc not in names:
            raise _problem("missing", (loc,))
        if not names[loc]:
            raise _problem("must not be empty", (loc,))
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProductModel(_Strict):
    code: str
    names: dict[str, str] = {}  # optional; when given, all SUPPORTED_LOCALES are required

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _CODE_RE.fullmatch(v):
            raise _problem("must be 1-24 characters: letters, digits and . / + _ - (no spaces)")
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
    models: list[ProductModel]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.fullmatch(v):
            raise _problem("must be snake_case (lower-case letters, digits, underscores), e.g. household_ac")
        if len(v) > MAX_ID:
            raise _problem(f"must be at most {MAX_ID} characters")
        return v

    @field_validator("serial_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _PREFIX_RE.fullmatch(v):
            raise _problem("must be two upper-case letters A-Z, e.g. HA")
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
            raise _problem("must list at least one model")
        seen: dict[str, int] = {}
        for i, m in enumerate(v):
            if (j := seen.setdefault(m.code.upper(), i)) != i:
                raise _problem(f"duplicate code {m.code!r} (also models[{j}])", (i, "code"))
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
            raise _problem("must list at least one product line", ("lines",))
        for field in ("id", "serial_prefix"):
            seen: dict[str, int] = {}
            for i, line in enumerate(self.lines):
                value = getattr(line, field)
                if (j := seen.setdefault(value, i)) != i:
                    raise _problem(f"duplicate {value!r} (also lines[{j}])", ("lines", i, field))
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


def _fmt(path: FieldPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _plain(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], errors: list[str]) -> Any:
    """Turn a composed YAML node into str / list / dict, recording each path's line number."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            sub = path + (key,)
            if key in out:
                errors.append(f"{_fmt(sub)}: duplicate key (line {key_node.start_mark.line + 1})")
            lines.setdefault(sub, key_node.start_mark.line + 1)
            out[key] = _plain(value_node, sub, lines, errors)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines.setdefault(path + (i,), item.start_mark.line + 1)
            items.append(_plain(item, path + (i,), lines, errors))
        return items
    if node.value == "" and node.style is None:
        return None  # a key with nothing after it
    return node.value  # scalar: always text


_KIND = {str: "text", list: "a list", dict: "a mapping", type(None): "nothing"}
_MESSAGES = {
    "missing": "missing",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _describe(err: Any, lines: dict[FieldPath, int]) -> tuple[str, str]:
    """(field path, message) for one pydantic error."""
    ctx = err.get("ctx") or {}
    path: FieldPath = tuple(err["loc"]) + tuple(ctx.get("subpath", ()))
    if err["type"] == "company_data":
        msg = ctx["msg"]
    elif err["type"] in _MESSAGES:
        msg = _MESSAGES[err["type"]]
        if err["type"] not in ("missing", "extra_forbidden"):
            msg += f" (got {_KIND.get(type(err['input']), type(err['input']).__name__)})"
    else:
        msg = err["msg"]
    # Missing fields have no line of their own: point at the nearest enclosing one.
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return _fmt(path), f"{msg} (line {lines[path[:n]]})"
    return _fmt(path), msg


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_catalog(path: Path = DEFAULT_CATALOG_PATH) -> Catalog:
    """Read and validate the catalogue; raise CompanyDataError listing every problem found."""
    where = _display(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CompanyDataError(f"{where}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CompanyDataError(f"{where}: cannot read: not UTF-8 text (byte {e.start})") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"line {mark.line + 1}: " if mark else ""
        raise CompanyDataError(f"{where}: {at}YAML syntax error: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise CompanyDataError(f"{where}: YAML syntax error: {e}") from e
    if root is None:
        raise CompanyDataError(f"{where}: file is empty (expected a top-level 'lines:' list)")

    lines: dict[FieldPath, int] = {}
    errors: list[str] = []
    data = _plain(root, (), lines, errors)
    if not errors:
        try:
            return Catalog.model_validate(data)
        except ValidationError as e:
            for err in e.errors():
                field, msg = _describe(err, lines)
                errors.append(f"{field or 'top level'}: {msg}")
    raise CompanyDataError("\n".join(f"{where}: {m}" for m in errors))


@dataclass(frozen=True, slots=True)
class Company:
    """Company configuration the flows need (loaded once at start-up)."""

    catalog: Catalog
    timezone: str
    phone_region: str
    sla: SlaConfig
    area: ServiceArea
    warranty: WarrantyConfig


def load_company(settings: Settings) -> Company:
    """The company of `settings`; CompanyDataError names the file and field at fault."""
    data = settings.data_dir
    catalog = load_catalog(data / "products.yaml")
    try:
        sla = load_sla(data / "sla.yaml")
        area = load_area(data / "service_centres.yaml")
        warranty = load_config(data / "warranty.yaml")
    except ValueError as error:  # the loaders name the file, line and field
        raise CompanyDataError(str(error)) from error
    return Company(catalog, settings.company_timezone, settings.default_phone_region, sla, area, warranty)
