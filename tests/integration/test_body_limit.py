"""The V1 API's body limit (4 MiB by default): a larger body is answered 413, code 3, before it is
read whole; a body of exactly the limit is served."""
from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from starlette.testclient import TestClient

from app.settings import DEFAULT_BODY_LIMIT
from tests.support.api import ok
from tests.support.bodies import template_body
from tests.support.kube import Cluster, Kube
from tests.support.procfs import all_stats, rss_kib
from tests.support.served import gunicorn

MiB = 1024 * 1024
TOO_LARGE = {"code": 3, "message": "The request body is larger than 4194304 bytes (4 MiB), the most this API accepts."}


def padded(namespace: str, name: str, size: int) -> bytes:
    """A valid compute template of exactly `size` bytes: its JSON, then blanks."""
    body = json.dumps(template_body(namespace, name)).encode()
    return body + b" " * (size - len(body))


def test_a_body_of_exactly_the_limit_is_served(app_client: TestClient, kube: Kube, namespace: str) -> None:
    body = padded(namespace, "exact", DEFAULT_BODY_LIMIT)
    created = app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", content=body,
                              headers={"Content-Type": "application/json"})
    assert ok(created)["name"] == "exact"
    assert kube.configmap(namespace, "exact") is not None


def test_a_body_one_byte_over_the_limit_is_refused_and_nothing_written(
        app_client: TestClient, kube: Kube, namespace: str) -> None:
    body = padded(namespace, "over", DEFAULT_BODY_LIMIT + 1)
    refused = app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", content=body,
                              headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.json()) == (413, TOO_LARGE)
    assert kube.configmap(namespace, "over") is None


def _workers_rss_kib(master: int) -> int:
    return sum(rss_kib(pid) for pid, (ppid, *_) in all_stats().items() if ppid == master)


def _slow_stream(total: int, chunk: int, pause: float) -> Iterator[bytes]:
    """`total` bytes of a JSON-looking body, `chunk` bytes at a time, `pause` seconds apart."""
    yield b'{"name": "flood", "padding": "'
    for _ in range(total // chunk):
        time.sleep(pause)
        yield b"x" * chunk


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def test_a_slow_100_mib_stream_is_refused_as_it_passes_the_limit(cluster: Cluster, namespace: str,
                                                                  tmp_path: Path) -> None:
    """Chunked, so no length says the size beforehand: the server answers once the bytes received
    pass the limit, and its workers' memory never holds the stream, neither before the answer nor
    while the client goes on sending; the connection then serves the next request."""
    with gunicorn(cluster, tmp_path) as server:
        path = f"/apis/v1/namespaces/{namespace}/compute_templates"
        before = _workers_rss_kib(server.process.pid)
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        started, sent, peak = time.monotonic(), 0, before
        answered, sent_then = 0.0, 0
        for piece in _slow_stream(100 * MiB, 64 * 1024, 0.002):
            if not answered and select.select([sock], [], [], 0)[0]:
                answered, sent_then = time.monotonic() - started, sent  # and the client goes on
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            if sent % MiB < 64 * 1024:
                peak = max(peak, _workers_rss_kib(server.process.pid))
        sock.sendall(b'2\r\n"}\r\n0\r\n\r\n')  # the end of the body
        status, body = _answer(sock)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        next_status, _ = _answer(sock)
        sock.close()

    assert (status, json.loads(body)) == (413, TOO_LARGE)
    assert 0 < sent_then < DEFAULT_BODY_LIMIT + 4 * MiB, sent_then  # answered once past the limit
    assert answered < 10, answered
    assert (peak - before) / 1024 < 40, (before, peak)  # the workers never held the 100 MiB
    assert next_status == 200


def test_a_length_over_the_limit_is_refused_before_any_of_the_body(cluster: Cluster, namespace: str,
                                                                   tmp_path: Path) -> None:
    with gunicorn(cluster, tmp_path) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(f"POST /apis/v1/namespaces/{namespace}/clusters HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {100 * MiB}\r\n\r\n".encode())
        status, body = _answer(sock)
        sock.close()
    assert (status, json.loads(body)) == (413, TOO_LARGE)
