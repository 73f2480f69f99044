"""The web chat's browser -> server frames as pydantic schemas (issue 9.5).

Parsed straight from the JSON text by pydantic-core (no recursion error on deep
nesting, no Infinity/NaN, integers that fit); anything else is a `ValidationError`
that the socket answers with a clean error frame.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, field_validator

from bot.core.events import MAX_TEXT, clean_text

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_ZONES = frozenset(available_timezones())


class _Frame(BaseModel):
    # Unknown keys (an old page's `origin_text`) are ignored, never used.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    id: ClientId | None = None
    language: Annotated[str, StringConstraints(max_length=35)] | None = None
    # The browser's IANA time zone (Intl.DateTimeFormat().resolvedOptions().timeZone).
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value in _ZONES else None  # a hint only: an unknown zone is dropped, not an error


class TextFrame(_Frame):
    type: Literal["text"]
    # Longer texts are accepted and cut by the core (it answers "too long").
    text: Annotated[str, StringConstraints(min_length=1, max_length=4 * MAX_TEXT)]

    @field_validator("text")
    @classmethod
    def _storable(cls, value: str) -> str:
        value = clean_text(value)
        if not value:
            raise ValueError("empty text")
        return value


class ChoiceFrame(_Frame):
    type: Literal["choice"]
    choice: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    origin: Annotated[int, Field(strict=True, ge=0, le=2**53)] | None = None


class LocationFrame(_Frame):
    type: Literal["location"]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class ForgetFrame(_Frame):
    """"Forget this device": end the visitor's sessions."""

    type: Literal["forget"]


class EarlierFrame(_Frame):
    """"Load earlier messages": the page of history before `before` (a cursor the server gave)."""

    type: Literal["earlier"]
    before: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class SeenFrame(_Frame):
    """The page showed our messages up to `upto` (the replies' "seen" state)."""

    type: Literal["seen"]
    upto: Annotated[int, Field(strict=True, ge=0, le=2**53)]


class ReachFrame(_Frame):
    """The away form: how to reach the customer (a phone number or an e-mail, checked by the server)."""

    type: Literal["reach"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=254, strip_whitespace=True)]


AnyFrame = TextFrame | ChoiceFrame | LocationFrame | ForgetFrame | EarlierFrame | SeenFrame | ReachFrame
FRAME: TypeAdapter[AnyFrame] = TypeAdapter(Annotated[AnyFrame, Field(discriminator="type")])


class BadFrame(ValueError):
    """Not a frame we take; `reason` is for the log, never for the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(data: str) -> AnyFrame:
    """A frame from the socket's text; BadFrame otherwise."""
    try:
        return FRAME.validate_json(data)
    except ValidationError as error:
        if "\\u" not in data or error.errors()[0]["type"] != "json_invalid":
            raise BadFrame(_reason(error)) from None
    # pydantic-core refuses a lone surrogate escape ("\ud800"), which browsers do send
    # for such a JS string: read it the lenient way, then clean the text like any other.
    try:
        loaded = json.loads(data, parse_constant=_no_constant)
        if isinstance(loaded, dict):  # frames are flat: their strings are the top-level values
            loaded = {clean_text(k): clean_text(v) if isinstance(v, str) else v for k, v in loaded.items()}
        return FRAME.validate_python(loaded)
    except RecursionError:
        raise BadFrame("nested too deep") from None
    except ValidationError as error:
        raise BadFrame(_reason(error)) from None
    except ValueError as error:
        raise BadFrame(f"not JSON: {type(error).__name__}") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{first['type']} at {'.'.join(map(str, first['loc'])) or 'frame'}"


def client_id(data: str) -> str | None:
    """The `id` of a frame that failed validation, if one can be read safely (for the error frame)."""
    try:
        return _IdOnly.model_validate_json(data).id
    except ValueError:
        pass
    try:  # e.g. a lone surrogate elsewhere in the frame
        loaded = json.loads(data, parse_constant=_no_constant)
        return _IdOnly.model_validate(loaded).id if isinstance(loaded, dict) else None
    except (ValueError, RecursionError):
        return None


class _IdOnly(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: ClientId | None = None
