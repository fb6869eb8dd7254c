"""The server as production runs it: `gunicorn -c gunicorn.conf.py wsgi:app` as a subprocess on a
free loopback port (and its gRPC front on another), with KUBECONFIG pointing at a test's control
plane, and a plain HTTP client."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from devcluster.procs import free_port
from tests.support.api import Send
from tests.support.kube import Cluster
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "gunicorn.conf.py"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path
    grpc_port: int

    def logs(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def kubernetes_client(server: Server, **settings: Any) -> client.ApiClient:
    """The official Kubernetes client with the server as its host (the V2 API's callers): no credentials."""
    return client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{server.port}", **settings))


def refuses_connections(port: int) -> bool:
    """Nothing listens on the loopback port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def _ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False


@contextmanager
def gunicorn(cluster: Cluster, workdir: Path, **env: str) -> Iterator[Server]:
    """Started with only the environment it is given (no KUBERAY_API_* of the caller's)."""
    port, grpc_port = free_port(), free_port()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "KUBECONFIG": str(cluster.kubeconfig),
        "KUBERAY_API_BIND": f"127.0.0.1:{port}",
        "KUBERAY_API_GRPC_BIND": f"127.0.0.1:{grpc_port}",
        "KUBERAY_API_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        **env,
    }
    stdout, stderr = workdir / "gunicorn.out", workdir / "gunicorn.err"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "wsgi:app"],
            cwd=ROOT, env=environment, stdout=out, stderr=err, start_new_session=True)
    server = Server(process, port, stdout, stderr, grpc_port)
    try:
        wait_for(lambda: process.poll() is not None or _ready(port), timeout=60,
                 what="gunicorn to be ready")
        assert process.poll() is None, server.logs()
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the group this test started
                process.wait(timeout=10)


def http_send(port: int, sent: list[str] | None = None) -> Send:
    """Each request on a new connection; `sent` collects "METHOD path" of each."""
    def send(method: str, path: str, body: Any) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if sent is not None:
            sent.append(f"{method} {path}")
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data) if data else None
        return response.status, data.decode()
    return send
