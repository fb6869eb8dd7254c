"""Writes: RayCluster creates through the server (gunicorn, as `make run`), next to raw creates of
the same RayCluster on the kube-apiserver, taking turns in one run.

    .venv/bin/python -m bench.writes --kubeconfig "$KUBECONFIG"

In a namespace of this run's own (its pods go to the kwok nodes), the server gets the user guide's
compute template, then each turn creates `--creates` clusters from `--threads` client threads:
a server turn POSTs the user guide's cluster to /apis/v1/namespaces/{ns}/clusters (each thread
on its own keep-alive connection); a raw turn POSTs the RayCluster the server would make of that
request (app/translate, built before the turn) straight to the kube-apiserver, with app/k8s's
client (one pool, as the server's). The head Service is a ClusterIP one, not the guide's NodePort:
the control plane has about 2,700 node ports, and a run makes more clusters than that. The turns
alternate, raw first (`--turns` of each), after a warm-up of each kind, and each waits until the
operator is done with every cluster so far (their pods made, then no change to any cluster for a
few seconds). It prints each turn's rate, then the rate over all turns (creates / seconds) and
the best turn's (this machine's other work only slows a turn down), p50 and p99 latency of each
kind and their ratio, and the CPU the server's workers used per create (in raw turns: what their
watches of those clusters cost). The namespace, and so every cluster, is deleted at the end,
Ctrl-C included.
"""
from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.constants import RAYCLUSTER  # noqa: E402
from app.settings import GRPC_BIND  # noqa: E402
from app.translate.cluster import to_raycluster  # noqa: E402
from app.translate.compute_templates import to_api_compute_template, to_configmap  # noqa: E402
from bench.reads import Plane, namespaces, print_table, quiet  # noqa: E402
from bench.soak import SEED, Server, percentile  # noqa: E402

Json = dict[str, Any]
REQUEST_TIMEOUT = 60.0
WARMUP = 16  # untimed creates of each kind before the first turn
SETTLE_TIMEOUT = 60.0  # seconds a turn waits for the operator to be done with the last one's clusters
PODS_PER_CLUSTER = 2  # the guide's cluster: a head and one worker


def _seed(prefix: str) -> Json:
    [path] = SEED.glob(f"{prefix}-*.json")
    request: Json = json.loads(path.read_text())["request"]
    return request


TEMPLATE = _seed("04")  # the user guide's compute template and cluster
CLUSTER = _seed("09")


def cluster(namespace: str, name: str) -> Json:
    body = copy.deepcopy(CLUSTER)
    body["clusterSpec"]["headGroupSpec"]["serviceType"] = "ClusterIP"
    return {**body, "name": name, "namespace": namespace}


def raw_body(namespace: str, name: str) -> Json:
    """The RayCluster the server makes of `cluster(namespace, name)`."""
    template = {**TEMPLATE, "namespace": namespace}
    templates = {template["name"]: to_api_compute_template(to_configmap(template))}
    return to_raycluster(cluster(namespace, name), templates, datetime.now(UTC))


class ServerClient:
    """One keep-alive connection per thread to the server; any answer but 200 stops the run."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def post(self, path: str, body: Json) -> None:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            self._local.connection = connection
        connection.request("POST", path, body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.will_close:
            connection.close()
            self._local.connection = None
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {answer[:300]!r}")


def settle(plane: Plane, port: int, namespace: str, clusters: int) -> None:
    """Until the operator is done with every cluster so far: their pods made (at most SETTLE_TIMEOUT),
    then no change to any of them for a while (`quiet`: its status updates as the pods start). Its
    work on one turn's clusters would otherwise share the CPUs with the next turn, always a turn of
    the other kind."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while plane.pods(namespace) < clusters * PODS_PER_CLUSTER:
        if time.monotonic() > deadline:
            print(f"(the operator has not made every pod in {SETTLE_TIMEOUT:.0f} s: measuring anyway)", file=sys.stderr)
            return
        time.sleep(1)
    quiet(port)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used, all their threads."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone: a replaced worker
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def timed(create: Callable[[int], None], indices: range, threads: int) -> tuple[float, list[float]]:
    """Seconds of the whole turn, and each create's milliseconds."""
    millis: list[float] = []

    def one(index: int) -> None:
        started = time.perf_counter()
        create(index)
        millis.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, indices))
    return time.perf_counter() - started, millis


def run(kubeconfig: str, creates: int, turns: int, threads: int, workers: int) -> list[tuple[str, str, str, str]]:
    plane = Plane(kubeconfig)
    server = Server(kubeconfig, workers=workers, settings={GRPC_BIND: "127.0.0.1:0"})  # gRPC on, on any free port
    seconds: dict[str, float] = {"server": 0.0, "raw": 0.0}
    millis: dict[str, list[float]] = {"server": [], "raw": []}
    rates: dict[str, list[float]] = {"server": [], "raw": []}
    cpu: dict[str, float] = {"server": 0.0, "raw": 0.0}  # the workers' CPU seconds in turns of each kind
    with namespaces(plane, 1) as [namespace]:
        try:
            server.start()
            client = ServerClient(server.port)
            path = f"/apis/v1/namespaces/{namespace}/clusters"
            client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", {**TEMPLATE, "namespace": namespace})

            def through_server(turn: int) -> Callable[[int], None]:
                return lambda index: client.post(path, cluster(namespace, f"s{turn}-{index:04d}"))

            def raw(turn: int, count: int) -> Callable[[int], None]:
                bodies = [raw_body(namespace, f"r{turn}-{index:04d}") for index in range(count)]

                def create(index: int) -> None:
                    plane.k8s.create_object(RAYCLUSTER, namespace, bodies[index])
                return create

            timed(raw(0, WARMUP), range(WARMUP), threads)
            timed(through_server(0), range(WARMUP), threads)
            made = 2 * WARMUP
            for turn in range(1, turns + 1):
                for kind in ("raw", "server"):
                    create = raw(turn, creates) if kind == "raw" else through_server(turn)
                    settle(plane, server.port, namespace, made)
                    made += creates
                    pids = list(server.rss())
                    used = cpu_seconds(pids)
                    took, times = timed(create, range(creates), threads)
                    cpu[kind] += cpu_seconds(pids) - used
                    seconds[kind] += took
                    millis[kind] += times
                    rates[kind].append(creates / took)
                    print(f"turn {turn} {kind:>6}: {creates / took:6.1f} creates/s, p50 "
                          f"{percentile(times, 50):6.1f} ms, p99 {percentile(times, 99):6.1f} ms", flush=True)
        finally:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
    ours, theirs = (len(millis[kind]) / seconds[kind] for kind in ("server", "raw"))
    rows = [(f"creates/s, {threads} threads, {turns} turns of {creates}", f"{ours:.1f}", f"{theirs:.1f}",
             f"{ours / theirs:.2f}"),
            ("creates/s of each turn", ", ".join(f"{rate:.0f}" for rate in rates["server"]),
             ", ".join(f"{rate:.0f}" for rate in rates["raw"]), ""),
            ("creates/s, best turn", f"{max(rates['server']):.1f}", f"{max(rates['raw']):.1f}",
             f"{max(rates['server']) / max(rates['raw']):.2f}")]
    for p in (50, 99):
        server_ms, raw_ms = percentile(millis["server"], p), percentile(millis["raw"], p)
        rows.append((f"p{p} latency", f"{server_ms:.1f} ms", f"{raw_ms:.1f} ms", f"{server_ms / raw_ms:.2f}"))
    ours_cpu, raw_cpu = (f"{cpu[kind] / len(millis[kind]) * 1000:.1f} ms" for kind in ("server", "raw"))
    rows.append(("the server's CPU per create (in raw turns: its watches)", ours_cpu, raw_cpu, ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), required="KUBECONFIG" not in os.environ)
    parser.add_argument("--creates", type=int, default=200, help="clusters created in each turn")
    parser.add_argument("--turns", type=int, default=5, help="turns of each kind (raw, server, raw, server, ...)")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="the server's gunicorn workers")
    args = parser.parse_args(argv)
    rows = run(args.kubeconfig, args.creates, args.turns, args.threads, args.workers)
    print_table(("RayCluster creates", "through the server", "raw to kube-apiserver", "ratio"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
