"""Logging for `panelbot serve`: plain text, or one JSON object a line (`PANELBOT_LOG_FORMAT=json`) for a SIEM.

Every JSON line has `time` (UTC, ISO 8601), `level`, `logger`, `event` (a short dotted name, such as
`http.request` or `command.done`; the message itself when a line names none), `message`, and, when
known, `case` (the case reference), `request_id` and `actor` (the roster id of whoever acted).
Request id, case and actor come from context variables that the HTTP middleware and `Service.run`
set, so a line logged deep inside a flow still carries them.

What is logged is chosen so that no line carries a child's details, a vote's rationale or a secret:
log calls pass identifiers (case references, roster ids, outbox keys), never free text from a form,
and the engine hides SQL parameters from error messages (`storage.db.make_engine`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import IO, Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
case_ref: contextvars.ContextVar[str | None] = contextvars.ContextVar("case_ref", default=None)
actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor", default=None)
_CONTEXT = {"request_id": request_id, "case": case_ref, "actor": actor}

# Attributes every LogRecord has; anything else on a record was passed with `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "event"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Set `request_id`, `case` and/or `actor` for the log lines inside the block."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in values.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or message,
            "message": message,
        }
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class HidePayloads(logging.Filter):
    """Libraries print what they send and store at debug level: every SQL statement with its parameters
    (a child's details), every Slack, Teams or Graph request body (a vote card shows its rationale).
    So below INFO only panelbot's own lines pass, and the database drivers only warn and err."""

    DRIVERS = ("aiosqlite", "sqlalchemy", "psycopg")
    TICKS = ("apscheduler.executors",)  # two lines per tick, every 5 s, that no one needs: warnings only

    def filter(self, record: logging.LogRecord) -> bool:
        if _under(record.name, self.DRIVERS + self.TICKS):
            return record.levelno >= logging.WARNING
        return record.levelno >= logging.INFO or _under(record.name, ("panelbot",))


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def configure(log_format: str = "text", level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Configure the root logger for `serve`: `text` or `json` lines on stderr (or `stream`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(HidePayloads())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
