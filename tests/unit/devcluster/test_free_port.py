"""free_port: a port nothing holds, outside the range the kernel hands to outgoing connections and
Kubernetes' NodePort range."""
from __future__ import annotations

import socket

from devcluster.procs import NODE_PORTS, _ephemeral_low, free_port


def test_the_port_is_free_below_the_ephemeral_range_and_no_node_port() -> None:
    """(A NodePort on localhost goes to its Service's pods: a component there would lose its
    connections whenever a test's Service got that port.)"""
    low = _ephemeral_low()
    for _ in range(200):
        port = free_port()
        assert 1024 <= port < low
        assert port not in NODE_PORTS
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing holds it


def test_a_port_in_use_is_never_chosen() -> None:
    held = []
    try:
        for _ in range(50):
            sock = socket.socket()
            sock.bind(("127.0.0.1", free_port()))
            held.append(sock)
        assert len({sock.getsockname()[1] for sock in held}) == 50
    finally:
        for sock in held:
            sock.close()


def test_ports_given_out_but_not_yet_bound_are_avoided() -> None:
    """A control plane takes its components' ports before any binds them: no two may be one."""
    given: set[int] = set()
    for _ in range(2000):
        port = free_port(avoid=given)
        assert port not in given
        given.add(port)
