"""Logging set-up and one-line events.

`configure(fmt)` makes the root logger write either plain lines (LOG_FORMAT=text,
the default) or one JSON object a line (LOG_FORMAT=json) for a log shipper.
`event(logger, "turn", channel=..., conversation_id=...)` logs one line per thing
that matters (turn, send, handover, claim, error) with its fields: in JSON as keys,
in text as `key=value` after the event's name.

No personal data at INFO: events carry ids, ticket numbers, states and results,
never message text, phone numbers or addresses (tests/test_logs.py checks).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


# The attributes every LogRecord has; anything else came in through `extra`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(fmt: LogFormat | str = LogFormat.TEXT, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """One line for an event: `name key=value ...`; in JSON the fields are keys of their own."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    logger.log(level, "%s %s", name, text, extra={"event": name, **fields}, stacklevel=2)


class AccessLogger(AbstractAccessLogger):
    """The web app's access log: one `http` event a request. The path without its query
    string (it may carry a token), no headers, no bodies."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        event(self.logger, "http", method=request.method, path=request.path, status=response.status,
              ms=round(time * 1000, 1), bytes=response.body_length, remote=request.remote)
