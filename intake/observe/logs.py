"""Log output: plain text (the default) or one JSON object a line (`[logging] format = "json"`).

A JSON line carries the time, level, logger and message, and the ticket ref and
Message-ID when the line is about one: given by the caller
(`log.info(..., extra={"ticket": ref, "message_id": mid})`) or, for the ticket,
found in the message by its reference pattern. It never carries a mail body: log
lines name messages, they do not quote them (a test sends a body through the
whole path and looks for it in the log). Every secret of the settings (passwords,
tokens, webhook secrets) is replaced by `[redacted]` wherever it would appear,
including in exception text; tracebacks are reduced to the exception's type and
first line.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, SecretStr

from intake.config import LoggingSettings, Settings

# Fields a caller may attach with `extra=`; anything else a record carries stays out.
CONTEXT_FIELDS = ("ticket", "message_id", "channel", "disposition", "outbox_id", "webhook", "event")
REDACTED = "[redacted]"


def secrets_of(settings: BaseModel) -> list[str]:
    """Every non-empty secret value anywhere in the settings (SecretStr fields, nested, in lists and maps)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            if value.get_secret_value():
                found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    return sorted(set(found), key=len, reverse=True)


class JsonFormatter(logging.Formatter):
    def __init__(self, ref_prefix: str = "support", secrets: list[str] | None = None) -> None:
        super().__init__()
        self.ref = re.compile(rf"\b{re.escape(ref_prefix)}-\d+\b")
        self.secrets = [s for s in (secrets or []) if s]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def format(self, record: logging.LogRecord) -> str:
        message = self.scrub(record.getMessage())
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = self.scrub(str(value))
        if "ticket" not in entry:
            found = self.ref.search(message)
            if found:
                entry["ticket"] = found.group(0)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error"] = self.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        return json.dumps(entry, ensure_ascii=False)


def configure(settings: Settings, level: int | None = None) -> None:
    """Put the configured format on the root logger's handlers (one stderr handler if none)."""
    chosen: LoggingSettings = settings.logging
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    formatter: logging.Formatter
    if chosen.format == "json":
        formatter = JsonFormatter(settings.tickets.ref_prefix, secrets_of(settings))
    else:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if level is not None:
        root.setLevel(level)
