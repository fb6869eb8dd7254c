"""app/k8s bounds every wait: a request's deadline, a write's server-side timeout, and the
circuit that makes calls fail at once. The gateway points at a closed loopback port (nothing is
faked: connections are really refused), so no cluster is needed."""
from __future__ import annotations

import socket
import time

import pytest
from kubernetes import client

from app.constants import RAYCLUSTER
from app.errors import DeadlineExceeded, Unavailable
from app.k8s import K8s
from tests.support.net import closed_port


def gateway(request_timeout: float = 10.0) -> K8s:
    port = closed_port()
    return K8s(lambda: client.Configuration(host=f"https://127.0.0.1:{port}"), timeout=5.0,
               request_timeout=request_timeout)


def test_a_call_after_the_requests_deadline_is_not_made() -> None:
    k8s = gateway(request_timeout=0.05)
    with k8s.request_scope():
        time.sleep(0.06)
        with pytest.raises(DeadlineExceeded, match="ran out of time before the Kubernetes API call get_object"):
            k8s.get_object(RAYCLUSTER, "ns", "c")


def test_a_write_needs_time_to_learn_its_outcome() -> None:
    """With under two seconds left, the API server could not be told to give up before we do."""
    k8s = gateway(request_timeout=1.5)
    with k8s.request_scope(), pytest.raises(DeadlineExceeded, match="too little was left to make a write"):
        k8s.create_object(RAYCLUSTER, "ns", {"metadata": {"name": "c"}})


def test_outside_a_request_scope_there_is_no_deadline() -> None:
    k8s = gateway(request_timeout=0.0001)
    with pytest.raises(Unavailable, match="cannot connect"):
        k8s.get_object(RAYCLUSTER, "ns", "c")


def test_after_two_failures_calls_fail_at_once_and_say_why() -> None:
    k8s = gateway()
    for _ in range(2):
        with pytest.raises(Unavailable, match="^Kubernetes API server unavailable: cannot connect$"):
            k8s.get_object(RAYCLUSTER, "ns", "c")

    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        k8s.list_objects(RAYCLUSTER, None, "")
    assert caught.value.message == ("Kubernetes API server unavailable: cannot connect "
                                    "(calls fail at once until it answers again)")
    assert time.monotonic() - started < 0.05


def test_a_write_that_never_got_through_failed() -> None:
    """A refused connection carried nothing: the write did not happen, and the answer says so (503)."""
    with pytest.raises(Unavailable, match="cannot connect"):
        gateway().create_object(RAYCLUSTER, "ns", {"metadata": {"name": "c"}})


def test_a_write_whose_answer_never_came_has_an_unknown_outcome() -> None:
    """A peer that takes the request and never answers (a frozen API server) may have carried the
    write out before it froze: 504, code 4, saying so; a read there is only unavailable (503)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        k8s = K8s(lambda: client.Configuration(host=f"http://127.0.0.1:{port}"), timeout=2.0)
        with pytest.raises(DeadlineExceeded, match="did not answer the write .no answer in time.: it may or may not"):
            k8s.create_object(RAYCLUSTER, "ns", {"metadata": {"name": "c"}})
        with pytest.raises(Unavailable, match="no answer in time"):
            K8s(lambda: client.Configuration(host=f"http://127.0.0.1:{port}"), timeout=0.5).get_object(
                RAYCLUSTER, "ns", "c")
