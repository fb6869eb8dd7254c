"""The production entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, as the image runs it.

Gunicorn runs as a subprocess on a free loopback port, with KUBECONFIG pointing at the test's
control plane: it serves the seed sequence, and SIGTERM during a request whose body is still
arriving lets that request finish before the process exits.
"""
from __future__ import annotations

import http.client
import json
import os
import runpy
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.settings import METRICS_DIR
from tests.support import seed_sequence
from tests.support.bodies import template_body
from tests.support.kube import Cluster, Kube
from tests.support.served import gunicorn, http_send, refuses_connections
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "gunicorn.conf.py"


def api_requests_counted(metrics_text: str) -> int:
    """Requests answered by an operation of the API, summed over every label set."""
    return int(sum(sample.value for family in text_string_to_metric_families(metrics_text)
                   for sample in family.samples
                   if sample.name == "kuberay_api_requests_total"
                   and _is_api_operation(sample.labels.get("operation", ""))))


def _is_api_operation(label: str) -> bool:
    """An operationId: not a route outside the spec (`/healthz`), nor an unrouted request."""
    return bool(label) and not label.startswith("/") and label != "unmatched"


def test_gunicorn_serves_the_seed_sequence(
    cluster: Cluster, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    sent: list[str] = []
    with gunicorn(cluster, tmp_path, KUBERAY_API_LOG_FORMAT="json") as server:
        send = http_send(server.port, sent)
        seed_sequence.run(send, seed_sequence.steps(namespace, other_namespace))
        assert send("GET", "/healthz", None)[0] == 200
        assert send("GET", "/readyz", None)[0] == 200
        status, metrics = send("GET", "/metrics", None)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0, server.logs()

    # One scrape reaches one of the two workers, and counts every API request of both.
    api_requests = len([s for s in sent if s.split()[1].startswith("/apis/")])
    assert status == 200
    assert api_requests_counted(metrics) == api_requests
    lines = [json.loads(line) for line in server.stdout.read_text().splitlines()]  # all JSON
    assert any(line["logger"] == "gunicorn.error" and "Listening at" in line["message"] for line in lines)
    # (a probe is logged when it fails: /readyz answers 503 until the caches are synced)
    access = [line for line in lines if line["logger"] == "app.access" and " /readyz 503 " not in line["message"]]
    assert {"operation": "update_service", "status": 200, "method": "PUT"}.items() \
        <= next(line for line in access if line["method"] == "PUT").items()
    assert len(access) == api_requests  # one line per API request (probes and scrapes at DEBUG)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # no second line per request


def test_sigterm_lets_a_request_in_flight_finish(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """The body arrives in pieces over a raw socket, so the server is mid-request at SIGTERM."""
    with gunicorn(cluster, tmp_path, KUBERAY_API_GRACEFUL_TIMEOUT="20") as server:
        body = json.dumps(template_body(namespace, "in-flight")).encode()
        head = (f"POST /apis/v1/namespaces/{namespace}/compute_templates HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(head + body[:10])
        time.sleep(1.0)  # a worker has the headers and waits for the rest of the body

        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(server.port), timeout=15, what="gunicorn to stop listening")
        time.sleep(1.0)
        assert server.process.poll() is None, "gunicorn exited with a request in flight"
        for start in range(10, len(body), 20):
            sock.sendall(body[start:start + 20])
            time.sleep(0.1)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = response.read()
        sock.close()

        assert response.status == 200, answer
        assert json.loads(answer)["name"] == "in-flight"
        assert server.process.wait(timeout=20) == 0, server.logs()
    assert Kube(cluster.api).configmap(namespace, "in-flight") is not None


# -- gunicorn.conf.py's reading of the environment (no server started) ----------------------------

def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """gunicorn.conf.py's names for `env` alone; the process's environment is restored after."""
    for name in list(os.environ):
        if name.startswith("KUBERAY_API_") or name == "PORT":
            monkeypatch.delenv(name)
    monkeypatch.setenv(METRICS_DIR, str(tmp_path))  # the config sets it if unset: keep it ours
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_config_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = settings(monkeypatch, tmp_path, {})
    assert conf["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert conf["wsgi_app"] == "wsgi:app"
    assert conf["bind"] == ["0.0.0.0:8888"]
    assert (conf["workers"], conf["timeout"], conf["graceful_timeout"], conf["keepalive"]) == (2, 30, 30, 5)
    assert conf["loglevel"] == "info"
    assert conf["control_socket_disable"] is True
    assert conf["logconfig_dict"]["handlers"]["stdout"]["formatter"] == "text"


def test_config_chooses_a_metrics_folder_when_none_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(METRICS_DIR, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp creates it
    try:
        runpy.run_path(str(CONFIG))
        chosen = Path(os.environ[METRICS_DIR])
    finally:
        os.environ.pop(METRICS_DIR, None)
    assert chosen.parent == tmp_path
    assert chosen.is_dir()


CONFIG_TABLE = [
    ({"PORT": "9000"}, "bind", ["0.0.0.0:9000"]),
    ({"PORT": "9000", "KUBERAY_API_PORT": "9001"}, "bind", ["0.0.0.0:9001"]),
    ({"KUBERAY_API_BIND": "127.0.0.1:1, [::1]:2"}, "bind", ["127.0.0.1:1", "[::1]:2"]),
    ({"KUBERAY_API_WORKERS": "4"}, "workers", 4),
    ({"KUBERAY_API_TIMEOUT": "90"}, "timeout", 90),
    ({"KUBERAY_API_GRACEFUL_TIMEOUT": "45"}, "graceful_timeout", 45),
    ({"KUBERAY_API_KEEPALIVE": "75"}, "keepalive", 75),
    ({"KUBERAY_API_LOG_LEVEL": "debug"}, "loglevel", "debug"),
]


@pytest.mark.parametrize(("env", "name", "expected"), CONFIG_TABLE,
                         ids=[next(iter(env)) + f"-{i}" for i, (env, _, _) in enumerate(CONFIG_TABLE)])
def test_config_reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], name: str,
                      expected: Any) -> None:
    assert settings(monkeypatch, tmp_path, env)[name] == expected


@pytest.mark.parametrize("env", [{"KUBERAY_API_WORKERS": "0"}, {"KUBERAY_API_GRACEFUL_TIMEOUT": "soon"},
                                 {"KUBERAY_API_LOG_FORMAT": "xml"}, {"KUBERAY_API_PORT": "70000"},
                                 {"KUBERAY_API_TIMEOUT": "-1"}],
                         ids=lambda env: next(iter(env)))
def test_config_refuses_a_bad_value_naming_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(env))):
        settings(monkeypatch, tmp_path, env)


def test_json_log_format_is_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = settings(monkeypatch, tmp_path, {"KUBERAY_API_LOG_FORMAT": "json"})
    assert conf["logconfig_dict"]["handlers"]["stdout"]["formatter"] == "json"
