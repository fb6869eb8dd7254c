"""app/k8s/exchange.py: how one exchange's outcome is read, counted, and settles the circuit, caller
by caller; then the gateway's requests on loopback, where a real answer or a real silence is needed.

The classification is tested with stub transports (the behaviour under test is the reading of what
the transport did); the gateway's own requests go to real loopback sockets, never to a fake.
"""
from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3
from kubernetes import client
from prometheus_client import REGISTRY

from app import auth
from app.circuit import Circuit
from app.constants import RAYCLUSTER
from app.errors import DeadlineExceeded, Internal, NotFound, Unavailable
from app.k8s import Collection, K8s, Outcome
from app.k8s.connection import pool
from app.k8s.exchange import CALLS, FORWARDS, SENDS, WATCHES, Policy, classify, exchange
from app.transport import NO_ANSWER
from tests.support.net import closed_port

# -- the outcome of one exchange, from what the transport did -------------------------------------


@dataclass(frozen=True)
class Stub:
    status: int


def answers(status: int) -> Callable[[], Stub]:
    return lambda: Stub(status)


def raises(exc: Exception) -> Callable[[], Stub]:
    def send() -> Stub:
        raise exc

    return send


POOL = urllib3.HTTPConnectionPool("127.0.0.1", 1)
REFUSED_CONNECTION = urllib3.exceptions.NewConnectionError(
    urllib3.connection.HTTPConnection("127.0.0.1", 1), "Failed to establish a new connection: [Errno 111] Connection refused")
READ_TIMEOUT = urllib3.exceptions.ReadTimeoutError(POOL, "/api", "Read timed out. (read timeout=5.0)")
CONNECT_TIMEOUT = urllib3.exceptions.ConnectTimeoutError(POOL, "Connection to 127.0.0.1 timed out")
RESET = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
TLS = urllib3.exceptions.SSLError("certificate verify failed")

# send, whether the request's deadline cut the wait short -> outcome, cause, whether it may have arrived, metric label
CLASSIFIED = [
    (answers(200), False, Outcome.ANSWERED, "", True, "ok"),
    (answers(201), True, Outcome.ANSWERED, "", True, "ok"),
    (answers(404), False, Outcome.ANSWERED, "", True, "404"),
    (answers(409), False, Outcome.ANSWERED, "", True, "409"),
    (answers(500), False, Outcome.ANSWERED, "", True, "500"),  # a fault of the request's, not an outage
    (answers(302), False, Outcome.ANSWERED, "", True, "302"),  # redirects are answers: none is followed
    (answers(503), False, Outcome.REFUSED, "it answered 503", True, "503"),
    (answers(502), False, Outcome.REFUSED, "it answered 502", True, "502"),
    (answers(504), True, Outcome.REFUSED, "it answered 504", True, "504"),
    (raises(REFUSED_CONNECTION), False, Outcome.UNREACHABLE, "cannot connect", False, "unreachable"),
    (raises(ConnectionRefusedError(111, "refused")), False, Outcome.UNREACHABLE, "cannot connect", True,
     "unreachable"),
    (raises(RESET), False, Outcome.UNREACHABLE, "connection failed", True, "unreachable"),
    (raises(TLS), False, Outcome.UNREACHABLE, "TLS handshake failed", False, "unreachable"),
    (raises(CONNECT_TIMEOUT), False, Outcome.UNREACHABLE, NO_ANSWER, False, "unreachable"),
    (raises(CONNECT_TIMEOUT), True, Outcome.CUT, NO_ANSWER, False, "timeout"),
    (raises(READ_TIMEOUT), False, Outcome.TIMED_OUT, NO_ANSWER, True, "timeout"),
    (raises(READ_TIMEOUT), True, Outcome.CUT, NO_ANSWER, True, "timeout"),
    (raises(urllib3.exceptions.MaxRetryError(POOL, "/api", READ_TIMEOUT)), False, Outcome.TIMED_OUT, NO_ANSWER,
     True, "timeout"),
]


@pytest.mark.parametrize(("send", "cut_short", "outcome", "cause", "sent", "label"), CLASSIFIED)
def test_each_ending_of_an_exchange_has_one_outcome(send: Callable[[], Stub], cut_short: bool, outcome: Outcome,
                                                    cause: str, sent: bool, label: str) -> None:
    result = classify(send, cut_short=cut_short)
    assert (result.outcome, result.cause, result.sent, result.label) == (outcome, cause, sent, label)
    assert (result.answer is None) == (result.error is not None)


# -- how each caller's reading settles the circuit ----------------------------------------------


class Recording(Circuit):
    """The circuit, with a record of how each call settled it."""

    def __init__(self) -> None:
        super().__init__(threshold=2, cooldown=60.0)
        self.settled: list[str] = []

    def answered(self, probe: bool) -> None:
        self.settled.append("answered")
        super().answered(probe)

    def released(self, probe: bool) -> None:
        self.settled.append("released")
        super().released(probe)

    def failed(self, probe: bool, cause: str) -> None:
        self.settled.append(f"failed: {cause}")
        super().failed(probe, cause)


# policy, send, cut short -> how the circuit was settled
SETTLED = [
    (CALLS, answers(200), False, "answered"),
    (CALLS, answers(404), False, "answered"),  # a refusal of the request shows the server serves
    (CALLS, answers(503), False, "failed: it answered 503"),
    (CALLS, raises(REFUSED_CONNECTION), False, "failed: cannot connect"),
    (CALLS, raises(READ_TIMEOUT), False, f"failed: {NO_ANSWER}"),
    (CALLS, raises(READ_TIMEOUT), True, "released"),  # the caller's lack of time
    (FORWARDS, answers(200), False, "answered"),
    (FORWARDS, answers(503), False, "answered"),  # maybe a proxied Service's
    (FORWARDS, raises(REFUSED_CONNECTION), False, "failed: cannot connect"),
    (FORWARDS, raises(READ_TIMEOUT), False, f"failed: {NO_ANSWER}"),
    (FORWARDS, raises(READ_TIMEOUT), True, "released"),
    (SENDS, answers(502), False, "answered"),  # maybe the proxied Service's
    (SENDS, raises(REFUSED_CONNECTION), False, "failed: cannot connect"),
    (SENDS, raises(CONNECT_TIMEOUT), False, f"failed: {NO_ANSWER}"),  # the API server itself is out of reach
    (SENDS, raises(READ_TIMEOUT), False, "released"),  # maybe the proxied Service is the slow one
]


def counted(call: str, label: str) -> float:
    return REGISTRY.get_sample_value("kuberay_api_kubernetes_requests_total", {"call": call, "outcome": label}) or 0.0


@pytest.mark.parametrize(("policy", "send", "cut_short", "settled"), SETTLED)
def test_each_caller_settles_the_circuit_its_own_way(policy: Policy, send: Callable[[], Stub], cut_short: bool,
                                                     settled: str) -> None:
    circuit = Recording()
    label = classify(send, cut_short=cut_short).label
    before = counted("settling", label)
    exchange("settling", send, policy, circuit, cut_short=cut_short)
    assert circuit.settled == [settled]
    assert counted("settling", label) == before + 1


def test_watches_go_while_the_circuit_is_open_and_leave_it_alone() -> None:
    circuit = Recording()
    for _ in range(2):
        exchange("opening", raises(REFUSED_CONNECTION), CALLS, circuit)
    assert circuit.is_open
    for send in (answers(200), answers(503), raises(READ_TIMEOUT), raises(REFUSED_CONNECTION)):
        assert exchange("watching", send, WATCHES, circuit).outcome is classify(send).outcome
    assert circuit.settled == ["failed: cannot connect"] * 2
    assert circuit.is_open


def test_an_open_circuit_fails_at_once_sends_nothing_and_is_counted() -> None:
    circuit = Recording()
    for _ in range(2):
        exchange("opening", raises(REFUSED_CONNECTION), CALLS, circuit)
    sent: list[str] = []

    def send() -> Stub:
        sent.append("a request")
        return Stub(200)

    before = counted("refused_at_once", "circuit_open")
    with pytest.raises(Unavailable, match="^Kubernetes API server unavailable: cannot connect .calls fail at once"):
        exchange("refused_at_once", send, FORWARDS, circuit)
    assert sent == []
    assert counted("refused_at_once", "circuit_open") == before + 1


def test_any_other_failure_of_the_request_is_raised_and_counted_as_a_failed_call() -> None:
    """A probe that ended so must not leave the circuit waiting for it for ever."""
    circuit = Recording()
    before = counted("broken", "unreachable")
    with pytest.raises(RuntimeError, match="a bug"):
        exchange("broken", raises(RuntimeError("a bug")), SENDS, circuit)
    assert circuit.settled == ["failed: the call failed"]
    assert counted("broken", "unreachable") == before + 1


# -- the gateway's requests, on loopback -----------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers by the path's last segment (a status, `redirect`, `array`, `text`), 200 and an empty
    object otherwise; records each request."""

    received: list[Received]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.received.append(Received(self.command, self.path, list(self.headers.items()), body))
        last = self.path.split("?")[0].rsplit("/", 1)[-1]
        status, data, headers = 200, b"{}", [("Content-Type", "application/json")]
        if last.isdigit():
            status, data = int(last), b'{"kind": "Status", "message": "as told"}'
        elif last == "redirect":
            status, data, headers = 302, b"", [("Location", "/elsewhere")]
        elif last == "array":
            data = b"[1, 2]"
        elif last == "text":
            status, data, headers = 404, b"404 page not found", [("Content-Type", "text/plain")]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


Peer = tuple[str, list[Received]]  # its address, what it received


@pytest.fixture
def peer() -> Iterator[Peer]:
    received: list[Received] = []
    handler = type("Recorded", (Recorder,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A peer that takes connections and never answers: a frozen API server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def gateway(host: str, timeout: float = 5.0, request_timeout: float = 10.0) -> K8s:
    return K8s(lambda: client.Configuration(host=host), timeout=timeout, request_timeout=request_timeout)


def test_a_forward_passes_the_body_as_is_and_hands_any_answer_back_unread_a_redirect_too(peer: Peer) -> None:
    host, received = peer
    caller = auth.Caller("alice", groups=("dev", "ops"), impersonated=True)
    body = b'{"spec": {"a": 1}, "b":  [1,2]}\n'  # not decoded and encoded again: the spacing stays
    with auth.acting_as(caller):
        forwarded = gateway(host).forward("POST", "/apis/x/redirect?dryRun=All", {"Content-Type": "application/json"},
                                          body)
    try:
        assert forwarded.status == 302  # not followed
        assert ("Location", "/elsewhere") in forwarded.headers
    finally:
        forwarded.close()
    [request] = received
    assert (request.method, request.path, request.body) == ("POST", "/apis/x/redirect?dryRun=All", body)
    assert ("Impersonate-User", "alice") in request.headers
    assert [value for name, value in request.headers if name == "Impersonate-Group"] == ["dev", "ops"]


def test_a_write_sends_its_object_as_json_and_tells_the_server_to_give_up_before_we_do(peer: Peer) -> None:
    host, received = peer
    gateway(host, timeout=5.0).create_object(RAYCLUSTER, "ns", {"metadata": {"name": "c"}, "spec": {"n": 1}})
    [request] = received
    assert request.path == "/apis/ray.io/v1/namespaces/ns/rayclusters?timeout=4s"
    assert json.loads(request.body) == {"metadata": {"name": "c"}, "spec": {"n": 1}}
    assert ("Content-Type", "application/json") in request.headers
    assert not [name for name, _ in request.headers if name.startswith("Impersonate")]


def test_answers_that_are_not_the_json_expected(peer: Peer) -> None:
    """A success must be an object; a refusal's body need not be JSON (its status then speaks)."""
    k8s = gateway(peer[0])
    with pytest.raises(Internal, match="^unreadable response from the Kubernetes API in get_object$"):
        k8s.get_object(RAYCLUSTER, "ns", "array")
    with pytest.raises(NotFound, match="^HTTP 404$"):
        k8s.get_object(RAYCLUSTER, "ns", "text")
    with pytest.raises(NotFound, match="^as told$"):
        k8s.get_object(RAYCLUSTER, "ns", "404")


def test_a_503_counts_against_the_circuit_for_a_call_and_not_for_a_forward(peer: Peer) -> None:
    k8s = gateway(peer[0])
    for _ in range(3):
        forwarded = k8s.forward("GET", "/api/v1/namespaces/ns/services/s:80/proxy/503", {}, None)
        assert forwarded.status == 503
        forwarded.close()
    k8s.get_object(RAYCLUSTER, "ns", "c")  # the circuit is closed
    for _ in range(2):
        with pytest.raises(Unavailable, match="^Kubernetes API server unavailable: as told$"):
            k8s.get_object(RAYCLUSTER, "ns", "503")
    with pytest.raises(Unavailable, match="it answered 503 .calls fail at once"):
        k8s.get_object(RAYCLUSTER, "ns", "c")


def test_a_call_to_a_silent_server_counts_against_the_circuit_unless_the_deadline_cut_its_wait(silent: str) -> None:
    k8s = gateway(silent, timeout=0.5, request_timeout=0.3)
    for _ in range(3):  # the request's deadline cuts the call's wait: the caller's lack of time
        with k8s.request_scope(), pytest.raises(
                DeadlineExceeded, match="^The request ran out of time waiting for the Kubernetes API call get_object"):
            k8s.get_object(RAYCLUSTER, "ns", "c")
    for _ in range(2):  # the whole wait in silence: the server's
        with pytest.raises(Unavailable, match=f"^Kubernetes API server unavailable: {NO_ANSWER}$"):
            k8s.get_object(RAYCLUSTER, "ns", "c")
    with pytest.raises(Unavailable, match="calls fail at once"):
        k8s.get_object(RAYCLUSTER, "ns", "c")


def test_a_forward_to_a_silent_server_fails_the_circuit_unless_the_deadline_cut_its_wait(silent: str) -> None:
    k8s = gateway(silent, timeout=0.5, request_timeout=0.3)
    for _ in range(3):
        with k8s.request_scope(), pytest.raises(DeadlineExceeded, match="did not answer in time.$"):
            k8s.forward("GET", "/api/v1/namespaces", {}, None)
    started = time.monotonic()
    for _ in range(2):
        with pytest.raises(DeadlineExceeded, match=r"did not answer in time \(a write"):
            k8s.forward("POST", "/api/v1/namespaces", {}, b"{}", read_timeout=0.3)
    assert time.monotonic() - started < 3
    with pytest.raises(Unavailable, match="calls fail at once"):
        k8s.forward("GET", "/api/v1/namespaces", {}, None)


def test_a_send_that_cannot_connect_fails_the_circuit() -> None:
    k8s = gateway(f"http://127.0.0.1:{closed_port()}")
    for _ in range(2):
        with pytest.raises(Unavailable, match="^Kubernetes API server unavailable: cannot connect$"):
            k8s.send("list_jobs", "GET", "/api/v1/namespaces/ns/services/s:8265/proxy/api/jobs/", {}, None, 1.0)
    with pytest.raises(Unavailable, match="calls fail at once"):
        k8s.get_object(RAYCLUSTER, "ns", "c")


def test_a_watch_of_a_silent_server_is_unavailable_and_leaves_the_circuit_closed(silent: str) -> None:
    k8s = gateway(silent)
    for _ in range(3):
        with pytest.raises(Unavailable, match=f"^Kubernetes API server unavailable: {NO_ANSWER}$"):
            k8s.watch(Collection.configmaps("a=b"), "1", 60, read_timeout=0.2)
    # a call is still made (the circuit stayed closed), and waits until the request's deadline
    with k8s.request_scope(within=0.2), pytest.raises(DeadlineExceeded, match="ran out of time waiting"):
        k8s.get_object(RAYCLUSTER, "ns", "c")


# -- the pool, from the client's configuration -----------------------------------------------------


def test_the_pool_follows_the_configurations_tls_and_proxy() -> None:
    plain = pool(client.Configuration(host="https://10.0.0.1:6443", proxy="", no_proxy=""))
    assert type(plain) is urllib3.PoolManager
    assert plain.connection_pool_kw["cert_reqs"] == ssl.CERT_REQUIRED

    unverified = client.Configuration(host="https://10.0.0.1:6443", proxy="", no_proxy="")
    unverified.verify_ssl = False
    unverified.ssl_ca_cert = "/etc/ca.crt"
    unverified.cert_file, unverified.key_file = "/etc/client.crt", "/etc/client.key"
    unverified.tls_server_name = "kubernetes"
    options = pool(unverified).connection_pool_kw
    assert (options["cert_reqs"], options["ca_certs"], options["cert_file"], options["key_file"],
            options["server_hostname"]) == (ssl.CERT_NONE, "/etc/ca.crt", "/etc/client.crt", "/etc/client.key", "kubernetes")

    proxied = pool(client.Configuration(host="https://10.0.0.1:6443", proxy="http://proxy:3128", no_proxy=""))
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy is not None
    assert proxied.proxy.host == "proxy"
    bypassed = pool(client.Configuration(host="https://10.0.0.1:6443", proxy="http://proxy:3128",
                                         no_proxy="10.0.0.0/8"))
    assert not isinstance(bypassed, urllib3.ProxyManager)
