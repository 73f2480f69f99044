"""Files in the web chat: a visitor's photo or document (POST /upload), and the files
agents send (GET /files/NAME, linked from reply frames).

The type is read from the file's first bytes and the size is capped while reading
(services/media.py); files are stored by bot/media.py under random names, which are
the only way to fetch them (unguessable links, as Telegram's file ids are).
"""

from __future__ import annotations

import uuid

from aiohttp import BodyPartReader, web

from bot.channels.web import CHANNEL, WIDGET, WebChat
from bot.core.events import Attachment, Event, Kind
from bot.media import PREFIX, MediaStore
from services.media import Rejected, check_upload

# A file never runs in the page's origin (an HTML copy of a customer's data included).
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400",  # not customer-facing
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"}  # not customer-facing


class WebMedia:
    def __init__(self, chat: WebChat, media: MediaStore, max_bytes: int) -> None:
        self.chat, self.core, self.media, self.max_bytes = chat, chat.core, media, max_bytes

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/upload", self.upload), web.post(WIDGET + "upload", self.upload), web.get("/files/{name}", self.file)]

    async def upload(self, request: web.Request) -> web.Response:
        visitor = await self.chat.uploader(request)
        if not request.content_type.startswith("multipart/"):
            return web.json_response({"ok": False, "error": "multipart/form-data expected"}, status=400)  # not customer-facing
        data, name, client_id = b"", "file", uuid.uuid4().hex
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "id":
                client_id = (await part.text())[:64]
            elif part.name == "file":
                name = (part.filename or "file")[:100]
                while chunk := await part.read_chunk():
                    data += chunk
                    if len(data) > self.max_bytes:
                        return web.json_response({"ok": False, "error": "size"}, status=413)
        try:
            accepted = check_upload(data[:16], len(data), self.max_bytes)
        except Rejected as refused:
            return web.json_response({"ok": False, "error": str(refused)}, status=415 if str(refused) == "type" else 413)
        ref = await self.media.save(data, accepted.extension)
        await self.core.handle(Event(
            channel=CHANNEL, user_id=visitor, chat_id=visitor, kind=Kind.MEDIA,
            attachments=(Attachment(accepted.kind.value, ref, name, accepted.mime, len(data)),),
            delivery_id=f"{visitor}:{client_id}", message_id=client_id,
        ))
        return web.json_response({"ok": True, "url": url(ref)})

    async def file(self, request: web.Request) -> web.StreamResponse:
        path = self.media.path(PREFIX + request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="no such file")
        return web.FileResponse(path, headers=_HEADERS)


def url(ref: str) -> str:
    return "/files/" + ref.removeprefix(PREFIX)
