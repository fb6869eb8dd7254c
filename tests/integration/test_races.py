"""Requests that race each other, and the operator, on one object.

Gunicorn serves the requests (tests/support/served.py: two worker processes, as in
production), so that races between processes are real; the conflict-retry tests use the app
in-process with a gateway that lets a real concurrent write land between our read and our write.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from app.k8s import K8s
from app.services.rayservices import UPDATE_ATTEMPTS
from app.types import Json
from tests.support.api import ok, own_app, refused
from tests.support.bodies import cluster_body, service_body, template_body
from tests.support.kube import Cluster, Kube, finalized_rayservice, present
from tests.support.served import gunicorn, http_send

THREADS = 8


def together(count: int, action: Callable[[int], Any]) -> list[Any]:
    """`action(i)` for i in range(count), started at the same moment from `count` threads."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait(timeout=30)
        return action(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with gunicorn(cluster, tmp_path_factory.mktemp("races")) as served:
        yield served


def test_concurrent_creates_of_one_name_give_one_200(server: Any, kube: Kube, namespace: str) -> None:
    send = http_send(server.port)
    assert send("POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace))[0] == 200

    answers = together(THREADS, lambda _: send("POST", f"/apis/v1/namespaces/{namespace}/clusters",
                                               cluster_body(namespace, "one")))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 1, 409: THREADS - 1}, answers
    assert all(body["code"] == 6 for status, body in answers if status == 409)
    assert [item["metadata"]["name"] for item in kube.items("rayclusters", namespace)] == ["one"]


def test_a_delete_racing_gets_gives_only_200_or_404(server: Any, kube: Kube, namespace: str) -> None:
    send = http_send(server.port)
    base = f"/apis/v1/namespaces/{namespace}"
    assert send("POST", f"{base}/compute_templates", template_body(namespace))[0] == 200
    assert send("POST", f"{base}/clusters", cluster_body(namespace, "gone"))[0] == 200

    def act(index: int) -> list[int]:
        if index == 0:
            return [send("DELETE", f"{base}/clusters/gone", None)[0]]
        return [send("GET", f"{base}/clusters/gone", None)[0] for _ in range(10)]

    statuses = [status for answers in together(THREADS, act) for status in answers]

    assert statuses[0] == 200
    assert set(statuses) <= {200, 404}, Counter(statuses)
    gone = kube.get("rayclusters", namespace, "gone")
    assert gone is None or gone["metadata"].get("deletionTimestamp")


def _variant(namespace: str, index: int) -> Json:
    """A service body told apart from the others by three fields far apart in the object."""
    body = service_body(namespace)
    body["serviceUnhealthySecondThreshold"] = 900 + index
    body["deploymentUnhealthySecondThreshold"] = 300 + index
    body["clusterSpec"]["workerGroupSpec"][0].update(replicas=index % 5 + 1, minReplicas=1, maxReplicas=5)
    return body


def test_concurrent_puts_all_succeed_and_one_body_wins_whole(server: Any, kube: Kube, namespace: str) -> None:
    send = http_send(server.port)
    base = f"/apis/v1/namespaces/{namespace}"
    assert send("POST", f"{base}/compute_templates", template_body(namespace))[0] == 200
    assert send("POST", f"{base}/services", service_body(namespace))[0] == 200

    answers = together(THREADS, lambda i: send("PUT", f"{base}/services/test-v2", _variant(namespace, i)))

    assert [status for status, _ in answers] == [200] * THREADS, answers
    spec = present(kube.get("rayservices", namespace, "test-v2"))["spec"]
    winner = spec["serviceUnhealthySecondThreshold"] - 900
    assert 0 <= winner < THREADS
    assert spec["deploymentUnhealthySecondThreshold"] == 300 + winner
    assert spec["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == winner % 5 + 1


class Interference:
    """After each of the first `times` reads of a RayService, someone else changes it: a real
    write to the API server, so that our replacement, based on the read, meets a real conflict."""

    def __init__(self, k8s: K8s, kube: Kube, times: int) -> None:
        self.left = times
        self.reads = 0
        read = k8s.get_object

        def get_object(kind: Any, ns: str, name: str) -> Json:
            obj = read(kind, ns, name)
            self.reads += 1
            if self.left:
                self.left -= 1
                kube.custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayservices", name, {
                    "metadata": {"annotations": {"example.com/touched": str(self.reads)}}})
            return obj

        k8s.get_object = get_object  # type: ignore[method-assign]  # the test's wrapper of the real call


@contextmanager
def interfered(cluster: Cluster, kube: Kube, namespace: str, times: int) -> Iterator[tuple[Any, Interference]]:
    """A client of the app over a gateway of its own, the README's service created, then interference."""
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    with own_app(k8s) as client:
        ok(client.post(f"/apis/v1/namespaces/{namespace}/services", json=service_body(namespace)))
        finalized_rayservice(kube, namespace, "test-v2")  # the operator's own update, before the test's
        yield client, Interference(k8s, kube, times)


def test_put_retries_a_conflict_it_did_not_cause(cluster: Cluster, kube: Kube, with_template: str) -> None:
    namespace = with_template
    with interfered(cluster, kube, namespace, times=2) as (client, interference):
        updated = ok(client.put(f"/apis/v1/namespaces/{namespace}/services/test-v2", json=_variant(namespace, 3)))

    assert interference.reads == 3  # two conflicts, then a write based on a current read
    assert updated["serviceUnhealthySecondThreshold"] == 903
    after = present(kube.get("rayservices", namespace, "test-v2"))
    assert after["spec"]["serviceUnhealthySecondThreshold"] == 903
    assert "example.com/touched" not in after["metadata"]["annotations"]  # a full replacement


def test_put_gives_409_when_the_retries_are_spent(cluster: Cluster, kube: Kube, with_template: str) -> None:
    namespace = with_template
    with interfered(cluster, kube, namespace, times=1000) as (client, interference):
        message = refused(client.put(f"/apis/v1/namespaces/{namespace}/services/test-v2",
                                     json=_variant(namespace, 3)), 409, 10)

    assert interference.reads == UPDATE_ATTEMPTS
    assert f"({UPDATE_ATTEMPTS} attempts)" in message
    after = present(kube.get("rayservices", namespace, "test-v2"))
    assert after["spec"]["serviceUnhealthySecondThreshold"] == 900  # ours never landed
    assert after["metadata"]["annotations"]["example.com/touched"] == str(UPDATE_ATTEMPTS)
