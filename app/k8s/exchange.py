"""One exchange with the Kubernetes API server, for every call, watch and forward of the gateway:
send, time, classify the outcome, count it in the metrics and settle the circuit (app/circuit.py).
This is the only place that settles the circuit.

Each caller reads the outcomes its own way, given here as data (`Policy`): a plain call counts a
503 against the circuit, a forward does not (the 503 may be a proxied Service's), a watch leaves
the circuit alone. What each caller raises for an outcome without an answer stays the caller's.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

import urllib3

from app.circuit import Circuit, CircuitOpen
from app.errors import Unavailable
from app.metrics import observe_kubernetes_call
from app.transport import NO_ANSWER, may_have_arrived, transport_cause

log = logging.getLogger("app.k8s")  # the package's one logger, whichever module logs

# Answers that mean the API server cannot serve now (an overloaded or storage-less server).
OUTAGE_STATUSES = frozenset({502, 503, 504})
UNEXPECTED = "the call failed"  # the cause counted when sending failed otherwise than in the transport


class Outcome(Enum):
    """How one exchange ended, as the API server's health goes."""

    ANSWERED = "answered"
    """An HTTP answer, whatever its status: the server serves (a 404 or a 409 refuses a request, not service)."""
    REFUSED = "refused"
    """An answer that the server cannot serve now: 502, 503 or 504 (or a Service's behind its proxy)."""
    UNREACHABLE = "unreachable"
    """No answer: the connection failed (refused, TLS, reset) or could not be made within the whole wait."""
    TIMED_OUT = "timed out"
    """No answer: the request went out, and the whole wait passed in silence."""
    CUT = "cut by the deadline"
    """No answer within a wait that the request's deadline had cut short: the caller ran out of time,
    which tells nothing of the server (a client's short gRPC deadline must not open the circuit)."""


class Settle(Enum):
    """What an outcome does to the circuit."""

    ANSWERED = "answered"  # closes it: the server answers
    FAILED = "failed"  # counts against it: it may open
    RELEASED = "released"  # leaves it as it was; a probe's turn passes to the next call


@dataclass(frozen=True)
class Policy:
    """A caller's reading of the outcomes: how each settles the circuit (None: the circuit is neither
    asked before nor settled after), and whether a failure is logged here (else the caller's owner does)."""

    settles: Mapping[Outcome, Settle] | None
    warn: bool = True


def _policy(*, answered: Settle, refused: Settle, unreachable: Settle, timed_out: Settle, cut: Settle) -> Policy:
    return Policy(MappingProxyType({Outcome.ANSWERED: answered, Outcome.REFUSED: refused,
                                    Outcome.UNREACHABLE: unreachable, Outcome.TIMED_OUT: timed_out, Outcome.CUT: cut}))


_ANSWER, _FAIL, _RELEASE = Settle.ANSWERED, Settle.FAILED, Settle.RELEASED
CALLS = _policy(answered=_ANSWER, refused=_FAIL, unreachable=_FAIL, timed_out=_FAIL, cut=_RELEASE)
"""The gateway's own calls: any failure of the server to serve counts, a caller's lack of time does not."""
FORWARDS = _policy(answered=_ANSWER, refused=_ANSWER, unreachable=_FAIL, timed_out=_FAIL, cut=_RELEASE)
"""The V2 API's forwards: a 502 or 503 may be a proxied Service's, so any answer shows the server answers."""
SENDS = _policy(answered=_ANSWER, refused=_ANSWER, unreachable=_FAIL, timed_out=_RELEASE, cut=_RELEASE)
"""Job submissions through a Service's proxy: silence after sending may be the Service's too (a slow dashboard)."""
WATCHES = Policy(None, warn=False)
"""Watches are long and expected to end: they go even while the circuit is open, and the caches
count (and log) their restarts."""


class Answer(Protocol):
    """What a transport hands back: an HTTP answer, read or not."""

    @property
    def status(self) -> int: ...


A = TypeVar("A", bound=Answer)


@dataclass(frozen=True)
class Exchanged(Generic[A]):
    """The outcome, and the answer if one came."""

    outcome: Outcome
    answer: A | None = None
    cause: str = ""  # why there is no answer, or why the server cannot serve, in a few words for the client
    sent: bool = True  # whether the request may have reached the server: a write's outcome is then unknown
    error: Exception | None = None  # the transport's failure, to chain

    @property
    def label(self) -> str:
        """The metric's outcome: ok, the status of another answer, timeout, or unreachable."""
        if self.answer is not None:
            return "ok" if 200 <= self.answer.status <= 299 else str(self.answer.status)
        return "timeout" if self.outcome in (Outcome.TIMED_OUT, Outcome.CUT) else "unreachable"


def exchange(call: str, send: Callable[[], A], policy: Policy, circuit: Circuit, *,
             cut_short: bool = False) -> Exchanged[A]:
    """Make one request (`send`, which hands back the answer or raises the transport's failure) and
    report how it ended. `call` names it in the metrics and the logs; `cut_short`: the request's
    deadline shortened the wait, so that silence is the caller's lack of time.

    While the circuit is open, `Unavailable` is raised at once, nothing sent (unless the policy
    leaves the circuit alone). Any other failure of `send` is raised as it is, and counted against
    the circuit as a failed call (a probe must not stay out for ever).
    """
    probe = _before_call(call, circuit) if policy.settles is not None else False
    started = time.perf_counter()
    result: Exchanged[A] | None = None
    try:
        result = classify(send, cut_short=cut_short)
    finally:
        observe_kubernetes_call(call, "unreachable" if result is None else result.label,
                                time.perf_counter() - started)
        if policy.settles is not None:
            _settle(circuit, probe, policy.settles, result)
    if result.error is not None and policy.warn:
        log.warning("Kubernetes API unreachable in %s: %s", call, result.error)
    return result


def classify(send: Callable[[], A], *, cut_short: bool = False) -> Exchanged[A]:
    """Send, and read how it went; only a transport failure is caught (app/transport.py reads it)."""
    try:
        answer = send()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        cause, sent = transport_cause(exc), may_have_arrived(exc)
        if cause != NO_ANSWER:
            outcome = Outcome.UNREACHABLE
        elif cut_short:
            outcome = Outcome.CUT
        else:  # silence after the request went out, or no connection made in the whole wait
            outcome = Outcome.TIMED_OUT if sent else Outcome.UNREACHABLE
        return Exchanged(outcome, None, cause, sent, exc)
    if answer.status in OUTAGE_STATUSES:
        return Exchanged(Outcome.REFUSED, answer, f"it answered {answer.status}")
    return Exchanged(Outcome.ANSWERED, answer)


def _before_call(call: str, circuit: Circuit) -> bool:
    """Whether the call is the circuit's probe; `Unavailable` at once while the circuit is open."""
    try:
        return circuit.before_call()
    except CircuitOpen as exc:
        observe_kubernetes_call(call, "circuit_open", 0.0)
        raise Unavailable(f"Kubernetes API server unavailable: {exc.cause} "
                          f"(calls fail at once until it answers again)") from None


def _settle(circuit: Circuit, probe: bool, settles: Mapping[Outcome, Settle], result: Exchanged[Any] | None) -> None:
    settle = Settle.FAILED if result is None else settles[result.outcome]
    if settle is Settle.ANSWERED:
        circuit.answered(probe)
    elif settle is Settle.RELEASED:
        circuit.released(probe)
    else:
        circuit.failed(probe, UNEXPECTED if result is None else result.cause)
