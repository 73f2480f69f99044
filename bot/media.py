"""Where uploaded files live: a directory (any object store can sit behind the same
two methods). A stored file is referred to as `media:<random name>.<extension>`."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

PREFIX = "media:"
_NAME = re.compile(r"[A-Za-z0-9_-]{20,64}\.[a-z0-9]{2,4}")


class MediaStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def save(self, data: bytes, extension: str) -> str:
        name = f"{secrets.token_urlsafe(24)}.{extension}"
        await asyncio.to_thread(self._write, name, data)
        return PREFIX + name

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / name).write_bytes(data)

    def path(self, ref: str) -> Path | None:
        """The file of a `media:` reference, or None (unknown, or not a name we make)."""
        name = ref.removeprefix(PREFIX)
        if not ref.startswith(PREFIX) or not _NAME.fullmatch(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def delete(self, ref: str) -> bool:
        """Remove the file of a `media:` reference (an erased customer's); False if there was none."""
        path = self.path(ref)
        if path is None:
            return False
        path.unlink(missing_ok=True)
        return True

    async def read(self, ref: str) -> bytes | None:
        path = self.path(ref)
        return await asyncio.to_thread(path.read_bytes) if path else None
