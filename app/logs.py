"""The server's log lines: the request id every record carries, the access logger, the formats.

No web framework: the HTTP edge (app/http/access.py) and the gRPC front (app/rpc/access.py)
both stamp requests through `REQUEST_ID` and write their access lines to `access_log`, and
gunicorn.conf.py builds its log configuration from the same formats before any app exists.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

access_log = logging.getLogger("app.access")  # one line per request or call, either front

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # a caller's id is kept if it looks sane

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "color_message"}  # the last: uvicorn's, with ANSI colours


def request_id(given: str | None) -> str:
    """The id of a request: the caller's (a header, gRPC metadata) if it looks sane, else a new one."""
    text = (given or "").strip()
    return text if _REQUEST_ID_SHAPE.fullmatch(text) else uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, pid, the request id if any,
    whatever the call passed as `extra` (the access line's fields), and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Give every log record the request id; without handlers yet, log to stdout at `level`.

    Handlers someone else configured are left alone, as `logging.basicConfig` does: gunicorn's
    `logconfig_dict` (gunicorn.conf.py), or pytest's.
    """
    _stamp_request_ids()
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def _stamp_request_ids() -> None:
    """A record factory, not a handler filter: it works with whatever handlers are configured."""
    base: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(base, "stamps_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        return record

    factory.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
