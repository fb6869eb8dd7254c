"""A request's one deadline, shared by all the Kubernetes calls it makes (docs/architecture.md,
"Faults"): each call waits at most its own timeout, cut to what is left; a write also tells the API
server to give up before we do (`timeout=`), so that a write we answer as failed did not happen.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from app.errors import DeadlineExceeded

WRITE_MARGIN = 1.0  # a write's server-side timeout is this much shorter than our wait for it

_deadline: ContextVar[float | None] = ContextVar("kubernetes_deadline", default=None)


@contextmanager
def scope(seconds: float) -> Iterator[None]:
    """The calls made inside share one deadline, `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def wait_for(call: str, timeout: float) -> float:
    """How long `call` may wait: its timeout, cut to what is left of the request's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"The request ran out of time before the Kubernetes API call {call}: "
                               "the Kubernetes API server is answering slowly.")
    return min(timeout, left)


def server_timeout(call: str, wait: float) -> str:
    """The `timeout` a write asks of the API server: shorter than our wait by `WRITE_MARGIN`, so that
    the server has given up on a write (and says so) before we stop waiting for its answer."""
    seconds = math.floor(wait - WRITE_MARGIN)
    if seconds < 1:
        raise DeadlineExceeded(f"The request ran out of time before the Kubernetes API call {call}: "
                               "too little was left to make a write and learn its outcome.")
    return f"{seconds}s"
