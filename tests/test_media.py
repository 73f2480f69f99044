"""What files are accepted: the type from the first bytes, sizes per kind."""

from __future__ import annotations

import pytest

from services.media import MediaKind, Rejected, check_upload

JPEG, PNG, PDF = b"\xff\xd8\xff\xe0" + b"\0" * 12, b"\x89PNG\r\n\x1a\n" + b"\0" * 8, b"%PDF-1.7\n" + b"\0" * 7
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 4


@pytest.mark.parametrize(("head", "kind", "mime"), [
    (JPEG, MediaKind.PHOTO, "image/jpeg"), (PNG, MediaKind.PHOTO, "image/png"),
    (PDF, MediaKind.DOCUMENT, "application/pdf"), (MP4, MediaKind.VIDEO, "video/mp4"),
])
def test_accepted_types(head: bytes, kind: MediaKind, mime: str) -> None:
    accepted = check_upload(head, 1000)
    assert (accepted.kind, accepted.mime) == (kind, mime)


@pytest.mark.parametrize(("head", "size", "limit"), [
    (b"<html><script>", 100, None),  # not a type we take, whatever its name says
    (b"MZ\x90\0", 100, None),  # a program
    (JPEG, 0, None),
    (JPEG, 11 * 1024 * 1024, None),  # photos up to 10 MB
    (PDF, 2000, 1000),  # the configured limit
])
def test_rejected(head: bytes, size: int, limit: int | None) -> None:
    with pytest.raises(Rejected):
        check_upload(head, size, limit)
