"""What an informer does next, decided from what it knows and what just happened: list again,
resume the watch, back off (and for how long), or stop; and which restart it counts.

Pure: no clock, no randomness (the jitter is drawn by the caller), no I/O, so that every branch
is a row of a table (tests/unit/test_cache_decisions.py). `Informer._run` (app/cache/informer.py)
only carries the steps out.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

BACKOFF = (0.2, 30.0)  # seconds before reconnecting: doubling from the first, at most the second, jittered


class Outcome(Enum):
    """How the informer's last list or watch ended."""

    LISTED = "listed"  # the list is done: the store holds the collection at its revision
    ENDED = "ended"  # the watch ended without an error (the server's timeout, or closed to list again)
    EXPIRED = "expired"  # 410 Gone: the revision is older than the server keeps
    FAILED = "failed"  # the list or watch failed: an error of Kubernetes, or a line that is not JSON
    CLOSED = "closed"  # it failed because it was closed on purpose (a stop, or `catch_up`)
    CRASHED = "crashed"  # an unexpected exception: a bug, which must not end the cache


class Action(Enum):
    LIST = "list"  # list the collection again (reads go to Kubernetes until it is done)
    WATCH = "watch"  # watch from the store's revision
    STOP = "stop"


class Reason(Enum):
    """Why a watch restarts, as counted in `kuberay_api_cache_watch_restarts_total`."""

    ENDED = "ended"  # the server ended it: resumed at once
    EXPIRED = "expired"  # its revision expired: listed again
    BEHIND = "behind"  # it did not bring a write in time (`catch_up`): listed again
    FAILED = "failed"  # it (or the list) failed, or was closed


@dataclass(frozen=True)
class State:
    listed: bool = False  # the store holds a list whose watch can be resumed
    failures: int = 0  # failed lists or watches since the last watch that ended well


@dataclass(frozen=True)
class Event:
    outcome: Outcome
    stopping: bool = False  # the informer is being stopped
    behind: bool = False  # `catch_up` asked for a new list
    jitter: float = 0.0  # a draw from [0, 1): the share of the backoff to wait


@dataclass(frozen=True)
class Step:
    action: Action
    state: State
    reason: Reason | None = None  # the restart to count, if this step is one
    delay: float = 0.0  # seconds to wait first


START = Step(Action.LIST, State())

_REASONS = {Outcome.ENDED: Reason.ENDED, Outcome.EXPIRED: Reason.EXPIRED}


def backoff(failures: int, jitter: float) -> float:
    """`random.uniform(0, min(BACKOFF[1], BACKOFF[0] * 2 ** failures))`, with `jitter` drawn for it
    (the exponent held below what a float can take: the ceiling is reached long before)."""
    return min(BACKOFF[1], BACKOFF[0] * 2.0 ** min(failures, 64)) * jitter


def decide(state: State, event: Event) -> Step:
    """The step after `event`. A finished list is followed by its watch; a watch the server ended
    is resumed at once; 410 lists again (reason "expired"), as does `catch_up` ("behind") and an
    unexpected exception; after a failure the next try waits a jittered, doubling delay; a
    failure caused by closing on purpose counts no failure; a watch that ended well resets the
    count; a stop ends the loop."""
    if event.outcome is Outcome.LISTED:
        return Step(Action.STOP if event.stopping else Action.WATCH, State(listed=True, failures=state.failures))
    if event.outcome in (Outcome.ENDED, Outcome.EXPIRED):
        failures = 0
    elif event.outcome is Outcome.CLOSED:
        failures = state.failures
    else:
        failures = state.failures + 1
    listed = event.outcome is Outcome.ENDED or (event.outcome in (Outcome.FAILED, Outcome.CLOSED) and state.listed)
    if event.stopping:
        return Step(Action.STOP, State(listed, failures))
    reason = _REASONS.get(event.outcome, Reason.FAILED)
    if event.behind:
        listed, reason = False, Reason.BEHIND
    delay = backoff(failures, event.jitter) if failures else 0.0
    return Step(Action.WATCH if listed else Action.LIST, State(listed, failures), reason, delay)
