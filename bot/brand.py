"""The company as the chat shows it (`data/company.yaml`): name, logo, colours, bubble side.

Validated like the other data files (every problem as `<file>: <field>: <what>`); the
colour pair must be readable (WCAG AA contrast, 4.5:1), since the operator picks it
and the customer has to read it. The opening hours come from `data/teams.yaml`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES
from services.datafile import load_model, problem

FILE = "company.yaml"
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text
MAX_LOGO_BYTES = 200 * 1024
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_HEX = re.compile(r"#[0-9A-Fa-f]{6}")


class Side(StrEnum):
    RIGHT = "right"
    LEFT = "left"


def luminance(colour: str) -> float:
    """Relative luminance of "#RRGGBB" (WCAG 2)."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two "#RRGGBB" colours, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Colours(_Strict):
    primary: str
    on_primary: str

    @field_validator("primary", "on_primary")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX.fullmatch(value):
            raise problem('must be a colour as "#RRGGBB", e.g. "#0A58CA"')
        return value.upper()

    @model_validator(mode="after")
    def _readable(self) -> Colours:
        ratio = contrast(self.primary, self.on_primary)
        if ratio < MIN_CONTRAST:
            raise problem(f"on_primary on primary has a contrast of {ratio:.1f}:1; at least {MIN_CONTRAST}:1 is "
                          "needed to be readable (WCAG AA)", ("on_primary",))
        return self


class Brand(_Strict):
    name: dict[str, str]
    logo: str
    colours: Colours
    position: Side = Side.RIGHT

    @field_validator("name")
    @classmethod
    def _every_language(cls, value: dict[str, str]) -> dict[str, str]:
        for code in value:
            if code not in SUPPORTED_LOCALES:
                raise problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (code,))
        for code in SUPPORTED_LOCALES:
            if not value.get(code):
                raise problem("missing", (code,))
        return value

    @field_validator("logo")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or Path(value).suffix.lower() not in LOGO_TYPES:
            raise problem(f"must be a file name in the data folder ending in {', '.join(LOGO_TYPES)}")
        return value

    def name_in(self, locale: str) -> str:
        return self.name.get(locale) or self.name[DEFAULT_LOCALE]

    @property
    def logo_type(self) -> str:
        return LOGO_TYPES[Path(self.logo).suffix.lower()]


class BrandFiles(NamedTuple):
    brand: Brand
    logo: bytes


def load_brand(data_dir: Path) -> tuple[Brand, bytes]:
    """The brand and its logo's bytes; ValueError naming the file and field at fault."""
    brand = load_model(data_dir / FILE, Brand, text_scalars=True)
    try:
        logo = (data_dir / brand.logo).read_bytes()
    except OSError as error:
        raise ValueError(f"{FILE}: logo: cannot read {brand.logo}: {error.strerror or error}") from error
    if len(logo) > MAX_LOGO_BYTES:
        raise ValueError(f"{FILE}: logo: {brand.logo} is {len(logo) // 1024} KB; at most {MAX_LOGO_BYTES // 1024} KB")
    return brand, logo
