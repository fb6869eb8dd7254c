"""Job submissions to clusters with Ray token authentication, against a real Ray head that runs with it.

The clusters are made through the API (`clusterSpec.authOptions`) on the kwok nodes, where the
operator makes them ready and makes the token Secret of a cluster that names none (named after the
cluster, key `auth_token`). Their heads run no Ray there, so the loopback Ray head
(tests/support/ray_head.py) stands in for each: started with token authentication on and the very
token the operator generated, and reached at its URL (`KUBERAY_API_DASHBOARD_URL`, the direct route:
`Authorization: Bearer`). Nothing fakes Ray: each refusal below is Ray's own.

The route through the Kubernetes API server's service proxy (`X-Ray-Authorization`) is run against a
real head on the real node in test_ray_runs.py (`test_a_job_runs_on_a_cluster_with_ray_token_authentication`).
"""
from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kubernetes import client

from app.k8s import K8s
from app.rpc.generated import job_submission_pb2, job_submission_pb2_grpc
from tests.support.api import ok, own_app, own_app_with_rpc, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, fresh_namespaces
from tests.support.ray_head import RayHead
from tests.support.waiting import wait_for

PRINT_42 = 'python -c "print(42)"'
TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}
VERSION = "2.60.0"  # the Ray of the loopback head; the operator requires 2.52.0 or later for tokens
TOKEN_CLUSTER = "tok"  # authOptions {mode: token}: the operator makes Secret "tok"
PLAIN_CLUSTER = "plain"  # no authOptions: the server sends no token
WRONG_CLUSTER = "wrong"  # its secretName holds a token the head was not started with
MISSING_CLUSTER = "missing"  # its secretName names a Secret nobody made
WRONG_SECRET, MISSING_SECRET = "wrong-token", "absent-token"
WRONG_TOKEN = "this-is-not-the-heads-token"


@pytest.fixture(scope="module")
def k8s(cluster: Cluster) -> K8s:
    return K8s.from_kubeconfig(str(cluster.kubeconfig))


def clusters(ns: str) -> dict[str, dict[str, str] | None]:
    return {TOKEN_CLUSTER: {"mode": "token"}, PLAIN_CLUSTER: None, WRONG_CLUSTER: {"secretName": WRONG_SECRET},
            MISSING_CLUSTER: {"mode": "token", "secretName": MISSING_SECRET}}


@pytest.fixture(scope="module")
def ns(cluster: Cluster, k8s: K8s) -> Iterator[str]:
    """A namespace with the four clusters, ready, and the Secret of `wrong`."""
    core = client.CoreV1Api(cluster.api)
    with fresh_namespaces(cluster, prefix="token") as [name], own_app(k8s, cache=False) as api:
        ok(api.post(f"/apis/v1/namespaces/{name}/compute_templates", json=template_body(name)))
        for cluster_name, options in clusters(name).items():
            body = cluster_body(name, cluster_name)
            body["version"] = VERSION
            if options is not None:
                body["clusterSpec"]["authOptions"] = options
            answer = ok(api.post(f"/apis/v1/namespaces/{name}/clusters", json=body))
            assert answer["clusterSpec"].get("authOptions") == (
                None if options is None else {"mode": "token", **options})  # kept, the mode spelled out
        core.create_namespaced_secret(name, client.V1Secret.model_validate(
            {"metadata": {"name": WRONG_SECRET}, "stringData": {"auth_token": WRONG_TOKEN}}))
        for cluster_name in clusters(name):
            wait_for(lambda n=cluster_name: ok(api.get(f"/apis/v1/namespaces/{name}/clusters/{n}"))  # type: ignore[misc]
                     .get("clusterState") == "ready", timeout=90, what=f"the operator to make {cluster_name} ready")
        yield name


@pytest.fixture(scope="module")
def operator_token(cluster: Cluster, ns: str) -> str:
    """The token the operator generated for `tok`, in the Secret it named after the cluster."""
    def read() -> str | None:
        try:
            secret = client.CoreV1Api(cluster.api).read_namespaced_secret(TOKEN_CLUSTER, ns)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return base64.b64decode((secret.data or {})["auth_token"]).decode()
    token: str = wait_for(read, timeout=30, what="the operator to make the token Secret")
    return token


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory, operator_token: str) -> Iterator[RayHead]:
    """A real Ray head on loopback with token authentication, started with the operator's token."""
    head = RayHead(tmp_path_factory.mktemp("ray-token-head"), token=operator_token)
    try:
        head.start()
        yield head
    finally:
        head.close()


@pytest.fixture(scope="module")
def api(k8s: K8s, token_head: RayHead) -> Iterator[Any]:
    """The app reaching every cluster's dashboard at the token head."""
    with own_app(k8s, dashboard_url=token_head.url) as app_client:
        yield app_client


def jobs(ns: str, cluster: str) -> str:
    return f"/apis/v1/namespaces/{ns}/jobsubmissions/{cluster}"


def wait_status(get: Callable[[], Any], statuses: set[str], timeout: float = 90.0) -> Any:
    return wait_for(lambda: (info := get()) and info.get("status") in statuses and info, timeout=timeout,
                    interval=0.5, what=f"the job to reach {sorted(statuses)}")


def test_the_ray_head_refuses_requests_without_its_token(token_head: RayHead, operator_token: str) -> None:
    """(What the tests below rely on: the head really checks tokens.)"""
    import urllib3
    http = urllib3.PoolManager(retries=False)
    assert http.request("GET", f"{token_head.url}/api/jobs/").status == 401
    assert http.request("GET", f"{token_head.url}/api/jobs/",
                        headers={"Authorization": f"Bearer {WRONG_TOKEN}"}).status == 403
    assert http.request("GET", f"{token_head.url}/api/jobs/",
                        headers={"Authorization": f"Bearer {operator_token}"}).status == 200


def test_a_job_submitted_to_a_token_cluster_runs_and_its_log_is_read(api: Any, ns: str) -> None:
    sid = f"token-{uuid.uuid4().hex[:8]}"
    assert ok(api.post(jobs(ns, TOKEN_CLUSTER), json={"entrypoint": PRINT_42, "submissionId": sid})) == \
        {"submissionId": sid}
    info = wait_status(lambda: ok(api.get(f"{jobs(ns, TOKEN_CLUSTER)}/{sid}")), TERMINAL)
    assert info["status"] == "SUCCEEDED", info
    assert ok(api.get(f"/apis/v1/namespaces/{ns}/jobsubmissions/{TOKEN_CLUSTER}/log/{sid}"))["log"].splitlines()[-1] == "42"
    listed = ok(api.get(jobs(ns, TOKEN_CLUSTER)))["submissions"]
    assert sid in {job["submissionId"] for job in listed}


def test_without_the_token_ray_refuses_and_the_server_says_a_token_is_wanted(
        api: Any, ns: str, token_head: RayHead) -> None:
    message = refused(api.post(jobs(ns, PLAIN_CLUSTER), json={"entrypoint": PRINT_42}), 503, 14)
    assert message == (
        f"The Ray dashboard requires a token: the Ray dashboard at {token_head.url} answered 401 (Unauthorized: "
        f"Missing authentication token), and cluster {PLAIN_CLUSTER} does not run with Ray token authentication as "
        "far as its RayCluster says (spec.authOptions.mode is not token), so this server sends none.")
    assert refused(api.get(jobs(ns, PLAIN_CLUSTER)), 503, 14) == message


def test_a_token_ray_refuses_is_503_naming_its_secret_and_no_token_is_shown_or_logged(
        api: Any, ns: str, token_head: RayHead, operator_token: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        answers = [api.post(jobs(ns, WRONG_CLUSTER), json={"entrypoint": PRINT_42}),
                   api.get(jobs(ns, WRONG_CLUSTER)),
                   api.get(f"{jobs(ns, WRONG_CLUSTER)}/some-job")]
    for answer in answers:
        message = refused(answer, 503, 14)
        assert message.startswith("The Ray dashboard refused the cluster's token: the Ray dashboard at "
                                  f"{token_head.url} answered 403 (Forbidden: Invalid authentication token) to the "
                                  f"token in key auth_token of Secret {WRONG_SECRET} in namespace {ns}"), message
        assert WRONG_TOKEN not in answer.text
        assert operator_token not in answer.text
    assert caplog.records
    assert WRONG_TOKEN not in caplog.text
    assert operator_token not in caplog.text


def test_a_missing_secret_is_503_naming_it(api: Any, ns: str) -> None:
    message = refused(api.post(jobs(ns, MISSING_CLUSTER), json={"entrypoint": PRINT_42}), 503, 14)
    assert message == (f"Cannot read the Ray token of cluster {MISSING_CLUSTER} (it runs with Ray token "
                       f"authentication): Secret {MISSING_SECRET} in namespace {ns} does not exist (the KubeRay "
                       "operator makes it for a cluster that names no secretName; a cluster that names one needs "
                       "its user to make it).")


def test_a_submit_over_grpc_carries_the_token_too(k8s: K8s, ns: str, token_head: RayHead, tmp_path: Path) -> None:
    with own_app_with_rpc(k8s, dashboard_url=token_head.url) as (api, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = job_submission_pb2_grpc.RayJobSubmissionServiceStub(channel)
        sid = f"grpc-{uuid.uuid4().hex[:8]}"
        answer = stub.SubmitRayJob(job_submission_pb2.SubmitRayJobRequest(
            namespace=ns, clustername=TOKEN_CLUSTER,
            jobsubmission=job_submission_pb2.RayJobSubmission(entrypoint=PRINT_42, submission_id=sid)), timeout=30)
        assert answer.submission_id == sid
        info = wait_status(lambda: ok(api.get(f"{jobs(ns, TOKEN_CLUSTER)}/{sid}")), TERMINAL)
        assert info["status"] == "SUCCEEDED", info
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitRayJob(job_submission_pb2.SubmitRayJobRequest(
                namespace=ns, clustername=PLAIN_CLUSTER,
                jobsubmission=job_submission_pb2.RayJobSubmission(entrypoint=PRINT_42)), timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert str(caught.value.details()).startswith("The Ray dashboard requires a token: ")
