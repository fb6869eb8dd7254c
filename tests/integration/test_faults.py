"""Outages of the control plane under steady load: answered fast, survived, nothing lost.

A control plane of this module's own (its components are stopped and frozen) and the server as
production runs it (gunicorn, two workers). While client threads run creates, gets, lists and
deletes of clusters through the server, one component fails:

* the kube-apiserver is stopped for about ten seconds, then started again;
* etcd is stopped for about ten seconds, then started again;
* the kube-apiserver hangs: its process is frozen (SIGSTOP) for 20 s, then resumed.

Every request is answered within a few seconds (no hang, never a 500; during the outage 503 with
code 14, or, for a write whose answer never came, 504 with code 4: it may have been carried out;
a read may also be answered from the watch caches, as of the last event they saw: 200, or 404
for a cluster whose create was refused),
the server serves again within seconds of the component's return without a restart, and
afterwards what the server answered is what happened: every cluster whose create was answered 200
exists unless a delete was answered 200, none whose create was refused (503) exists, and every
delete answered 200 removed its cluster. Everything runs on loopback and stops by itself.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import config

from app.k8s import CONNECT_TIMEOUT
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, Kube, fresh_namespaces
from tests.support.served import Server, gunicorn
from tests.support.waiting import wait_for

THREADS = 4
WARM_UP = 3.0  # seconds of load before the outage
OUTAGE = 10.0  # seconds a component stays stopped
HANG = 20.0  # seconds the API server stays frozen
# A request in an outage is answered within the connect timeout; this is its bound, plus what a
# busy two-CPU machine adds to an answer.
ANSWERED_WITHIN = CONNECT_TIMEOUT + 2.0
RECOVERED_WITHIN = 10.0  # seconds from the component's return to the first create answered 200
CLIENT_TIMEOUT = 60.0  # far above every bound: a hang shows as a slow answer, not a client error


@dataclass
class Answer:
    method: str
    name: str
    started: float
    seconds: float
    status: int
    code: int | None

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class Load:
    """Client threads, each creating a cluster, reading it, listing, then (mostly) deleting it, in a loop."""

    port: int
    namespace: str
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for index in range(THREADS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 10)

    def _run(self, index: int) -> None:
        base = f"/apis/v1/namespaces/{self.namespace}/clusters"
        round_ = 0
        while not self._stop.is_set():
            name = f"t{index}-{round_}"
            round_ += 1
            created = self._send("POST", base, name, cluster_body(self.namespace, name)) == 200
            self._send("GET", f"{base}/{name}", name)
            self._send("GET", base, "")
            # Never the name of a failed create, whose absence is checked afterwards; and one
            # cluster in four is kept, whose presence is.
            if created and round_ % 4:
                self._send("DELETE", f"{base}/{name}", name)
            time.sleep(0.05)

    def _send(self, method: str, path: str, name: str, body: Any = None) -> int:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload,
                         headers={"Content-Type": "application/json"} if payload else {})
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except OSError:
            status = 0  # the server did not answer at all
            data = b""
        finally:
            conn.close()
        try:
            code = json.loads(data).get("code") if status != 200 and data else None
        except ValueError:
            code = None
        with self._lock:
            self.answers.append(Answer(method, name, started, time.monotonic() - started, status, code))
        return status

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.started >= moment]


@pytest.fixture(scope="module")
def admin(plane: Any) -> Iterator[Cluster]:
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))
    try:
        yield Cluster(plane.kubeconfig, plane.server, plane.ca_file, api)
    finally:
        api.close()


@pytest.fixture(scope="module")
def server(admin: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(admin, tmp_path_factory.mktemp("served")) as served:
        yield served


@pytest.fixture
def load_namespace(admin: Cluster, server: Server) -> Iterator[str]:
    with fresh_namespaces(admin, prefix="fault") as [name]:
        _wait_for_the_server(server, name)
        status = _post(server.port, f"/apis/v1/namespaces/{name}/compute_templates", template_body(name))
        assert status == 200
        yield name


def _post(port: int, path: str, body: Any) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_for_the_server(server: Server, namespace: str) -> None:
    """After an earlier test's outage, every worker serves again (their circuits closed)."""
    def serves() -> bool:
        statuses = set()
        for _ in range(6):  # each request may reach either worker
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_TIMEOUT)
            try:
                conn.request("GET", f"/apis/v1/namespaces/{namespace}/clusters")
                statuses.add(conn.getresponse().status)
            finally:
                conn.close()
        return statuses == {200}
    wait_for(serves, timeout=60, what="the server to serve again")


def _outage(load: Load, fail: Callable[[], None], restore: Callable[[], None], seconds: float) -> tuple[float, float]:
    """Run `fail`, keep it failed `seconds`, then `restore`; returns when the failure held, and
    when its restoring began (a restart, or SIGCONT), from which the recovery is timed."""
    time.sleep(WARM_UP)
    fail()
    failed_at = time.monotonic()
    time.sleep(seconds)
    restoring_at = time.monotonic()
    restore()
    deadline = time.monotonic() + RECOVERED_WITHIN + 5
    while time.monotonic() < deadline and not _created_since(load, restoring_at):
        time.sleep(0.2)
    time.sleep(2.0)  # some load after the recovery, too
    return failed_at, restoring_at


def _created_since(load: Load, moment: float) -> float | None:
    """When the first create started after `moment` was answered 200, if one was."""
    answered = [a.ended for a in load.since(moment) if a.method == "POST" and a.status == 200]
    return min(answered) if answered else None


UNKNOWN_OUTCOME = 504  # a write sent whose answer never came (code 4): it may have been carried out
# What an outage may answer: unavailable, for a write also an unknown outcome, and for a read what
# the caches held (app/cache/: while their watch was open or only just lost).
_OUTAGE_ANSWERS: dict[str, set[tuple[int, int | None]]] = {"GET": {(503, 14), (200, None), (404, 5)}, "POST": {(503, 14), (504, 4)},
                   "DELETE": {(503, 14), (504, 4)}}


def _check(load: Load, kube: Kube, namespace: str, failed_at: float, restoring_at: float) -> dict[str, Any]:
    answers = list(load.answers)
    statuses = Counter((a.status, a.code) for a in answers)
    assert 0 not in {a.status for a in answers}, "a request got no answer"
    assert not [a for a in answers if a.status >= 500 and (a.status, a.code) not in _OUTAGE_ANSWERS[a.method]], statuses
    slowest = max(a.seconds for a in answers)
    assert slowest <= ANSWERED_WITHIN, sorted((a.seconds, a.method, a.status) for a in answers)[-5:]
    during = [a for a in answers if a.started >= failed_at and a.ended <= restoring_at]
    assert during, "no request was made during the outage"
    assert all((a.status, a.code) in _OUTAGE_ANSWERS[a.method] for a in during), Counter((a.status, a.code) for a in during)
    assert (503, 14) in {(a.status, a.code) for a in during}, Counter((a.status, a.code) for a in during)
    recovered = _created_since(load, restoring_at)
    assert recovered is not None, "not serving again in time"
    assert recovered - restoring_at <= RECOVERED_WITHIN, "not serving again in time"
    checked = _check_objects(load, kube, namespace)
    return {"requests": len(answers), "during outage": len(during), "slowest": round(slowest, 2),
            "recovered after": round(recovered - restoring_at, 2), "statuses": dict(statuses), "objects": checked}


def _check_objects(load: Load, kube: Kube, namespace: str) -> dict[str, int]:
    """What the server answered is what happened; returns how many clusters were checked, by outcome."""
    by_name: dict[str, dict[str, int]] = {}
    for answer in load.answers:
        if answer.method in ("POST", "DELETE"):
            by_name.setdefault(answer.name, {})[answer.method] = answer.status
    present = {item["metadata"]["name"] for item in kube.items("rayclusters", namespace)
               if not item["metadata"].get("deletionTimestamp")}
    checked: Counter[str] = Counter()
    for name, outcome in by_name.items():
        if outcome["POST"] == UNKNOWN_OUTCOME:
            checked["create unanswered, either"] += 1  # the API server took it, then its answer was lost
        elif outcome["POST"] != 200:
            assert name not in present, f"{name}: the create was answered {outcome['POST']}, yet it exists"
            checked["create failed, absent"] += 1
        elif outcome.get("DELETE") == 200:
            assert name not in present, f"{name}: the delete was answered 200, yet it is still there"
            checked["deleted, absent"] += 1
        elif "DELETE" not in outcome:
            assert name in present, f"{name}: the create was answered 200, yet it does not exist"
            checked["created, present"] += 1
        else:
            checked["delete failed, either"] += 1  # a failed delete may or may not have happened
    return dict(checked)


def _report(what: str, figures: dict[str, Any]) -> None:
    print(f"\n{what}: {figures}")


def test_the_api_server_stopped_for_ten_seconds(plane: Any, admin: Cluster, server: Server,
                                                 load_namespace: str) -> None:
    with Load(server.port, load_namespace) as load:
        failed_at, restoring_at = _outage(load, lambda: plane.stop_component("kube-apiserver"),
                                     lambda: plane.start_component("kube-apiserver"), OUTAGE)
    _report("kube-apiserver stopped", _check(load, Kube(admin.api), load_namespace, failed_at, restoring_at))


def test_etcd_stopped_for_ten_seconds(plane: Any, admin: Cluster, server: Server, load_namespace: str) -> None:
    with Load(server.port, load_namespace) as load:
        failed_at, restoring_at = _outage(load, lambda: plane.stop_component("etcd"),
                                     lambda: plane.start_component("etcd"), OUTAGE)
    _report("etcd stopped", _check(load, Kube(admin.api), load_namespace, failed_at, restoring_at))


def test_the_api_server_frozen_for_twenty_seconds(plane: Any, admin: Cluster, server: Server,
                                                  load_namespace: str) -> None:
    """A hung server accepts connections and never answers: only the request's own deadline and
    the circuit keep the workers from filling up with requests that wait."""
    with Load(server.port, load_namespace) as load:
        failed_at, restoring_at = _outage(load, lambda: plane.pause_component("kube-apiserver"),
                                     lambda: plane.resume_component("kube-apiserver"), HANG)
    # The requests already waiting when it froze are the ones that meet the hang: allow them their
    # timeout, from the moment it froze.
    _report("kube-apiserver frozen",
            _check(load, Kube(admin.api), load_namespace, failed_at + ANSWERED_WITHIN, restoring_at))

