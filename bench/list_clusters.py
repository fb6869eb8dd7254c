"""Latency of listing N clusters through our server, next to a raw list from the kube-apiserver.

    .venv/bin/python -m bench.list_clusters --kubeconfig "$KUBECONFIG" --n 100 --n 1000

For each N: a fresh namespace gets N suspended RayClusters (as our server would write them, so
the objects have their real size; `spec.suspend` keeps the operator from making pods), our
server is started over HTTP on a free loopback port (gunicorn + uvicorn worker when wsgi.py
and gunicorn.conf.py exist, else uvicorn), and the same list is timed both ways. Everything it
creates is deleted at the end, and every wait is bounded.

"raw" is the same labelled list read with app.k8s (one GET, JSON decoded, nothing else): the
floor for any Python server. The two are timed alternately, so that load from elsewhere on the
machine weighs on both alike.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.constants import MANAGED_SELECTOR, RAYCLUSTER  # noqa: E402
from app.k8s import K8s  # noqa: E402
from app.translate.cluster import to_raycluster  # noqa: E402
from devcluster.cluster import free_port  # noqa: E402

STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0


def _template(namespace: str) -> dict[str, Any]:
    return {"name": "bench", "namespace": namespace, "cpu": 1, "memory": 2, "memoryUnit": "Gi"}


def _cluster(namespace: str, name: str) -> dict[str, Any]:
    group = {"computeTemplate": "bench", "rayStartParams": {"dashboard-host": "0.0.0.0"}}
    return {
        "name": name, "namespace": namespace, "user": "bench", "version": "2.46.0",
        "clusterSpec": {
            "headGroupSpec": {**group, "serviceType": "ClusterIP"},
            "workerGroupSpec": [{**group, "groupName": "small", "replicas": 1, "maxReplicas": 4}],
        },
    }


def create_clusters(k8s: K8s, namespace: str, n: int) -> None:
    """N RayClusters written as our server writes them, suspended, in parallel."""
    templates = {"bench": _template(namespace)}
    now = datetime.now(UTC)

    def create(index: int) -> None:
        body = to_raycluster(_cluster(namespace, f"bench-{index:05d}"), templates, now)
        body["spec"]["suspend"] = True
        k8s.create_object(RAYCLUSTER, namespace, body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, range(n)))


def timed(calls: list[Callable[[], Any]], repeat: int) -> list[list[float]]:
    """Milliseconds per call, the calls taking turns; one untimed round warms connections."""
    samples: list[list[float]] = [[] for _ in calls]
    for round_ in range(repeat + 1):
        for call, times in zip(calls, samples, strict=True):
            started = time.perf_counter()
            call()
            if round_:
                times.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


class Server:
    """Our app over real HTTP in a child process, stopped (by its pid) on exit."""

    def __init__(self, kubeconfig: str) -> None:
        self.port = free_port()
        env = {**os.environ, "KUBECONFIG": kubeconfig, "PYTHONPATH": str(ROOT),
               "KUBERAY_API_LOG_LEVEL": "WARNING"}
        bind = f"127.0.0.1:{self.port}"
        if (ROOT / "wsgi.py").exists() and (ROOT / "gunicorn.conf.py").exists():
            command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", bind,
                       "--workers", "1", "wsgi:app"]
        else:
            command = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app",
                       "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.kind = Path(command[2]).name
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                self.get("/apis/v1/compute_templates")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def get(self, path: str) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            return body
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _namespace(kubeconfig: str, name: str, create: bool) -> None:
    """Namespaces are outside K8s' interface (the server never manages them): the plain client."""
    from kubernetes import client, config

    with config.new_client_from_config(config_file=kubeconfig) as api:
        core = client.CoreV1Api(api)
        if create:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        else:
            core.delete_namespace(name, _request_timeout=30)


def bench(kubeconfig: str, n: int, repeat: int) -> dict[str, Any]:
    k8s = K8s.from_kubeconfig(kubeconfig)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    _namespace(kubeconfig, namespace, create=True)
    server = None
    try:
        started = time.monotonic()
        create_clusters(k8s, namespace, n)
        created_s = time.monotonic() - started
        server = Server(kubeconfig)
        path = f"/apis/v1/namespaces/{namespace}/clusters"
        listed = json.loads(server.get(path)).get("clusters", [])
        assert len(listed) == n, f"listed {len(listed)} of {n}"
        ours, raw = timed([lambda: server.get(path),
                           lambda: k8s.list_objects(RAYCLUSTER, namespace, MANAGED_SELECTOR)], repeat)
        size = len(server.get(path))
        return {"n": n, "server": server.kind, "create_s": created_s, "bytes": size,
                "ours": ours, "raw": raw}
    finally:
        if server:
            server.stop()
        _namespace(kubeconfig, namespace, create=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                        required="KUBECONFIG" not in os.environ)
    parser.add_argument("--n", type=int, action="append",
                        help="clusters to list (repeatable; default: 100, then 1000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed lists per measurement")
    args = parser.parse_args(argv)

    print(f"{'N':>6} {'server':>9} {'ours p50':>9} {'ours p90':>9} {'raw p50':>9} {'raw p90':>9} "
          f"{'ratio':>6} {'KiB':>7} {'create':>7}")
    for n in args.n or [100, 1000]:
        r = bench(args.kubeconfig, n, args.repeat)
        ours50, raw50 = percentile(r["ours"], 50), percentile(r["raw"], 50)
        print(f"{n:>6} {r['server']:>9} {ours50:>7.1f}ms {percentile(r['ours'], 90):>7.1f}ms "
              f"{raw50:>7.1f}ms {percentile(r['raw'], 90):>7.1f}ms {ours50 / raw50:>6.2f} "
              f"{r['bytes'] / 1024:>7.0f} {r['create_s']:>6.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
