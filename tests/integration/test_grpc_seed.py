"""The user guide's sequence through both fronts: the same objects in Kubernetes, the same answers.

The sequence (seed_sequence.py: the guide's 27 requests and the steps that let each succeed) runs
once over HTTP and once over gRPC, each in namespaces of its own, through the session app. The
gRPC run maps each HTTP request to its RPC with upstream's route table (rpc.ROUTES, not the
spec's annotations) and calls it through the stubs generated from our protos. Then:
* every answer, in protojson, equals the HTTP answer to the same step, once what differs between
  any two runs is set aside (namespace names, times, the operator's progress);
* after each create and update, Kubernetes holds the same ConfigMap or KubeRay object, compared
  whole but for the fields Kubernetes and the operator fill in.
"""
from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.conftest import Cluster, fresh_namespaces
from tests.integration import seed_sequence
from tests.integration.rpc import grpc_send
from tests.integration.support import STAMPS, without_operator_defaults

Json = dict[str, Any]

# What two runs of the same requests legitimately differ in: times, and what the operator has done
# by the time of the answer (states, events, endpoints, the names of the clusters it made).
RUN_DEPENDENT = frozenset({
    "createdAt", "deleteAt", "deletedAt", "startTime", "endTime", "events", "clusterState",
    "jobStatus", "jobDeploymentStatus", "message", "rayServiceStatus", "serviceEndpoint",
    "rayClusterName", "jobId", "continue", "nextPageToken"})  # jobId: the operator names it when not given

RUNS: dict[str, tuple[list[tuple[str, Any]], list[Json]]] = {}


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


PLURALS = {"clusters": "rayclusters", "jobs": "rayjobs", "services": "rayservices"}


def _written(cluster: Cluster, path: str, answer: Json) -> Json:
    """What Kubernetes holds for the object a create or update just wrote, without the fields the
    API server and the operator fill in."""
    _, _, _, _, namespace, kind, *_ = path.split("/")
    name = answer["name"]
    if kind == "compute_templates":
        held = client.CoreV1Api(cluster.api).read_namespaced_config_map(name, namespace).to_dict()
        return {"data": held["data"], "labels": held["metadata"]["labels"]}
    held = client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        "ray.io", "v1", namespace, PLURALS[kind], name)
    metadata = held["metadata"]
    return {"labels": metadata.get("labels", {}), "annotations": metadata.get("annotations", {}),
            "spec": without_operator_defaults(held["spec"])}


def _run(front: str, cluster: Cluster, app: Any, rpc_channel: Any) -> tuple[list[tuple[str, Any]], list[Json]]:
    with fresh_namespaces(cluster, 2, prefix=f"seed-{front}") as namespaces:
        if front == "grpc":
            send = grpc_send(rpc_channel)
        else:
            app_client = app.test_client()

            def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
                response = app_client.request(method, path, json=body)
                return response.status_code, response.json()

        stored: list[Json] = []

        def send_and_read(method: str, path: str, body: Json | None) -> tuple[int, Any]:
            status, answer = send(method, path, body)
            if status == 200 and method in ("POST", "PUT") and "/jobsubmissions/" not in path:
                stored.append(_written(cluster, path, answer))
            return status, answer

        answers = seed_sequence.run(send_and_read, seed_sequence.steps(*namespaces))
        names = dict(zip(namespaces, seed_sequence.GUIDE_NAMESPACES, strict=True))
        return ([(label, _in_guide_order(_same_across_runs(_own(answer, namespaces), names)))
                 for label, answer in answers],
                _same_across_runs(stored, names))


@pytest.mark.parametrize("front", ["http", "grpc"])
def test_the_user_guide_gives_the_same_objects_and_answers_over(
        front: str, cluster: Cluster, app: Any, rpc_channel: Any) -> None:
    RUNS[front] = _run(front, cluster, app, rpc_channel)
    if front == "http":
        answers, stored = RUNS[front]
        expected = [step for step in seed_sequence.steps("a", "b") if not step.until_gone]
        assert len(answers) == len(expected) and stored  # each answered 200 (run() checks); objects remain
        return
    if "http" not in RUNS:  # run alone: the reference first
        RUNS["http"] = _run("http", cluster, app, rpc_channel)
    http_answers, http_stored = RUNS["http"]
    answers, stored = RUNS[front]
    assert [label for label, _ in answers] == [label for label, _ in http_answers]
    for (label, answer), (_, expected) in zip(answers, http_answers, strict=True):
        assert answer == expected, (label, _differences(answer, expected))
    assert len(stored) == len(http_stored)
    for written, expected in zip(stored, http_stored, strict=True):
        assert written == expected, _differences(written, expected)


def _differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths: a readable failure for large objects."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [difference for key in sorted(set(left) | set(right))
                for difference in _differences(left.get(key), right.get(key), f"{path}.{key}")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [difference for i, (a, b) in enumerate(zip(left, right, strict=True))
                for difference in _differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]
