"""Reads at scale: lists and GETs through the server (gunicorn, 2 workers, as `make run`), next to
raw lists of the same objects from the kube-apiserver, and the workers' memory.

    .venv/bin/python -m bench.reads --kubeconfig "$KUBECONFIG"

Needs `wrk` (Debian: `apt-get install wrk`). In namespaces of this run's own, it writes
RayClusters as the server writes them (suspended, so that the operator starts no pods) and
events.k8s.io/v1 Events regarding them, topping up what the operator writes to 3 per cluster:

1. one namespace with 10, then 100, then 1,000 clusters: the list's p50 through the server and
   raw (the same RayClusters and their events, read with app/k8s: one GET each, decoded: the
   floor for any Python server), timed alternately; and GETs of one cluster with `wrk -c16`;
2. 10,000 events regarding Pods added to that namespace: GET again;
3. 49 more namespaces, to 5,000 clusters in 50 namespaces (1,000 in the first, about 82 in each
   other): the all-namespaces list, ours and raw, then each worker's RSS.

Each measurement starts once the server's caches have seen no event for 5 s (the operator done
with the new clusters), after a warm-up. It prints one table (the README shows one run's).
Everything it creates is deleted at the end, Ctrl-C included, and every wait is bounded. About
fifteen minutes on two CPUs, most of it writing.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402

from app.constants import MANAGED_SELECTOR, RAYCLUSTER  # noqa: E402
from app.k8s import K8s  # noqa: E402
from app.translate.cluster import to_raycluster  # noqa: E402
from bench.soak import Server, percentile  # noqa: E402
from devcluster.cluster import KWOK_SELECTOR, NODE_SELECTOR_ANNOTATION  # noqa: E402

REQUEST_TIMEOUT = 120.0
EVENTS_PER_CLUSTER = 3
WRITERS = 16  # threads writing objects
SETTLE_TIMEOUT = 120.0
TEARDOWN_TIMEOUT = 600.0  # seconds a run waits for an earlier run's namespaces to be deleted
Json = dict[str, Any]


def _template(namespace: str) -> Json:
    return {"name": "bench", "namespace": namespace, "cpu": 1, "memory": 2, "memoryUnit": "Gi"}


def _cluster(namespace: str, name: str) -> Json:
    # stored data: the start parameter of Ray's dashboard, nothing binds here
    group = {"computeTemplate": "bench", "rayStartParams": {"dashboard-host": "0.0.0.0"}}  # noqa: S104
    return {
        "name": name, "namespace": namespace, "user": "bench", "version": "2.46.0",
        "clusterSpec": {
            "headGroupSpec": {**group, "serviceType": "ClusterIP"},
            "workerGroupSpec": [{**group, "groupName": "small", "replicas": 1, "maxReplicas": 4}],
        },
    }


def _event(namespace: str, kind: str, name: str, index: int) -> Json:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": f"{name}.bench{index}", "namespace": namespace},
        "eventTime": now, "reportingController": "bench", "reportingInstance": "bench-1",
        "action": "Measure", "reason": "Benchmark", "type": "Normal",
        "note": f"benchmark event {index} of {kind} {namespace}/{name}",
        "regarding": {"apiVersion": "ray.io/v1" if kind != "Pod" else "v1", "kind": kind,
                      "namespace": namespace, "name": name},
    }


class Plane:
    """The control plane as its administrator: namespaces, clusters and events past the server."""

    def __init__(self, kubeconfig: str) -> None:
        self.k8s = K8s.from_kubeconfig(kubeconfig, timeout=60.0, request_timeout=120.0)
        self._api = config.new_client_from_config(config_file=kubeconfig)
        self._core = client.CoreV1Api(self._api)
        self._events = client.EventsV1Api(self._api)

    def namespace(self, name: str) -> None:
        self._core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(  # pods on kwok nodes only
                       name=name, annotations={NODE_SELECTOR_ANNOTATION: KWOK_SELECTOR})))

    def pods(self, namespace: str) -> int:
        """How many pods the namespace has: one list of one item, whose answer counts the rest."""
        listed = self._core.list_namespaced_pod(namespace, limit=1, _request_timeout=30)
        rest = listed.metadata.remaining_item_count if listed.metadata else None
        return len(listed.items) + (rest or 0)

    def delete_namespace(self, name: str) -> None:
        self._core.delete_namespace(name, _request_timeout=30)

    def deleting(self) -> list[str]:
        """The namespaces of earlier runs still being deleted (their clusters' teardown is work the
        control plane would do during this run)."""
        names = []
        for item in self._core.list_namespace(_request_timeout=30).items:
            name = str(item.metadata.name if item.metadata else "")
            if name.startswith("bench-") and item.status is not None and item.status.phase == "Terminating":
                names.append(name)
        return names

    def clusters(self, namespace: str, first: int, count: int) -> None:
        """Clusters bench-<first> ... bench-<first+count-1>, written as the server writes them, suspended."""
        templates = {"bench": _template(namespace)}
        now = datetime.now(UTC)

        def create(index: int) -> None:
            body = to_raycluster(_cluster(namespace, f"bench-{index:05d}"), templates, now)
            body["spec"]["suspend"] = True
            self.k8s.create_object(RAYCLUSTER, namespace, body)

        _parallel(create, range(first, first + count))

    def events(self, bodies: list[Json]) -> None:
        _parallel(lambda body: self._events.create_namespaced_event(body["metadata"]["namespace"], body), bodies)

    def cluster_events(self, namespace: str | None) -> list[Json]:
        return self.k8s.list_events(namespace, f"regarding.kind={RAYCLUSTER.kind}")

    def top_up(self, namespaces: list[str], names: dict[str, list[str]]) -> None:
        """Once the operator's events settle, events of our own up to EVENTS_PER_CLUSTER per cluster."""
        deadline, last = time.monotonic() + SETTLE_TIMEOUT, -1
        while time.monotonic() < deadline:
            count = sum(len(self.cluster_events(namespace)) for namespace in namespaces)
            if count == last:
                break
            last = count
            time.sleep(3)
        bodies = []
        for namespace in namespaces:
            have = Counter(event["regarding"]["name"] for event in self.cluster_events(namespace))
            for name in names[namespace]:
                bodies += [_event(namespace, "RayCluster", name, index)
                           for index in range(have[name], EVENTS_PER_CLUSTER)]
        self.events(bodies)

    def raw_list(self, namespace: str | None) -> int:
        """The floor: the same clusters and their events, each one GET, decoded."""
        items = self.k8s.list_objects(RAYCLUSTER, namespace, MANAGED_SELECTOR).get("items") or []
        self.cluster_events(namespace)
        return len(items)


def _parallel(call: Callable[[Any], Any], items: Any) -> None:
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(call, items))


def _get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body
    finally:
        connection.close()


def compare_lists(port: int, plane: Plane, namespace: str | None, expected: int, repeat: int) -> tuple[float, float]:
    """p50 milliseconds of the list through the server and raw, taking turns (one untimed round)."""
    path = "/apis/v1/clusters" if namespace is None else f"/apis/v1/namespaces/{namespace}/clusters"
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while len(json.loads(_get(port, path)).get("clusters", [])) != expected:  # the watches caught up
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server does not list {expected} clusters at {path}")
        time.sleep(0.5)
    quiet(port)
    ours: list[float] = []
    raw: list[float] = []
    for round_ in range(repeat + 1):
        for call, times in ((lambda: _get(port, path), ours), (lambda: plane.raw_list(namespace), raw)):
            started = time.perf_counter()
            call()
            if round_:
                times.append((time.perf_counter() - started) * 1000)
    return percentile(ours, 50), percentile(raw, 50)


QUIET = 5.0  # seconds without a watch event that make the control plane quiet


def quiet(port: int) -> None:
    """Until the server's caches have seen no event for QUIET seconds (their own metric), at most
    SETTLE_TIMEOUT: the operator reconciling new clusters would share the two CPUs with the run."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        metrics = _get(port, "/metrics").decode()
        seen = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                if line.startswith("kuberay_api_cache_last_event_timestamp_seconds{")]
        if seen and time.time() - max(seen) >= QUIET:
            return
        time.sleep(1)
    print("(the control plane did not quieten: measuring anyway)", file=sys.stderr)


def wrk(port: int, path: str, seconds: int, headers: dict[str, str] | None = None) -> float:
    """Requests per second of `wrk -t2 -c16` on one GET (every answer must be 200), after a
    warm-up run of a few seconds (connections made, the answer translated once), once the control
    plane is quiet; `headers` go with every request."""
    quiet(port)
    sent = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    url = f"http://127.0.0.1:{port}{path}"
    subprocess.run(["wrk", "-t2", "-c16", "-d3s", *sent, url], capture_output=True, check=True, timeout=60)
    output = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", *sent, url],
                            capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw answers other than 200:\n{output}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not found:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return float(found.group(1))


Variant = tuple[str, dict[str, str], dict[str, str]]  # a label, the server's settings, the requests' headers


def best_rates(kubeconfig: str, variants: Sequence[Variant], get: str, listed: str, seconds: int,
               rounds: int) -> list[tuple[str, str, str]]:
    """Each variant's server (gunicorn, 2 workers, its settings) in turn, `rounds` times: the best
    req/s of each on one GET and on one list (`wrk`, with its headers), each run printed as it ends."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for label, settings, headers in variants:
            server = Server(kubeconfig, workers=2, settings=settings)
            try:
                try:
                    server.start()
                except RuntimeError:
                    print(server.log.read_text()[-3000:], file=sys.stderr)
                    raise
                got = (wrk(server.port, get, seconds, headers), wrk(server.port, listed, seconds, headers))
                print(label, *(f"{rate:.0f}" for rate in got), sep=" | ", flush=True)
                before = best.get(label, (0.0, 0.0))
                best[label] = (max(before[0], got[0]), max(before[1], got[1]))
            finally:
                server.stop()
                shutil.rmtree(server.folder, ignore_errors=True)
    return [(label, f"{get_rate:.0f}", f"{list_rate:.0f}") for label, (get_rate, list_rate) in best.items()]


@contextmanager
def namespaces(plane: Plane, count: int) -> Iterator[list[str]]:
    """Namespaces of this run's own (pods on the kwok nodes), deleted at the end; made once an earlier
    run's are gone (at most TEARDOWN_TIMEOUT)."""
    tag = uuid.uuid4().hex[:6]
    names = [f"bench-{tag}-{index:02d}" for index in range(count)]
    deadline = time.monotonic() + TEARDOWN_TIMEOUT
    while (left := plane.deleting()) and time.monotonic() < deadline:
        print(f"(waiting for an earlier run's namespaces to go: {', '.join(left)})", file=sys.stderr, flush=True)
        time.sleep(5)
    try:
        for name in names:
            plane.namespace(name)
        yield names
    finally:
        for name in names:
            try:
                plane.delete_namespace(name)
            except Exception as exc:  # (the others are still deleted)
                print(f"could not delete namespace {name}: {exc}", file=sys.stderr)


def run(kubeconfig: str, seconds: int, repeat: int, total: int, spread: int) -> list[tuple[str, str, str, str]]:
    plane = Plane(kubeconfig)
    rows: list[tuple[str, str, str, str]] = []
    server = Server(kubeconfig, workers=2)
    with namespaces(plane, spread) as names:
        try:
            server.start()
            first = names[0]
            clusters: dict[str, list[str]] = {name: [] for name in names}
            get = f"/apis/v1/namespaces/{first}/clusters/bench-00000"
            alone = wrk(server.port, "/healthz", seconds)
            rows.append(("GET /healthz (the stack alone), req/s", f"{alone:.0f}", "", ""))
            for size in (10, 100, 1000):
                have = len(clusters[first])
                plane.clusters(first, have, size - have)
                clusters[first] = [f"bench-{index:05d}" for index in range(size)]
                plane.top_up([first], clusters)
                ours, raw = compare_lists(server.port, plane, first, size, repeat)
                rows.append((f"list {size:,} clusters (one namespace), p50", f"{ours:.1f} ms", f"{raw:.1f} ms",
                             f"{ours / raw:.2f}"))
                if size in (10, 1000):
                    rows.append((f"GET one cluster, {size:,} in its namespace, req/s",
                                 f"{wrk(server.port, get, seconds):.0f}", "", ""))
                print(*rows[-1], sep=" | ", flush=True)
            plane.events([_event(first, "Pod", f"pod-{index:05d}", 0) for index in range(10_000)])
            rows.append(("GET one cluster, + 10,000 pod events in its namespace, req/s",
                         f"{wrk(server.port, get, seconds):.0f}", "", ""))
            rest = names[1:]
            per = [(total - 1000) // len(rest) + (index < (total - 1000) % len(rest)) for index in range(len(rest))]
            for name, count in zip(rest, per, strict=True):
                plane.clusters(name, 0, count)
                clusters[name] = [f"bench-{index:05d}" for index in range(count)]
            plane.top_up(rest, clusters)
            ours, raw = compare_lists(server.port, plane, None, total, max(3, repeat // 2))
            rows.append((f"list {total:,} clusters, all {spread} namespaces, p50", f"{ours:.1f} ms", f"{raw:.1f} ms",
                         f"{ours / raw:.2f}"))
            rss = server.rss()
            rows.append((f"RSS per worker, {total:,} clusters with their events",
                         ", ".join(f"{kib / 1024:.0f} MB" for kib in rss.values()), "", ""))
        finally:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
    return rows


def wrk_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options of a benchmark that runs wrk against a control plane: --kubeconfig, --seconds."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                        required="KUBECONFIG" not in os.environ)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    return parser


def has_wrk(benchmark: str) -> bool:
    if shutil.which("wrk"):
        return True
    print(f"{benchmark} needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
    return False


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """A Markdown table, as the README shows it."""
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = wrk_arguments(__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="timed lists per measurement")
    parser.add_argument("--total", type=int, default=5000, help="clusters of the all-namespaces list")
    parser.add_argument("--namespaces", type=int, default=50, help="namespaces they are spread over")
    args = parser.parse_args(argv)
    if not has_wrk("bench.reads"):
        return 2
    rows = run(args.kubeconfig, args.seconds, args.repeat, args.total, args.namespaces)
    print_table(("measurement", "through the server", "raw from kube-apiserver", "ratio"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
