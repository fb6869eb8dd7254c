"""What the server logs, captured as it writes it with KUBERAY_API_LOG_FORMAT=json."""
from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from app.logs import JsonFormatter


@contextmanager
def json_log(level: int, name: str | None = None) -> Iterator[io.StringIO]:
    """The lines logger `name` (the root logger when None) writes at `level` and above, one JSON
    object a line; the logger's handlers and level are as before afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    level_before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level_before)
