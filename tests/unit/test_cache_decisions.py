"""app/cache/decisions.py: what an informer does after each list or watch, as a table of
(what it knew, what happened) -> what it does next."""
from __future__ import annotations

import random

import pytest

from app.cache.decisions import BACKOFF, START, Action, Event, Outcome, Reason, State, Step, backoff, decide

LISTED, NOT_LISTED = State(listed=True), State(listed=False)
LIST, WATCH, STOP = Action.LIST, Action.WATCH, Action.STOP


def failing(failures: int, listed: bool = True) -> State:
    return State(listed=listed, failures=failures)


ROWS = [
    # a list done: its watch follows, at once; the failures before it still count
    ("listed", NOT_LISTED, Event(Outcome.LISTED), Step(WATCH, LISTED)),
    ("listed after failures", failing(3, listed=False), Event(Outcome.LISTED, jitter=0.5), Step(WATCH, failing(3))),
    ("listed while stopping", NOT_LISTED, Event(Outcome.LISTED, stopping=True), Step(STOP, LISTED)),
    ("listed while behind: its watch sees that", NOT_LISTED, Event(Outcome.LISTED, behind=True), Step(WATCH, LISTED)),
    # the server ended the watch: resumed at once, the failures forgotten
    ("ended", LISTED, Event(Outcome.ENDED, jitter=0.9), Step(WATCH, LISTED, Reason.ENDED)),
    ("ended after failures", failing(4), Event(Outcome.ENDED, jitter=0.9), Step(WATCH, LISTED, Reason.ENDED)),
    ("ended while stopping", LISTED, Event(Outcome.ENDED, stopping=True), Step(STOP, LISTED)),
    ("ended, behind: list again", failing(2), Event(Outcome.ENDED, behind=True, jitter=0.9),
     Step(LIST, NOT_LISTED, Reason.BEHIND)),
    # 410: the revision expired, list again at once
    ("expired", failing(2), Event(Outcome.EXPIRED, jitter=0.9), Step(LIST, NOT_LISTED, Reason.EXPIRED)),
    ("expired while stopping", LISTED, Event(Outcome.EXPIRED, stopping=True), Step(STOP, NOT_LISTED)),
    ("expired and behind", LISTED, Event(Outcome.EXPIRED, behind=True), Step(LIST, NOT_LISTED, Reason.BEHIND)),
    # a watch failed: resumed from its revision after a jittered, doubling wait
    ("watch failed", LISTED, Event(Outcome.FAILED, jitter=0.5), Step(WATCH, failing(1), Reason.FAILED, 0.2)),
    ("watch failed again", failing(1), Event(Outcome.FAILED, jitter=0.5), Step(WATCH, failing(2), Reason.FAILED, 0.4)),
    ("watch failed, no jitter drawn", failing(1), Event(Outcome.FAILED, jitter=0.0),
     Step(WATCH, failing(2), Reason.FAILED, 0.0)),
    ("the wait reaches its ceiling", failing(7), Event(Outcome.FAILED, jitter=0.5),
     Step(WATCH, failing(8), Reason.FAILED, 15.0)),
    ("and stays there", failing(5000), Event(Outcome.FAILED, jitter=0.5),
     Step(WATCH, failing(5001), Reason.FAILED, 15.0)),
    # a list failed: listed again after the wait
    ("list failed", NOT_LISTED, Event(Outcome.FAILED, jitter=0.5), Step(LIST, failing(1, False), Reason.FAILED, 0.2)),
    ("list failed again", failing(2, False), Event(Outcome.FAILED, jitter=0.25),
     Step(LIST, failing(3, False), Reason.FAILED, 0.4)),
    ("failed while stopping", LISTED, Event(Outcome.FAILED, stopping=True, jitter=0.5), Step(STOP, failing(1))),
    ("failed, and behind", LISTED, Event(Outcome.FAILED, behind=True, jitter=0.5),
     Step(LIST, failing(1, False), Reason.BEHIND, 0.2)),
    # closed on purpose (its failure is no failure): a stop, or `catch_up`
    ("closed to stop", LISTED, Event(Outcome.CLOSED, stopping=True), Step(STOP, LISTED)),
    ("closed to list again", LISTED, Event(Outcome.CLOSED, behind=True, jitter=0.5),
     Step(LIST, NOT_LISTED, Reason.BEHIND)),
    ("closed to list again after failures: their wait holds", failing(2), Event(Outcome.CLOSED, behind=True, jitter=0.5),
     Step(LIST, failing(2, False), Reason.BEHIND, 0.4)),
    ("a list closed to list again", failing(1, False), Event(Outcome.CLOSED, behind=True, jitter=0.5),
     Step(LIST, failing(1, False), Reason.BEHIND, 0.2)),
    ("closed, neither stopping nor behind", LISTED, Event(Outcome.CLOSED, jitter=0.5), Step(WATCH, LISTED, Reason.FAILED)),
    # an unexpected exception (a bug): counted as a failure, and the store listed again
    ("crashed", LISTED, Event(Outcome.CRASHED, jitter=0.5), Step(LIST, failing(1, False), Reason.FAILED, 0.2)),
    ("crashed again", failing(1), Event(Outcome.CRASHED, jitter=0.5), Step(LIST, failing(2, False), Reason.FAILED, 0.4)),
    ("crashed while stopping", LISTED, Event(Outcome.CRASHED, stopping=True), Step(STOP, failing(1, False))),
    ("crashed, and behind", LISTED, Event(Outcome.CRASHED, behind=True, jitter=0.5),
     Step(LIST, failing(1, False), Reason.BEHIND, 0.2)),
]


@pytest.mark.parametrize(("state", "event", "step"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_the_step_after_each_outcome(state: State, event: Event, step: Step) -> None:
    assert decide(state, event) == step


def test_every_outcome_and_every_step_has_a_row() -> None:
    assert {row[2].outcome for row in ROWS} == set(Outcome)
    assert {row[3].action for row in ROWS} == set(Action)
    assert {row[3].reason for row in ROWS} == {*Reason, None}


def test_an_informer_starts_by_listing() -> None:
    assert Step(LIST, State(listed=False, failures=0)) == START


@pytest.mark.parametrize("failures", [1, 2, 3, 7, 8, 12, 1100])
def test_the_wait_is_random_uniform_over_the_doubling_backoff(failures: int) -> None:
    """What `random.uniform(0, min(BACKOFF[1], BACKOFF[0] * 2 ** failures))` draws, to the bit, with the
    same draw handed in; the exponent may grow past what a float takes."""
    drawn = random.Random(failures).random()  # noqa: S311  (a seeded draw for the jitter: no secret)
    ceiling = min(BACKOFF[1], BACKOFF[0] * 2 ** min(failures, 64))
    assert backoff(failures, drawn) == random.Random(failures).uniform(0, ceiling)  # noqa: S311  (the same draw)
    assert 0 <= backoff(failures, drawn) < BACKOFF[1]
    assert backoff(failures, 0.0) == 0.0
