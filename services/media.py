"""What files we accept (photos of the fault and the invoice, PDFs, short videos):
the type is read from the file's first bytes, never taken from the sender's word."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MediaKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Accepted:
    kind: MediaKind
    mime: str
    extension: str


class Rejected(ValueError):
    """Not a type we take, or too big."""


# Magic numbers of the accepted types: (prefix, offset) -> what it is.
_SIGNATURES: tuple[tuple[bytes, int, Accepted], ...] = (
    (b"\xff\xd8\xff", 0, Accepted(MediaKind.PHOTO, "image/jpeg", "jpg")),
    (b"\x89PNG\r\n\x1a\n", 0, Accepted(MediaKind.PHOTO, "image/png", "png")),
    (b"%PDF-", 0, Accepted(MediaKind.DOCUMENT, "application/pdf", "pdf")),
    (b"ftyp", 4, Accepted(MediaKind.VIDEO, "video/mp4", "mp4")),
)
MAX_BYTES = {MediaKind.PHOTO: 10 * 1024 * 1024, MediaKind.DOCUMENT: 20 * 1024 * 1024, MediaKind.VIDEO: 50 * 1024 * 1024}


def check_upload(head: bytes, size: int, limit: int | None = None) -> Accepted:
    """The accepted type of a file starting with `head` (its first 16 bytes or more), or Rejected."""
    found = next((a for prefix, offset, a in _SIGNATURES if head[offset:offset + len(prefix)] == prefix), None)
    if found is None:
        raise Rejected("type")
    accepted = found
    if size <= 0 or size > min(MAX_BYTES[accepted.kind], limit or MAX_BYTES[accepted.kind]):
        raise Rejected("size")
    return accepted
