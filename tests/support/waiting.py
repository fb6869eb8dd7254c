"""Waiting for what the control plane, the operator or a server does in its own time."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.3,
             what: str = "condition", until: Callable[[T], object] = bool) -> T:
    """Poll `check()` until `until` holds of what it returns (by default: until that is truthy; never
    None), and return that; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and until(last):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
