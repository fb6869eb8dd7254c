"""app/circuit.py: when calls fail at once, when one call probes, and what closes the circuit."""
from __future__ import annotations

import pytest

from app.circuit import Circuit, CircuitOpen
from tests.support.clock import Clock


def opened(clock: Clock) -> Circuit:
    circuit = Circuit(threshold=2, cooldown=1.0, clock=clock)
    for _ in range(2):
        circuit.failed(circuit.before_call(), "no answer in time")
    return circuit


def test_calls_pass_while_closed_and_one_failure_is_not_enough() -> None:
    circuit = Circuit(threshold=2, cooldown=1.0, clock=Clock())
    assert circuit.before_call() is False
    circuit.failed(False, "cannot connect")
    assert circuit.before_call() is False
    assert not circuit.is_open


def test_an_answer_between_failures_starts_the_count_again() -> None:
    circuit = Circuit(threshold=2, cooldown=1.0, clock=Clock())
    circuit.failed(False, "cannot connect")
    circuit.answered(False)
    circuit.failed(False, "cannot connect")
    assert not circuit.is_open


def test_open_fails_fast_with_the_cause_and_the_time_to_the_probe() -> None:
    clock = Clock()
    circuit = opened(clock)
    clock.now += 0.25

    with pytest.raises(CircuitOpen) as caught:
        circuit.before_call()

    assert caught.value.cause == "no answer in time"
    assert caught.value.retry_in == pytest.approx(0.75)


def test_after_the_cooldown_exactly_one_call_probes() -> None:
    clock = Clock()
    circuit = opened(clock)
    clock.now += 1.0

    assert circuit.before_call() is True
    with pytest.raises(CircuitOpen):
        circuit.before_call()  # the others still fail fast while the probe is out


def test_a_probe_that_is_answered_closes_the_circuit() -> None:
    clock = Clock()
    circuit = opened(clock)
    clock.now += 1.0
    circuit.answered(circuit.before_call())

    assert not circuit.is_open
    assert circuit.before_call() is False


def test_a_probe_that_fails_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    circuit = opened(clock)
    clock.now += 1.0
    circuit.failed(circuit.before_call(), "it answered 503")
    clock.now += 0.5

    with pytest.raises(CircuitOpen) as caught:
        circuit.before_call()
    assert caught.value.cause == "it answered 503"
    clock.now += 0.5
    assert circuit.before_call() is True


def test_an_answer_to_a_call_made_before_it_opened_closes_it() -> None:
    """Any answer shows the server answers again, whichever call it was."""
    circuit = opened(Clock())
    circuit.answered(False)
    assert circuit.before_call() is False


def test_a_call_released_changes_nothing_but_passes_the_probe_on() -> None:
    """A call whose caller ran out of time tells nothing of the server."""
    closed = Circuit(threshold=2, cooldown=1.0, clock=Clock())
    closed.failed(closed.before_call(), "no answer in time")
    for _ in range(3):
        closed.released(closed.before_call())
    assert not closed.is_open  # still one failure: the released calls did not count
    closed.failed(closed.before_call(), "no answer in time")
    assert closed.is_open

    clock = Clock()
    circuit = opened(clock)
    clock.now += 1.0
    circuit.released(circuit.before_call())
    assert circuit.is_open
    assert circuit.before_call() is True  # the next call probes
