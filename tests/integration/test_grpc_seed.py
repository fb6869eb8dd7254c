"""The user guide's sequence through both fronts: the same objects in Kubernetes, the same answers.

The sequence (tests/support/seed_sequence.py: the guide's 27 requests and the steps that let each succeed) runs
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

from app.types import Json
from tests.support import seed_sequence
from tests.support.kube import Cluster
from tests.support.rpc import grpc_send

RUNS: dict[str, seed_sequence.Recorded] = {}


def _run(front: str, cluster: Cluster, app: Any, rpc_channel: Any) -> seed_sequence.Recorded:
    if front == "grpc":
        return seed_sequence.recorded(cluster, grpc_send(rpc_channel), prefix=f"seed-{front}")
    app_client = app.test_client()

    def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
        response = app_client.request(method, path, json=body)
        return response.status_code, response.json()

    return seed_sequence.recorded(cluster, send, prefix=f"seed-{front}")


@pytest.mark.parametrize("front", ["http", "grpc"])
def test_the_user_guide_gives_the_same_objects_and_answers_over(
        front: str, cluster: Cluster, app: Any, rpc_channel: Any) -> None:
    RUNS[front] = _run(front, cluster, app, rpc_channel)
    if front == "http":
        answers, stored = RUNS[front]
        expected = [step for step in seed_sequence.steps("a", "b") if not step.until_gone]
        assert len(answers) == len(expected)
        assert stored  # each answered 200 (run() checks); objects remain
        return
    if "http" not in RUNS:  # run alone: the reference first
        RUNS["http"] = _run("http", cluster, app, rpc_channel)
    seed_sequence.assert_same(RUNS[front], RUNS["http"])
