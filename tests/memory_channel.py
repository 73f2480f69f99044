"""An in-memory channel for flow tests: events in through the real core, replies
out of the real outbox."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.dispatcher import Dispatcher
from bot.core.events import Attachment, Event, Kind, Reply
from storage.models import OutboxRow

_ids = itertools.count(1)


@dataclass
class Chat:
    dispatcher: Dispatcher
    engine: AsyncEngine
    user_id: str = "u1"
    language: str | None = "en"
    channel: str = "memory"
    replies: list[Reply] = field(default_factory=list)
    last: list[Reply] = field(default_factory=list)  # the answer to the latest input
    _seen: int = 0

    async def _send(self, **fields: object) -> list[Reply]:
        number = next(_ids)
        event = Event(
            channel=self.channel, user_id=self.user_id, chat_id=self.user_id,
            delivery_id=f"d{number}", message_id=f"m{number}", language_hint=self.language, **fields,
        )
        await self.dispatcher.handle(event)
        return await self.collect()

    async def collect(self) -> list[Reply]:
        """New replies for this chat from the outbox, marked sent the way a channel would."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                select(OutboxRow.id, OutboxRow.payload)
                .where(OutboxRow.chat_id == self.user_id, OutboxRow.channel == self.channel, OutboxRow.id > self._seen)
                .order_by(OutboxRow.id)
            )).all()
            if rows:
                self._seen = rows[-1][0]
                await conn.execute(update(OutboxRow).where(OutboxRow.id.in_([r[0] for r in rows])).values(status="sent"))
        new = [Reply.from_payload(payload) for _id, payload in rows if payload.get("replaces") is None]
        self.replies.extend(new)
        self.last = new
        return new

    async def say(self, text: str) -> list[Reply]:
        if text.startswith("/"):
            return await self._send(kind=Kind.COMMAND, command=text[1:].split()[0], text=text)
        return await self._send(kind=Kind.TEXT, text=text)

    async def press(self, choice_id: str) -> list[Reply]:
        return await self._send(kind=Kind.CHOICE, choice=choice_id)

    async def tap(self, label_part: str) -> list[Reply]:
        """Press the button of the latest keyboard whose label contains `label_part`."""
        for reply in reversed(self.replies):
            for choice in reply.choices:
                if label_part in choice.label:
                    return await self.press(choice.id)
        raise AssertionError(f"no button {label_part!r} in {self.last_choices()}")

    async def photo(self, ref: str = "file-1") -> list[Reply]:
        return await self._send(kind=Kind.MEDIA, attachments=(Attachment("photo", ref),))

    async def contact(self, phone: str) -> list[Reply]:
        return await self._send(kind=Kind.CONTACT, phone=phone)

    async def location(self, lat: float, lon: float) -> list[Reply]:
        return await self._send(kind=Kind.LOCATION, location=(lat, lon))

    async def report_repair(
        self, line: str = "household_ac", *, model: str | None = None, serial: str | None = None,
        fault: str = "It stopped working this morning", address: str | None = None,
        location: tuple[float, float] | None = None, phone: str = "+86 138 0013 8000", proof: bool = False,
    ) -> str:
        """Walk the whole repair form with buttons (the first model unless given); the final answer.

        `proof`: the phone is shared as the customer's own contact instead of typed."""
        await self.say("/start")
        await self.press("menu:repair")
        await self.press(f"repair.product_line:{line}")
        await self.press(f"repair.model:{model}" if model else self.last[0].choices[0].id)
        await (self.say(serial) if serial else self.press("repair.serial:skip"))
        await self.say(fault)
        await self.press("repair.files:skip")
        await (self.location(*location) if location else self.say(address or "Shanghai, Huaihai Road 1"))
        await (self.contact(phone) if proof else self.say(phone))
        await self.press("repair.confirm:submit")
        return self.text

    def last_choices(self) -> list[str]:
        for reply in reversed(self.replies):
            if reply.choices:
                return [c.label for c in reply.choices]
        return []

    @property
    def text(self) -> str:
        """All texts of the answer to the latest input."""
        return "\n".join(r.text for r in self.last)
