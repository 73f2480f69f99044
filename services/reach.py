"""How a customer wants to be reached when no person is at work: a phone number or an
e-mail address, checked before it is stored (the web chat's away form)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from services.contact import normalize_phone

MAX_EMAIL = 254  # RFC 5321 path limit
# A dot-atom local part (what people type; quoted local parts are left out on purpose).
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class ReachKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"


class Reach(NamedTuple):
    kind: ReachKind
    value: str  # E.164 for a phone, the address with its domain in lower case for an e-mail


def normalize_email(text: str) -> str:
    """The address with an ASCII (IDNA) lower-case domain; ValueError if it cannot be one."""
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL.fullmatch(local):
        raise ValueError("not an e-mail address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise ValueError("not a domain name") from error
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("not a domain name")
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_EMAIL:
        raise ValueError("too long")
    return address


def parse_reach(text: str, region: str) -> Reach:
    """A phone number (with `region` for numbers without a country code) or an e-mail
    address; ValueError if the text is neither."""
    text = text.strip()
    if "@" in text:
        return Reach(ReachKind.EMAIL, normalize_email(text))
    return Reach(ReachKind.PHONE, normalize_phone(text, region))
