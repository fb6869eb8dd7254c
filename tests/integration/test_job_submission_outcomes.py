"""A job submission whose answer never came: through the whole server, to a ready cluster the
operator made (on the kwok nodes), whose dashboard is a real Ray head paused mid-request, or a
loopback peer that takes the request and then hangs or resets the connection. The request reached
the dashboard, so the job may have been submitted: 504, code 4, never 503 (which says it did not
happen); a dashboard never reached is still 503."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from app.k8s import K8s
from app.rpc.generated import job_submission_pb2, job_submission_pb2_grpc
from tests.support.api import ok, own_app, own_app_with_rpc, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, fresh_namespaces
from tests.support.net import TakesRequests, closed_port
from tests.support.waiting import wait_for

NAME = "outcomes"
UNKNOWN = "the job may or may not have been submitted"


@pytest.fixture(scope="module")
def k8s(cluster: Cluster) -> K8s:
    return K8s.from_kubeconfig(str(cluster.kubeconfig))


@pytest.fixture(scope="module")
def ns(cluster: Cluster, k8s: K8s) -> Iterator[str]:
    """A namespace with the managed cluster NAME, ready."""
    with fresh_namespaces(cluster, prefix="outcomes") as [name], own_app(k8s) as api:
        ok(api.post(f"/apis/v1/namespaces/{name}/compute_templates", json=template_body(name)))
        ok(api.post(f"/apis/v1/namespaces/{name}/clusters", json=cluster_body(name, NAME)))
        wait_for(lambda: ok(api.get(f"/apis/v1/namespaces/{name}/clusters/{NAME}")).get("clusterState") == "ready",
                 timeout=90, what="the operator to make the cluster ready")
        yield name


def jobs(ns: str) -> str:
    return f"/apis/v1/namespaces/{ns}/jobsubmissions/{NAME}"


@pytest.mark.parametrize(("then", "reason"), [("hang", "no answer in time"), ("reset", "connection failed")])
def test_a_submit_the_dashboard_took_without_answering_is_504(k8s: K8s, ns: str, then: str, reason: str) -> None:
    with TakesRequests(then) as peer, \
            own_app_with_rpc(k8s, dashboard_url=peer.url, dashboard_timeout=1) as (api, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        message = refused(api.post(jobs(ns), json={"entrypoint": "true"}), 504, 4)
        assert message == (f"The Ray dashboard at {peer.url} did not answer the job submission ({reason}): {UNKNOWN}; "
                           "list the cluster's job submissions to learn whether it was.")
        stub = job_submission_pb2_grpc.RayJobSubmissionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitRayJob(job_submission_pb2.SubmitRayJobRequest(
                namespace=ns, clustername=NAME, jobsubmission=job_submission_pb2.RayJobSubmission(entrypoint="true")),
                timeout=30)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, caught.value.details()
        assert UNKNOWN in str(caught.value.details())
        assert len(peer.requests) == 2  # both reached it
        # reads are as before: no answer is 503
        assert "cannot be reached" in refused(api.get(jobs(ns)), 503, 14)


def test_a_submit_that_never_reached_the_dashboard_is_503(k8s: K8s, ns: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with own_app(k8s, dashboard_url=url, dashboard_timeout=1) as api:
        message = refused(api.post(jobs(ns), json={"entrypoint": "true"}), 503, 14)
        assert message == f"The Ray dashboard at {url} cannot be reached: cannot connect."


def test_a_submit_to_a_paused_ray_head_is_504_and_runs_once_it_wakes(k8s: K8s, ns: str, ray_head: Any) -> None:
    """The head takes the request while frozen and submits the job when it goes on: the 504's
    "may or may not" is what happened."""
    sid = f"paused-{uuid.uuid4().hex[:8]}"
    with own_app(k8s, dashboard_url=ray_head.url, dashboard_timeout=2) as api:
        ok(api.get(jobs(ns)))
        ray_head.pause()
        try:
            started = time.monotonic()
            message = refused(api.post(jobs(ns), json={"entrypoint": "true", "submissionId": sid}), 504, 4)
            waited = time.monotonic() - started
            read = refused(api.get(jobs(ns)), 503, 14)
        finally:
            ray_head.resume()
        assert UNKNOWN in message, message
        assert 1.5 < waited < 6, waited
        assert read == f"The Ray dashboard at {ray_head.url} cannot be reached: no answer in time."
        info = wait_for(lambda: (answer := api.get(f"{jobs(ns)}/{sid}")).status_code == 200 and answer.json(),
                        timeout=60, interval=0.5, what="the job submitted while the head was paused")
        assert info["submissionId"] == sid
