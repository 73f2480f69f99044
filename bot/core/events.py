"""The channel-neutral model: what a customer sent (Event) and what we answer (Reply).

Channels turn their own updates into Events and Replies back into their own
messages; nothing below the channels knows about Telegram or the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# A message longer than this is stored cut and answered with "too long".
MAX_TEXT = 10_000


class Kind(StrEnum):
    TEXT = "text"
    COMMAND = "command"  # "/start", "/language" ...
    CHOICE = "choice"  # a pressed button: `choice` holds its id
    CONTACT = "contact"  # a shared phone number
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

    def stored_text(self) -> str:
        """How the message appears in the transcript."""
        if self.kind is Kind.CHOICE:
            return f"[{self.choice}]"
        if self.kind is Kind.CONTACT:
            return f"[contact] {self.phone}"
        if self.kind is Kind.LOCATION and self.location:
            return f"[location] {self.location[0]:.6f},{self.location[1]:.6f}"
        return self.text[:MAX_TEXT]


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

    def to_payload(self) -> dict[str, Any]:
        # Written out: dataclasses.asdict deep-copies (~200 us for a 10-button keyboard).
        payload: dict[str, Any] = {
            "text": self.text, "choices": [[c.id, c.label] for c in self.choices], "request": self.request,
            "request_label": self.request_label, "replaces": self.replaces,
        }
        if self.closes_request:
            payload["closes_request"] = True
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
        )
