"""Log lines an operator can follow: every line carries the id of the request it belongs to ("-" outside one), as
text or as one JSON object per line (the `log_format` setting). Nothing here adds user text to a line: the code that
logs never passes messages, replies or titles of what a user said, and the database hides bound parameters."""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(levelname)s %(name)s [%(request_id)s]: %(message)s"


def request_id(given: str | None) -> str:
    """The id a client sent (X-Request-ID), if it is a plain token, else a new one."""
    return given if given and _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex[:16]


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (as `request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name,
               "request_id": getattr(record, "request_id", REQUEST_ID.get()), "message": record.getMessage()}
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: int, fmt: str = "text") -> None:
    """Like `logging.basicConfig` (nothing changes where the root logger has handlers already: a host application's,
    pytest's), with request ids, as text or JSON."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
