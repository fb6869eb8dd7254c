"""Soak: the server as `make run` starts it, under minutes of mixed load, watching its workers' memory.

    .venv/bin/python -m bench.soak --kubeconfig "$KUBECONFIG" --minutes 10

Gunicorn serves wsgi:app with gunicorn.conf.py (2 workers by default) on a free loopback port,
against the given control plane, in a fresh namespace of this run. A few client threads then
repeat rounds until the time is up: each round creates a compute template and a cluster, a job
and a service on it (the upstream README's requests, tests/fixtures/seed/), reads them
(get, list in the namespace, list in all namespaces) a few times, sends requests the API must
refuse (bad names: 400, unknown objects: 404, duplicates: 409, a missing compute template or a
bad page token: 400), scrapes /metrics, and deletes what it created. So at most four objects per
thread are alive at a time, and the total rate is capped (`--rate`), to keep the operator's
work on the control plane bounded. The namespace's events are deleted each minute: Kubernetes
keeps those of deleted objects for an hour, and a list reads every event of its kind in its
scope, so otherwise each minute's lists would cost more than the last (`--keep-events` shows it).

It prints each worker's RSS (VmRSS) at the start, after the warm-up and at the end, the growth
after the warm-up, the p50/p99 latency and count of each operation, and every status other than
the one its request should get. The exit code is 1 if there was such a status, if a worker was
replaced, or if a worker's RSS grew by 10 % or more after the warm-up; 130 if interrupted. The
server is stopped and the namespace deleted in every case (Ctrl-C included); the server's log is
kept, and its path printed, when the run fails.
"""
from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devcluster.cluster import KWOK_SELECTOR, NODE_SELECTOR_ANNOTATION  # noqa: E402
from devcluster.procs import free_port  # noqa: E402

Json = dict[str, Any]
SEED = ROOT / "tests" / "fixtures" / "seed"  # the upstream README's requests, one file each
PREFIXES = ("/apis/v1", "/apis/v1alpha2")
STARTUP_TIMEOUT = 60.0


def percentile(samples: list[float], p: int) -> float:
    """The p-th percentile (inclusive method), for the benchmarks' latencies."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 45.0  # above gunicorn's graceful_timeout (30 s)
IDLE_REOPEN = 2.0  # below gunicorn's keepalive (5 s): an idle connection is not reused, never raced
MAX_GROWTH = 10.0  # % of a worker's RSS after the warm-up


# -- what a round sends -----------------------------------------------------------------------

def _seed(number: int) -> Json:
    [path] = SEED.glob(f"{number:02d}-*.json")
    request: Json = json.loads(path.read_text())["request"]
    return request


@dataclass(frozen=True)
class Kind:
    plural: str  # the path's segment, and the list operations' suffix
    noun: str  # the other operations' suffix: get_cluster
    short: str  # prefix of the names a round gives
    seed: Json  # the README's request
    bad_page: str = ""  # a query with a page token the API must refuse; "" without paging

    def body(self, namespace: str, name: str, template: str) -> Json:
        """The README's request, renamed, with its node groups on `template` (each round has its own)."""
        body = {**copy.deepcopy(self.seed), "name": name, "namespace": namespace}
        spec = body.get("clusterSpec")
        for group in [spec["headGroupSpec"], *spec["workerGroupSpec"]] if spec else []:
            group["computeTemplate"] = template
        return body


KINDS = (
    Kind("compute_templates", "compute_template", "tpl", _seed(4)),
    Kind("clusters", "cluster", "rc", _seed(9), "?limit=1&continue=garbage"),
    Kind("jobs", "job", "job", _seed(14), "?limit=1&continue=garbage"),
    Kind("services", "service", "svc", _seed(23), "?pageSize=1&pageToken=garbage"),
)
CLUSTERS = KINDS[1]


# -- what the clients saw ---------------------------------------------------------------------

@dataclass
class Record:
    """Latencies per operation and every unexpected status, shared by the client threads."""

    millis: dict[str, list[float]] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    unexpected: Counter[tuple[str, int]] = field(default_factory=Counter)
    samples: dict[tuple[str, int], str] = field(default_factory=dict)  # the first answer of each
    crashed: list[str] = field(default_factory=list)  # client threads ended by an error of this file
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label: str, expected: int, status: int, millis: float, answer: bytes) -> None:
        with self.lock:
            self.millis.setdefault(label, []).append(millis)
            self.expected[label] = expected
            if status != expected:
                self.unexpected[label, status] += 1
                self.samples.setdefault((label, status), answer[:300].decode(errors="replace"))

    def count(self) -> int:
        with self.lock:
            return sum(len(times) for times in self.millis.values())


class Client:
    """One thread's keep-alive connection and pace; every answer is recorded against its expectation."""

    def __init__(self, port: int, record: Record, interval: float) -> None:
        self.port = port
        self.record = record
        self.interval = interval  # seconds between this thread's requests; 0: as fast as answered
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0
        self._next = time.monotonic()

    def call(self, label: str, method: str, path: str, expected: int, body: Json | None = None) -> bool:
        self._pace()
        started = time.perf_counter()
        try:
            status, answer = self._send(method, path, body)
        except (OSError, http.client.HTTPException) as exc:  # no answer: reported as status 0
            self.close()
            status, answer = 0, f"{type(exc).__name__}: {exc}".encode()
        self.record.add(label, expected, status, (time.perf_counter() - started) * 1000, answer)
        return status == expected

    def _pace(self) -> None:
        now = time.monotonic()
        self._next = max(self._next + self.interval, now - 1.0)  # no burst to catch up after a stall
        if self._next > now:
            time.sleep(self._next - now)

    def _send(self, method: str, path: str, body: Json | None) -> tuple[int, bytes]:
        if self._connection is None or time.monotonic() - self._last_used > IDLE_REOPEN:
            self.close()
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        answer = response.read()
        self._last_used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def one_round(client: Client, namespace: str, tag: str, prefix: str, passes: int,
              stop: threading.Event) -> None:
    """Create the four kinds, read them, send the refusals, delete what was created (always)."""
    names = {kind.plural: f"{kind.short}-{tag}" for kind in KINDS}
    template = names["compute_templates"]
    base = f"{prefix}/namespaces/{namespace}"
    created: list[Kind] = []
    try:
        for kind in KINDS:
            body = kind.body(namespace, names[kind.plural], template)
            if client.call(f"create_{kind.noun}", "POST", f"{base}/{kind.plural}", 200, body):
                created.append(kind)
        refusals(client, namespace, tag, base, template, created)
        client.call("/metrics", "GET", "/metrics", 200)
        for _ in range(passes):
            if stop.is_set():
                break
            for kind in KINDS:
                client.call(f"get_{kind.noun}", "GET", f"{base}/{kind.plural}/{names[kind.plural]}", 200)
                client.call(f"list_{kind.plural}", "GET", f"{base}/{kind.plural}", 200)
                client.call(f"list_all_{kind.plural}", "GET", f"{prefix}/{kind.plural}", 200)
    finally:
        for kind in reversed(created):
            client.call(f"delete_{kind.noun}", "DELETE", f"{base}/{kind.plural}/{names[kind.plural]}", 200)


def refusals(client: Client, namespace: str, tag: str, base: str, template: str, created: list[Kind]) -> None:
    for kind in KINDS:
        path = f"{base}/{kind.plural}"
        client.call(f"get_{kind.noun} unknown", "GET", f"{path}/absent-{tag}", 404)
        client.call(f"delete_{kind.noun} unknown", "DELETE", f"{path}/absent-{tag}", 404)
        client.call(f"get_{kind.noun} bad name", "GET", f"{path}/Bad_Name", 400)
        client.call(f"create_{kind.noun} bad name", "POST", path, 400, kind.body(namespace, "Bad_Name", template))
        if kind in created:
            body = kind.body(namespace, f"{kind.short}-{tag}", template)
            client.call(f"create_{kind.noun} duplicate", "POST", path, 409, body)
        if kind.bad_page:
            client.call(f"list_{kind.plural} bad token", "GET", f"{path}{kind.bad_page}", 400)
    client.call("create_cluster no template", "POST", f"{base}/clusters", 400,
                CLUSTERS.body(namespace, f"orphan-{tag}", f"absent-{tag}"))


def client_loop(client: Client, namespace: str, index: int, passes: int, stop: threading.Event) -> None:
    round_ = 0
    try:
        while not stop.is_set():
            one_round(client, namespace, f"{index}-{round_}", PREFIXES[round_ % 2], passes, stop)
            round_ += 1
    except Exception as exc:  # a bug here, not in the server: counted as a failure, traceback on stderr
        client.record.crashed.append(f"client-{index}: {exc!r}")
        raise
    finally:
        client.close()


# -- the server -------------------------------------------------------------------------------

def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # a zombie has no VmRSS


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after the command, which may hold spaces
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


class Server:
    """`gunicorn -c gunicorn.conf.py wsgi:app` as `make run` starts it, on a loopback port, logging to a file.

    Only the KUBERAY_API_* variables given here (and in `settings`) reach it, so the caller's
    environment cannot change what is measured; its metrics folder and log are in a folder of its own.
    """

    def __init__(self, kubeconfig: str, workers: int, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workers = workers
        self.folder = Path(tempfile.mkdtemp(prefix="kuberay-api-soak-"))
        self.log = self.folder / "server.log"
        env = {name: value for name, value in os.environ.items() if not name.startswith("KUBERAY_API_")}
        env.update({"KUBECONFIG": kubeconfig, "KUBERAY_API_BIND": f"127.0.0.1:{self.port}",
                    "KUBERAY_API_WORKERS": str(workers),
                    "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"), **(settings or {})})
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(self.process)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Ready, with every worker up and its memory settled (the app is built after the fork)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last: dict[int, int] = {}
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode} (log: {self.log})")
            rss = self.rss() if self._ready() else {}
            if len(rss) == self.workers and rss == last:
                return
            last = rss
            time.sleep(0.5)
        raise RuntimeError(f"gunicorn was not ready in {STARTUP_TIMEOUT:.0f} s (log: {self.log})")

    def _ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def rss(self) -> dict[int, int]:
        """KiB of RSS of each worker, by pid (the master's children)."""
        found: dict[int, int] = {}
        for pid in _children(self.process.pid) if self.process else []:
            try:
                found[pid] = _rss_kib(pid)
            except OSError:
                continue
        return found

    def stop(self) -> None:
        """SIGTERM to the master (a graceful stop), then SIGKILL to the whole group if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this run started
                self.process.wait(timeout=10)


class Namespace:
    """The run's namespace and its events, through the plain client: the server manages neither."""

    def __init__(self, core: Any, name: str) -> None:
        self.core = core
        self.name = name

    def events(self) -> int:
        response = self.core.list_namespaced_event(self.name, _preload_content=False, _request_timeout=30)
        return len(json.loads(response.data)["items"])

    def clear_events(self) -> None:
        self.core.delete_collection_namespaced_event(self.name, _request_timeout=30)


@contextmanager
def namespace(kubeconfig: str) -> Iterator[Namespace]:
    """A namespace of this run, deleted afterwards with everything in it."""
    from kubernetes import client, config

    name = f"soak-{uuid.uuid4().hex[:8]}"
    with config.new_client_from_config(config_file=kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(  # pods on kwok nodes only
                 name=name, annotations={NODE_SELECTOR_ANNOTATION: KWOK_SELECTOR})))
        try:
            yield Namespace(core, name)
        finally:
            core.delete_namespace(name, _request_timeout=30)


# -- the run ----------------------------------------------------------------------------------

@dataclass
class Soak:
    minutes: float
    warmup: float
    threads: int
    rate: float
    passes: int
    keep_events: bool
    marks: dict[str, dict[int, int]] = field(default_factory=dict)  # "start", "warm-up", "end"
    record: Record = field(default_factory=Record)
    interrupted: bool = False

    def run(self, server: Server, namespace: Namespace) -> None:
        stop = threading.Event()
        interval = self.threads / self.rate if self.rate else 0.0
        clients = [Client(server.port, self.record, interval) for _ in range(self.threads)]
        threads = [threading.Thread(target=client_loop, args=(client, namespace.name, index, self.passes, stop),
                                    name=f"client-{index}", daemon=True)
                   for index, client in enumerate(clients)]
        self.marks["start"] = server.rss()
        self._progress(0.0, server, namespace)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            self._watch(started, server, namespace)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            stop.set()
            for thread in threads:  # each finishes its request and deletes what its round created
                thread.join(timeout=REQUEST_TIMEOUT * 6)
        self.marks["end"] = server.rss()

    def _watch(self, started: float, server: Server, namespace: Namespace) -> None:
        """A progress line each minute, then the events go (see the module's docstring); the RSS
        is taken once the warm-up is over."""
        checkpoints = sorted({*range(1, int(self.minutes) + 1), self.warmup, self.minutes} - {0})
        for minute in (m for m in checkpoints if m <= self.minutes):
            time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
            if minute == self.warmup:
                self.marks["warm-up"] = server.rss()
            self._progress(minute, server, namespace)
            if not self.keep_events and minute == int(minute):
                namespace.clear_events()

    def _progress(self, minute: float, server: Server, namespace: Namespace) -> None:
        rss = "  ".join(f"{kib / 1024:6.1f}" for kib in server.rss().values())
        print(f"{minute:5.1f} min {self.record.count():>8} requests {namespace.events():>7} events   "
              f"worker RSS MiB {rss}", flush=True)

    def growth(self) -> dict[int, float]:
        """% of each worker's RSS gained after the warm-up (workers present at both marks)."""
        warm, end = self.marks.get("warm-up", {}), self.marks.get("end", {})
        return {pid: (end[pid] - warm[pid]) / warm[pid] * 100 for pid in warm if pid in end and warm[pid]}

    def replaced(self) -> bool:
        return set(self.marks.get("start", {})) != set(self.marks.get("end", {}))

    def failed(self) -> bool:
        return bool(self.record.unexpected or self.record.crashed) or self.replaced() or any(
            growth >= MAX_GROWTH for growth in self.growth().values())

    def report(self) -> None:
        pids = sorted({pid for rss in self.marks.values() for pid in rss})
        print(f"\n{'worker':>8} {'start':>8} {'warm-up':>8} {'end':>8} {'growth':>8}   (RSS, MiB)")
        growth = self.growth()
        for pid in pids:
            cells = [self.marks.get(mark, {}).get(pid) for mark in ("start", "warm-up", "end")]
            shown = " ".join(f"{kib / 1024:>8.1f}" if kib is not None else f"{'-':>8}" for kib in cells)
            change = f"{growth[pid]:>+7.1f}%" if pid in growth else f"{'-':>8}"
            print(f"{pid:>8} {shown} {change}")
        if self.replaced():
            print("a worker was replaced during the run: its growth cannot be measured")
        print(f"\n{'operation':<34} {'expect':>6} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
        for label in sorted(self.record.millis, key=_operation_order):
            times = self.record.millis[label]
            print(f"{label:<34} {self.record.expected[label]:>6} {len(times):>7} "
                  f"{percentile(times, 50):>8.1f} {percentile(times, 99):>8.1f}")
        print(f"{'all':<34} {'':>6} {self.record.count():>7}")
        for crash in self.record.crashed:
            print(f"client thread stopped by an error: {crash}")
        if not self.record.unexpected:
            print("\nunexpected statuses: none")
            return
        print("\nunexpected statuses:")
        for (label, status), count in sorted(self.record.unexpected.items()):
            answered = status or "no answer"
            print(f"  {label}: {answered} instead of {self.record.expected[label]}, {count} times; "
                  f"first: {self.record.samples[label, status]}")


def _operation_order(label: str) -> tuple[str, str]:
    """By kind (the operationId's suffix), then operation."""
    operation = label.split(" ")[0]
    noun = operation.partition("_")[2].removeprefix("all_").removesuffix("s")
    return noun, label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"),
                        required="KUBECONFIG" not in os.environ)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run, warm-up included")
    parser.add_argument("--warmup", type=float, default=1.0, help="minutes before the RSS baseline")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second in all (0: no cap)")
    parser.add_argument("--passes", type=int, default=5, help="read passes over a round's objects")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep-events", action="store_true",
                        help="leave the namespace's events (of deleted objects too), as Kubernetes does for an hour")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.minutes:
        parser.error("--warmup must be above 0 and below --minutes")

    soak = Soak(args.minutes, args.warmup, args.threads, args.rate, args.passes, args.keep_events)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill cleans up like Ctrl-C
    server = Server(args.kubeconfig, args.workers)
    try:
        with namespace(args.kubeconfig) as ns:
            print(f"gunicorn: {args.workers} workers on 127.0.0.1:{server.port}, namespace {ns.name}; "
                  f"{args.threads} clients at {args.rate or 'uncapped'} req/s for {args.minutes} min, "
                  f"warm-up {args.warmup} min", flush=True)
            try:
                server.start()
                soak.run(server, ns)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean-up is bounded: let it finish
                server.stop()
    except KeyboardInterrupt:  # before the run began
        soak.interrupted = True
    if soak.marks:
        soak.report()
    failed = soak.failed() or soak.interrupted
    if failed:
        print(f"\nserver log: {server.log}")
    else:
        shutil.rmtree(server.folder, ignore_errors=True)
    return 130 if soak.interrupted else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
