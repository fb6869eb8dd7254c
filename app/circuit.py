"""A circuit breaker for the Kubernetes API server, settled by app/k8s/exchange.py after every call.

A server that does not answer costs each call its whole timeout, and a hung one would keep every
worker thread waiting. After `threshold` outage failures in a row (no answer, or a 502/503/504)
the circuit opens: calls fail at once for `cooldown` seconds. Then exactly one call goes through
as a probe while the others still fail fast; an answer closes the circuit, a failure opens it
again. Any answer at all, even a 404, shows that the server answers. Thread-safe; the clock can be
handed in so the states can be tested without waiting.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_THRESHOLD = 2
DEFAULT_COOLDOWN = 1.0  # seconds of failing fast before one call probes again


class CircuitOpen(Exception):
    """The call was not made: the server failed recently (`cause`); a probe is due in `retry_in` s."""

    def __init__(self, cause: str, retry_in: float) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_in = retry_in


class Circuit:
    def __init__(self, threshold: int = DEFAULT_THRESHOLD, cooldown: float = DEFAULT_COOLDOWN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._cause = ""

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def before_call(self) -> bool:
        """Whether this call is the probe; raises `CircuitOpen` when it must not be made."""
        with self._lock:
            if self._opened_at is None:
                return False
            wait = self._opened_at + self.cooldown - self._clock()
            if wait > 0 or self._probing:
                raise CircuitOpen(self._cause, max(wait, 0.0))
            self._probing = True
            return True

    def answered(self, probe: bool) -> None:
        """The server answered: the circuit closes (whichever call it was)."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            if probe:
                self._probing = False

    def released(self, probe: bool) -> None:
        """The call ended telling nothing of the server (the caller ran out of time): no change,
        but a probe's turn passes to the next call."""
        if probe:
            with self._lock:
                self._probing = False

    def failed(self, probe: bool, cause: str) -> None:
        """No answer, or the server said it cannot serve: counted, and the circuit may open."""
        with self._lock:
            self._failures += 1
            self._cause = cause
            if probe:
                self._probing = False
            if probe or self._failures >= self.threshold:
                self._opened_at = self._clock()
