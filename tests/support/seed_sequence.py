"""The seed guide's requests (tests/fixtures/seed/) as one sequence that a deployed server must answer.

The guide (upstream's APIServer README) is documentation, not a script: it creates the same
template twice, deletes it before the cluster that needs it, and creates `job-test` twice. So
the sequence replays every request of the guide in its order, with the guide's namespaces
mapped to the test's two (`ray-system` -> primary, `default` -> secondary), and adds only the
steps that make each one's preconditions hold. It ends with an update of a service, the one
operation the guide lacks, and with the cron jobs' operations (an extension, which the guide
predates), so that every call the server can make to Kubernetes is made.

Used by the tests that run the server as a deployment would (test_rbac.py, test_gunicorn.py,
test_deploy.py): they pass a `send(method, path, body) -> (status, json)` over their own
transport. `recorded` runs it in namespaces of its own and keeps, of each answer and of each
object written, what any two runs must have in common; `assert_same` compares two such runs
(HTTP and gRPC, or the installed chart and the server outside the cluster).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from app.types import Json
from tests.support.api import Send
from tests.support.fixture_pairs import seed
from tests.support.kube import PLURALS, STAMPS, Cluster, fresh_namespaces, json_object, without_operator_defaults

GUIDE_NAMESPACES = ("ray-system", "default")


@dataclass(frozen=True)
class Step:
    label: str
    method: str
    path: str
    body: Json | None = None
    name: str | None = None  # the `name` a successful answer carries
    until_gone: bool = False  # poll this GET until 404: a deletion the operator finishes later


def _in(namespaces: dict[str, str], text: str) -> str:
    for guide, ours in namespaces.items():
        text = text.replace(f"/namespaces/{guide}/", f"/namespaces/{ours}/")
        if text.endswith(f"/namespaces/{guide}"):
            text = text.removesuffix(guide) + ours
    return text


def _from_guide(number: int, namespaces: dict[str, str], method: str = "", path: str = "") -> Step:
    guide = seed(number)
    body = copy.deepcopy(guide.get("request"))
    if body and body.get("namespace") in namespaces:
        body["namespace"] = namespaces[body["namespace"]]
    path = _in(namespaces, path or guide["path"])
    method = method or guide["method"]
    name = body.get("name") if body else None
    if method == "GET" and not name and path.count("/") == 6:  # /apis/v/namespaces/ns/kind/name
        name = path.rsplit("/", 1)[1]
    return Step(f"{number:02d} {guide['section']}", method, path, body, name)


def steps(primary: str, secondary: str) -> list[Step]:
    """The guide's 27 requests and the 7 steps that let each of them succeed, then a service's
    update and a cron job's operations (suspended, and yearly: the operator never runs it)."""
    ns = dict(zip(GUIDE_NAMESPACES, (primary, secondary), strict=True))

    def g(number: int) -> Step:
        return _from_guide(number, ns)

    templates = f"/apis/v1alpha2/namespaces/{primary}/compute_templates"
    jobs_b = f"/apis/v1alpha2/namespaces/{secondary}/jobs"
    v2 = g(23)
    update = dict(copy.deepcopy(v2.body or {}), serviceUnhealthySecondThreshold=1200)
    template_b = dict(copy.deepcopy(g(4).body or {}), namespace=secondary)
    cronjobs = f"/apis/v1/namespaces/{primary}/cronjobs"
    cron = {"name": "cron-test", "namespace": primary, "user": "3cp0", "entrypoint": "python -V",
            "schedule": "@yearly", "timeZone": "Europe/Paris", "suspend": True,
            "clusterSelector": {"ray.io/cluster": "test-cluster"}}
    return [
        g(1), g(2), g(3),
        Step("the smoke test's template goes, for 04", "DELETE", f"{templates}/default-template"),
        g(4), g(5), g(6), g(7), g(8),
        Step("the template again, for 09", "POST", templates, g(4).body, "default-template"),
        g(9), g(10), g(11), g(12), g(13),
        g(14),
        Step("a template in the second namespace, for 15", "POST",
             f"/apis/v1alpha2/namespaces/{secondary}/compute_templates", template_b,
             "default-template"),
        g(15), g(16),
        Step("16's job goes, for 17", "DELETE", f"{jobs_b}/job-test"),
        Step("16's job is gone", "GET", f"{jobs_b}/job-test", until_gone=True),
        g(17),
        g(18), g(19), g(20), g(21),
        Step("03's service is gone, for 22", "GET",
             f"/apis/v1alpha2/namespaces/{primary}/services/test-v1", until_gone=True),
        g(22), g(23), g(24), g(25), g(26), g(27),
        Step("update a service (not in the guide)", "PUT",
             f"/apis/v1/namespaces/{primary}/services/test-v2", update, "test-v2"),
        Step("create a cron job (an extension)", "POST", cronjobs, cron, "cron-test"),
        Step("get the cron job", "GET", f"{cronjobs}/cron-test", name="cron-test"),
        Step("list the cron jobs", "GET", cronjobs),
        Step("list the cron jobs of all namespaces", "GET", "/apis/v1/cronjobs"),
        Step("resume the cron job", "POST", f"{cronjobs}/cron-test/resume", name="cron-test"),
        Step("suspend it again", "POST", f"{cronjobs}/cron-test/suspend", name="cron-test"),
        Step("delete the cron job", "DELETE", f"{cronjobs}/cron-test"),
    ]


def run(send: Send, sequence: list[Step], gone_timeout: float = 60.0) -> list[tuple[str, Any]]:
    """Send each step; fail naming the first step not answered as it should be."""
    answers = []
    for step in sequence:
        if step.until_gone:
            deadline = time.monotonic() + gone_timeout
            while (status := send(step.method, step.path, None)[0]) != 404:
                assert status == 200, (step.label, status)
                assert time.monotonic() < deadline, (step.label, status)
                time.sleep(0.3)
            continue
        status, body = send(step.method, step.path, step.body)
        assert status == 200, (step.label, step.method, step.path, status, body)
        assert isinstance(body, dict), (step.label, body)
        if step.name:
            assert body.get("name") == step.name, (step.label, body)
        answers.append((step.label, body))
    return answers


# -- two runs compared ---------------------------------------------------------------------------

# What two runs of the same requests legitimately differ in: times, and what the operator has done
# by the time of the answer (states, events, endpoints, the names of the clusters it made).
RUN_DEPENDENT = frozenset({
    "createdAt", "deleteAt", "deletedAt", "startTime", "endTime", "events", "clusterState",
    "jobStatus", "jobDeploymentStatus", "message", "rayServiceStatus", "serviceEndpoint",
    "rayClusterName", "jobId", "continue", "nextPageToken"})  # jobId: the operator names it when not given

def _same_across_runs(value: Any, names: dict[str, str]) -> Any:
    """`value` without what differs between runs, the namespaces renamed to the guide's."""
    if isinstance(value, dict):
        return {_same_across_runs(key, names): _same_across_runs(item, names) for key, item in value.items()
                if key not in RUN_DEPENDENT and key not in STAMPS}
    if isinstance(value, list):
        return [_same_across_runs(item, names) for item in value]
    if isinstance(value, str):
        for ours, guide in names.items():
            value = value.replace(ours, guide)
        return value
    return value


def _own(answer: Json, namespaces: list[str]) -> Json:
    """An answer with lists across all namespaces cut to the run's own: other tests' objects come
    and go in the others."""
    return {key: [item for item in value if not isinstance(item, dict) or item.get("namespace") in namespaces]
            if isinstance(value, list) else value for key, value in answer.items()}


def _in_guide_order(answer: Json) -> Json:
    """Lists across namespaces in the order of the guide's namespace names: a run's own random
    names order them otherwise."""
    return {key: sorted(value, key=lambda item: (item.get("namespace", ""), item.get("name", "")))
            if isinstance(value, list) and all(isinstance(item, dict) for item in value) else value
            for key, value in answer.items()}


def _written(cluster: Cluster, path: str, answer: Json) -> Json:
    """What Kubernetes holds for the object a create or update just wrote, without the fields the
    API server and the operator fill in."""
    _, _, _, _, namespace, kind, *_ = path.split("/")
    name = answer["name"]
    if kind == "compute_templates":
        configmap = client.CoreV1Api(cluster.api).read_namespaced_config_map(name, namespace)
        assert configmap.metadata is not None
        return {"data": configmap.data, "labels": configmap.metadata.labels}
    held = json_object(client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        "ray.io", "v1", namespace, PLURALS[kind], name))
    metadata = held["metadata"]
    return {"labels": metadata.get("labels", {}), "annotations": metadata.get("annotations", {}),
            "spec": without_operator_defaults(held["spec"])}


Recorded = tuple[list[tuple[str, Any]], list[Json]]  # the answers, and the objects written


def recorded(cluster: Cluster, send: Send, prefix: str = "seed") -> Recorded:
    """The sequence through `send`, in two fresh namespaces: each answer and each object a create
    or update wrote, without what differs between runs, the namespaces named as the guide's."""
    with fresh_namespaces(cluster, 2, prefix=prefix) as namespaces:
        stored: list[Json] = []

        def send_and_read(method: str, path: str, body: Json | None) -> tuple[int, Any]:
            status, answer = send(method, path, body)
            if status == 200 and method in ("POST", "PUT") and "/jobsubmissions/" not in path:
                stored.append(_written(cluster, path, answer))
            return status, answer

        answers = run(send_and_read, steps(*namespaces))
        names = dict(zip(namespaces, GUIDE_NAMESPACES, strict=True))
        return ([(label, _in_guide_order(_same_across_runs(_own(answer, namespaces), names)))
                 for label, answer in answers],
                _same_across_runs(stored, names))


def assert_same(run_: Recorded, reference: Recorded) -> None:
    """Two runs gave the same answers, step by step, and wrote the same objects."""
    answers, stored = run_
    expected_answers, expected_stored = reference
    assert [label for label, _ in answers] == [label for label, _ in expected_answers]
    for (label, answer), (_, expected) in zip(answers, expected_answers, strict=True):
        assert answer == expected, (label, differences(answer, expected))
    assert len(stored) == len(expected_stored)
    for written, expected in zip(stored, expected_stored, strict=True):
        assert written == expected, differences(written, expected)


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths: a readable failure for large objects."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [difference for key in sorted(set(left) | set(right))
                for difference in differences(left.get(key), right.get(key), f"{path}.{key}")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [difference for i, (a, b) in enumerate(zip(left, right, strict=True))
                for difference in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]
