"""The channel-neutral model: what a customer sent (Event) and what we answer (Reply).

Channels turn their own updates into Events and Replies back into their own
messages; nothing below the channels knows about Telegram or the browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# A message longer than this is stored cut and answered with "too long".
MAX_TEXT = 10_000

# NUL (PostgreSQL stores no NUL in text) and lone UTF-16 surrogates (not encodable,
# e.g. a JSON "\ud800"): no channel may bring them into the store (issue 9.5).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` without the characters the store cannot keep."""
    return _UNSTORABLE.sub("", text) if _UNSTORABLE.search(text) else text


class Kind(StrEnum):
    TEXT = "text"
    COMMAND = "command"  # "/start", "/language" ...
    CHOICE = "choice"  # a pressed button: `choice` holds its id
    CONTACT = "contact"  # the sender's OWN phone number, proven by the channel (issue 9)
    LOCATION = "location"
    MEDIA = "media"  # photos, video, voice, documents (see attachments)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A reference to a file the channel keeps (we store the reference, not the bytes)."""

    kind: str  # photo | video | voice | document | audio
    ref: str  # the channel's file id
    name: str | None = None
    mime: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    channel: str
    user_id: str  # the sender's identity on that channel
    chat_id: str  # where replies go
    kind: Kind
    # The channel's id of this delivery, for de-duplication (e.g. Telegram's update_id).
    delivery_id: str | None = None
    message_id: str | None = None  # the channel's id of the message itself
    text: str = ""
    choice: str | None = None
    command: str | None = None
    phone: str | None = None
    location: tuple[float, float] | None = None
    attachments: tuple[Attachment, ...] = ()
    language_hint: str | None = None  # e.g. Telegram's language_code
    display_name: str | None = None
    # For a pressed button: the message that carried the keyboard, and its text.
    origin_message_id: str | None = None
    origin_text: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The channel shows choices as a numbered list (WeChat): a digit answers the last one offered.
    numbered_choices: bool = False
    # The customer's own time zone as their device reports it (IANA name, validated by the channel).
    timezone_hint: str | None = None

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value and _UNSTORABLE.search(value):
                object.__setattr__(self, name, clean_text(value))

    def stored_text(self) -> str:
        """How the message appears in the transcript."""
        if self.kind is Kind.CHOICE:
            return f"[{self.choice}]"
        if self.kind is Kind.CONTACT:
            return f"[contact] {self.phone}"
        if self.kind is Kind.LOCATION and self.location:
            return f"[location] {self.location[0]:.6f},{self.location[1]:.6f}"
        return self.text[:MAX_TEXT]


_TEXT_FIELDS = tuple(f.name for f in fields(Event) if f.type in ("str", "str | None"))


@dataclass(frozen=True, slots=True)
class Choice:
    id: str  # short (Telegram allows 64 bytes of callback data)
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    choices: tuple[Choice, ...] = ()
    # Ask the channel for a special input: "phone" (share-contact) or "location".
    request: str | None = None
    # The share button's text; on a reply that closes one and has buttons: the text
    # above the buttons, for a channel that must send them apart (bot/core/share.py).
    request_label: str | None = None
    # Edit this earlier message of ours instead of sending a new one.
    replaces: str | None = None
    # Take away the share button an earlier reply asked for (Telegram: remove_keyboard).
    closes_request: bool = False
    # Files sent with the text (an agent's photo): `ref` is a `media:` reference (bot/media.py).
    attachments: tuple[Attachment, ...] = ()
    # The customer's message this answers (an agent replied to it in the agents' group): quoted where the channel can.
    reply_to: str | None = None

    def to_payload(self) -> dict[str, Any]:
        # Written out: dataclasses.asdict deep-copies (~200 us for a 10-button keyboard).
        payload: dict[str, Any] = {
            "text": self.text, "choices": [[c.id, c.label] for c in self.choices], "request": self.request,
            "request_label": self.request_label, "replaces": self.replaces,
        }
        if self.closes_request:
            payload["closes_request"] = True
        if self.attachments:
            payload["attachments"] = [{"kind": a.kind, "ref": a.ref, "name": a.name, "mime": a.mime} for a in self.attachments]
        if self.reply_to:
            payload["reply_to"] = self.reply_to
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reply:
        return cls(
            text=payload["text"],
            choices=tuple(Choice(i, label) for i, label in payload.get("choices", ())),
            request=payload.get("request"),
            request_label=payload.get("request_label"),
            replaces=payload.get("replaces"),
            closes_request=payload.get("closes_request", False),
            attachments=tuple(Attachment(a["kind"], a["ref"], a.get("name"), a.get("mime")) for a in payload.get("attachments", ())),
            reply_to=payload.get("reply_to"),
        )
