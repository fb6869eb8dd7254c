"""Job submissions against real Ray and the real control plane.

The module's cluster is the session's (tests/support/real_ray.py): the user guide's cluster,
made through the API, running Ray on the real node. The app here runs outside the cluster with no
dashboard address set, as `make run` serves it, so it reaches the head through the Kubernetes API
server's service proxy. Nothing here fakes the dashboard: every answer below is the real Ray's,
or Kubernetes' own where the head Service has no endpoints.

The tests of the server's own bounds (a head stopped or frozen, a log over the limit) and of a
custom resource with a short start timeout use the loopback Ray head (tests/support/ray_head.py),
which they can stop, freeze and start with settings of their own, through `KUBERAY_API_DASHBOARD_URL`.
"""
from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kubernetes

from app.k8s import K8s
from app.types import Json
from tests.support.api import PREFIXES, ok, own_app, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, Kube, present
from tests.support.metrics import sample
from tests.support.ray_head import RAY_HEAD_RESOURCES, RAY_JOB_START_TIMEOUT
from tests.support.real_ray import NAME, RayOnNode
from tests.support.served import gunicorn
from tests.support.upstream_client import UpstreamClient
from tests.support.waiting import wait_for

PRINT_42 = 'python -c "print(42)"'
SLEEP = 'python -c "import time; time.sleep(600)"'
TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}
JOB_TIMEOUT = 90.0  # a job's first run on a fresh head starts its worker processes


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ns(ray_on_node: RayOnNode) -> str:
    """The namespace of the session's cluster NAME, ready and running Ray."""
    return ray_on_node.namespace


@pytest.fixture(scope="module")
def k8s(cluster: Cluster) -> K8s:
    return K8s.from_kubeconfig(str(cluster.kubeconfig))


@pytest.fixture(scope="module")
def api(k8s: K8s) -> Iterator[Any]:
    """The app, its responses checked against the spec, with no dashboard address set."""
    with own_app(k8s) as client:
        yield client


@pytest.fixture(scope="module")
def loopback(k8s: K8s, ray_head: Any) -> Iterator[Any]:
    """The app reaching every cluster's dashboard at the loopback Ray head."""
    with own_app(k8s, dashboard_url=ray_head.url) as client:
        yield client


def base(ns: str, cluster: str = NAME, prefix: str = "/apis/v1") -> str:
    return f"{prefix}/namespaces/{ns}/jobsubmissions/{cluster}"


def submit(api: Any, ns: str, **fields: Any) -> str:
    answer = ok(api.post(base(ns), json={"entrypoint": PRINT_42, **fields}))
    assert list(answer) == ["submissionId"], answer
    assert answer["submissionId"], answer
    return str(answer["submissionId"])


def wait_status(get: Callable[[], Any], statuses: set[str], timeout: float = JOB_TIMEOUT) -> Any:
    return wait_for(lambda: (info := get()) and info.get("status") in statuses and info, timeout=timeout,
                    interval=0.5, what=f"the job to reach {sorted(statuses)}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_jobs(api: Any, ns: str, known: set[Any], entrypoint: str) -> list[Any]:
    """Jobs with this entrypoint that the dashboard lists and `known` does not hold.

    Not "the list is unchanged": Ray itself adds records meanwhile (a job stopped and then deleted
    comes back a moment later, FAILED, "Entrypoint not found."), so only a job like the refused
    one counts as sent.
    """
    return [info for info in ok(api.get(base(ns))).get("submissions", [])
            if info.get("submissionId") not in known and info.get("entrypoint", "") == entrypoint]


# -- the upstream Python client's calls, as it makes them --------------------------------------------

def test_the_upstream_python_clients_job_calls_work_against_the_served_app(
        cluster: Cluster, ns: str, tmp_path: Path) -> None:
    """The sequence of the client's job-submission calls, against the server as `make run` serves it
    (gunicorn, 2 workers, no dashboard address set); the timings are printed (pytest -s) for the record."""
    with gunicorn(cluster, tmp_path) as server:
        client = UpstreamClient(f"http://127.0.0.1:{server.port}")
        sid = unique("client-print")
        started = time.perf_counter()
        status, error, submitted = client.submit_job(ns, NAME, client.request_dict(
            PRINT_42, submission_id=sid, runtime_env="env_vars:\n  GREETING: hello\n", metadata={"via": "client"}))
        assert (status, error, submitted) == (200, None, sid)

        info = wait_status(lambda: client.get_job_info(ns, NAME, sid)[2], TERMINAL)
        assert info["status"] == "SUCCEEDED"
        assert info["entrypoint"] == PRINT_42
        assert info["submissionId"] == sid
        assert info["metadata"] == {"via": "client"}
        assert info["runtimeEnv"] == {"env_vars": "map[GREETING:hello]"}
        assert int(info["endTime"]) >= int(info["startTime"]) > 0
        succeeded = time.perf_counter() - started
        status, error, log = client.get_job_log(ns, NAME, sid)
        assert (status, error) == (200, None)
        assert log is not None
        assert "42" in log.split()
        status, error, infos = client.list_job_info(ns, NAME)
        assert status == 200
        assert sid in [i.get("submissionId") for i in infos or []]

        long_sid = unique("client-sleep")
        assert client.submit_job(ns, NAME, client.request_dict(SLEEP, submission_id=long_sid, num_cpu=1)) == (
            200, None, long_sid)
        wait_status(lambda: client.get_job_info(ns, NAME, long_sid)[2], {"RUNNING"})
        assert client.stop_ray_job(ns, NAME, long_sid) == (200, None)
        assert wait_status(lambda: client.get_job_info(ns, NAME, long_sid)[2], TERMINAL)["status"] == "STOPPED"

        for gone in (sid, long_sid):
            assert client.delete_ray_job(ns, NAME, gone) == (200, None)
            status, error, _ = client.get_job_info(ns, NAME, gone)
            assert status == 404
            assert error == f"Job submission {gone} not found in cluster {NAME} of namespace {ns}"
        assert not {sid, long_sid} & {i.get("submissionId") for i in client.list_job_info(ns, NAME)[2] or []}

    print(f"\nthe client's sequence: print(42) SUCCEEDED {succeeded:.2f} s after it was submitted")
    for what in dict.fromkeys(name for name, _ in client.timings):
        times = sorted(seconds * 1000 for name, seconds in client.timings if name == what)
        print(f"  {what:14s} {len(times):3d} calls, median {statistics.median(times):6.1f} ms, max {times[-1]:6.1f} ms")


# -- the API's answers -----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_job_runs_with_its_runtime_env_and_is_answered_in_upstreams_shape(api: Any, ns: str, prefix: str) -> None:
    sid = unique("env")
    root = base(ns, prefix=prefix)
    answer = ok(api.post(root, json={
        "entrypoint": 'python -c "import os; print(os.environ[\'GREETING\'])"', "submission_id": sid,
        "runtimeEnv": "env_vars: {GREETING: hello}", "metadata": {"team": "a"}, "entrypointNumCpus": "0.5"}))
    assert answer == {"submissionId": sid}
    info = wait_status(lambda: ok(api.get(f"{root}/{sid}")), TERMINAL)
    assert info["status"] == "SUCCEEDED", info
    assert set(info) <= {"entrypoint", "jobId", "submissionId", "status", "message", "errorType", "startTime",
                         "endTime", "metadata", "runtimeEnv"}
    assert info["runtimeEnv"] == {"env_vars": "map[GREETING:hello]"}
    assert info["metadata"] == {"team": "a"}
    assert re.fullmatch(r"[0-9]+", info["startTime"])
    assert re.fullmatch(r"[0-9]+", info["endTime"])
    assert "hello" in ok(api.get(f"{root}/log/{sid}"))["log"].splitlines()  # after Ray's own lines
    assert sid in [i["submissionId"] for i in ok(api.get(root))["submissions"]]
    assert ok(api.delete(f"{root}/{sid}")) == {}


def test_entrypoint_resources_reach_ray(loopback: Any, ns: str) -> None:
    """A job asking for a resource the head has runs; one asking for more than it has waits, and Ray
    fails it when its start timeout (RAY_JOB_START_TIMEOUT) runs out: Ray was asked for it. (The
    loopback head has the custom resource and the short timeout.)"""
    api = loopback
    [(resource, amount)] = RAY_HEAD_RESOURCES.items()
    fits = submit(api, ns, entrypointResources={resource: str(amount / 2)}, entrypointNumCpus=0.5)
    assert wait_status(lambda: ok(api.get(f"{base(ns)}/{fits}")), TERMINAL)["status"] == "SUCCEEDED"
    waits = submit(api, ns, entrypoint_resources={resource: amount * 10})
    info = ok(api.get(f"{base(ns)}/{waits}"))
    assert info["status"] == "PENDING", info
    failed = wait_status(lambda: ok(api.get(f"{base(ns)}/{waits}")), TERMINAL, timeout=RAY_JOB_START_TIMEOUT + 30)
    assert failed["status"] == "FAILED", failed
    assert failed["errorType"] == "JOB_SUPERVISOR_ACTOR_START_TIMEOUT", failed
    for sid in (fits, waits):
        assert ok(api.delete(f"{base(ns)}/{sid}")) == {}


def test_stop_ends_a_running_job_and_is_done_for_a_finished_one(api: Any, ns: str) -> None:
    sid = submit(api, ns, entrypoint=SLEEP)
    wait_status(lambda: ok(api.get(f"{base(ns)}/{sid}")), {"RUNNING"})
    assert refused(api.delete(f"{base(ns)}/{sid}"), 400, 3) == (
        f"The Ray dashboard refused: Attempted to delete job '{sid}', but it is in a non-terminal state RUNNING.")
    assert ok(api.post(f"{base(ns)}/{sid}")) == {}
    assert wait_status(lambda: ok(api.get(f"{base(ns)}/{sid}")), TERMINAL)["status"] == "STOPPED"
    assert ok(api.post(f"{base(ns)}/{sid}", headers={"Content-Type": "application/json"})) == {}  # again: done
    assert ok(api.delete(f"{base(ns)}/{sid}")) == {}


def test_a_log_longer_than_the_limit_is_answered_with_its_end(k8s: K8s, ray_head: Any, ns: str) -> None:
    with own_app(k8s, dashboard_url=ray_head.url, job_log_limit=4096) as api:
        sid = submit(api, ns, entrypoint='python -c "[print(f\'line {i}\') for i in range(5000)]"')
        wait_status(lambda: ok(api.get(f"{base(ns)}/{sid}")), TERMINAL)
        log = ok(api.get(f"{base(ns)}/log/{sid}"))["log"]
    note, _, rest = log.partition("\n")
    assert "the beginning of this log is not shown" in note
    assert "4096 bytes, KUBERAY_API_JOB_LOG_LIMIT" in note
    lines = rest.splitlines()
    assert lines[-1] == "line 4999"
    assert len(rest) < 4096
    first = int(lines[0].removeprefix("line "))
    assert lines == [f"line {i}" for i in range(first, 5000)]  # whole lines, none missing after the cut


# -- refusals -------------------------------------------------------------------------------------

CALLS = [("post", "", {"json": {"entrypoint": PRINT_42}}), ("get", "", {}), ("get", "/some-id", {}),
         ("get", "/log/some-id", {}), ("post", "/some-id", {}), ("delete", "/some-id", {})]


@pytest.mark.parametrize(("method", "suffix", "kwargs"), CALLS, ids=[f"{c[0]}{c[1]}" for c in CALLS])
def test_every_call_about_an_absent_cluster_is_404(api: Any, ns: str, method: str, suffix: str,
                                                   kwargs: dict[str, Any]) -> None:
    message = refused(getattr(api, method)(base(ns, "no-such-cluster") + suffix, **kwargs), 404, 5)
    assert message == f"Cluster no-such-cluster not found in namespace {ns}"


def test_a_cluster_the_server_does_not_manage_is_404(api: Any, ns: str, kube: Kube, cluster: Cluster) -> None:
    mine = present(kube.get("rayclusters", ns, NAME))
    kube.create("rayclusters", ns, {"metadata": {"name": "unmanaged"}, "spec": mine["spec"]})
    try:
        assert refused(api.get(base(ns, "unmanaged")), 404, 5) == f"Cluster unmanaged not found in namespace {ns}"
    finally:  # its pods would run Ray on the node
        kubernetes.CustomObjectsApi(cluster.api).delete_namespaced_custom_object("ray.io", "v1", ns, "rayclusters",
                                                                                 "unmanaged")


def test_a_cluster_that_is_not_ready_is_409_failed_precondition(api: Any, ns: str, app: Any) -> None:
    """A head that asks for more CPUs than any node has stays Pending: the cluster never gets ready."""
    client = app.test_client()
    ok(client.post(f"/apis/v1/namespaces/{ns}/compute_templates", json={**template_body(ns, "huge"), "cpu": 500}))
    body = cluster_body(ns, "pending")
    body["clusterSpec"]["headGroupSpec"]["computeTemplate"] = "huge"
    body["clusterSpec"]["workerGroupSpec"][0].update(replicas=0, minReplicas=0)
    ok(client.post(f"/apis/v1/namespaces/{ns}/clusters", json=body))
    try:
        sid = unique("not-ready")
        message = refused(api.post(base(ns, "pending"), json={"entrypoint": PRINT_42, "submissionId": sid}), 409, 9)
        assert message.startswith(f"Cluster pending in namespace {ns} is not ready (state: ")
        assert refused(api.get(f"{base(ns, 'pending')}/{sid}"), 409, 9)
    finally:
        ok(client.delete(f"/apis/v1/namespaces/{ns}/clusters/pending"))


@pytest.mark.parametrize(("method", "suffix"), [("get", "/{id}"), ("get", "/log/{id}"), ("post", "/{id}"),
                                                ("delete", "/{id}")])
@pytest.mark.parametrize("sid", ["never-submitted", "..", "a%2Fb", "with space"])
def test_an_unknown_submission_id_is_404(api: Any, ns: str, method: str, suffix: str, sid: str) -> None:
    path = base(ns) + suffix.format(id=sid.replace("..", "%2E%2E"))
    message = refused(getattr(api, method)(path), 404, 5)
    if "%2F" not in sid:  # a '/' in the id is no route at all: still 404, code 5
        assert message == f"Job submission {sid} not found in cluster {NAME} of namespace {ns}"


REFUSED_BODIES = [
    ({"entrypoint": " "}, "Field 'entrypoint'"),
    ({"entrypoint": PRINT_42, "submissionId": "a/b"}, "Field 'submissionId'"),
    ({"entrypoint": PRINT_42, "submissionId": ".."}, "Field 'submissionId' has an invalid value"),
    ({"entrypoint": PRINT_42, "runtimeEnv": "pip: [unclosed"}, "runtimeEnv is not valid YAML"),
    ({"entrypoint": PRINT_42, "runtimeEnv": "just text"}, "runtimeEnv must be a YAML mapping"),
    ({"entrypoint": PRINT_42, "entrypointNumCpus": -1}, "Field 'entrypointNumCpus' must be at least 0"),
    ({"entrypoint": PRINT_42, "entrypointResources": {"custom": "lots"}}, "Field 'entrypointResources.custom'"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED_BODIES, ids=[m for _, m in REFUSED_BODIES])
def test_a_bad_submission_is_refused_before_anything_is_sent(api: Any, ns: str, body: Json,
                                                             message: str) -> None:
    known = {info.get("submissionId") for info in ok(api.get(base(ns))).get("submissions", [])}
    assert message in refused(api.post(base(ns), json=body), 400, 3)
    assert not new_jobs(api, ns, known, body["entrypoint"])


def test_the_dashboards_own_refusals_are_400_with_its_message(api: Any, ns: str) -> None:
    sid = submit(api, ns, submissionId=unique("taken"))
    message = refused(api.post(base(ns), json={"entrypoint": PRINT_42, "submissionId": sid}), 400, 3)
    assert message == (f"The Ray dashboard refused the job: Job with submission_id {sid} already exists. "
                       "Please use a different submission_id.")
    wait_status(lambda: ok(api.get(f"{base(ns)}/{sid}")), TERMINAL)
    assert ok(api.delete(f"{base(ns)}/{sid}")) == {}


# -- the dashboard unreachable --------------------------------------------------------------------

def test_a_ray_head_stopped_during_the_test_is_503_and_serves_again_once_back(loopback: Any, ns: str,
                                                                             ray_head: Any) -> None:
    api = loopback
    ok(api.get(base(ns)))
    ray_head.stop()
    try:
        for method, suffix, kwargs in CALLS:
            message = refused(getattr(api, method)(base(ns) + suffix, **kwargs), 503, 14)
            assert message == f"The Ray dashboard at {ray_head.url} cannot be reached: cannot connect."
    finally:
        ray_head.restart()
    assert ok(api.get(base(ns))) == {}  # served again, by a new head: the old one's jobs are gone


def test_a_dashboard_that_does_not_answer_is_503_within_the_timeout(k8s: K8s, ray_head: Any, ns: str) -> None:
    with own_app(k8s, dashboard_url=ray_head.url, dashboard_timeout=2) as api:
        ok(api.get(base(ns)))
        ray_head.pause()
        try:
            started = time.monotonic()
            message = refused(api.get(base(ns)), 503, 14)
            waited = time.monotonic() - started
        finally:
            ray_head.resume()
        assert message == f"The Ray dashboard at {ray_head.url} cannot be reached: no answer in time."
        assert 1.5 < waited < 6, waited
        ok(api.get(base(ns)))


def test_through_the_service_proxy_a_head_service_without_endpoints_is_503_naming_the_proxy(
        app: Any, cluster: Cluster, ns: str, kube: Kube) -> None:
    """The session's app sets no template and runs outside the cluster: it reaches the dashboards
    through the Kubernetes API server's service proxy. With the ready cluster's head Service
    selecting no pod (the operator leaves an existing head Service as it is), Kubernetes answers
    itself, 503 `no endpoints available`: never read as the dashboard's answer."""
    client = app.test_client()
    service = present(kube.get("rayclusters", ns, NAME))["status"]["head"]["serviceName"]
    core, discovery = kubernetes.CoreV1Api(cluster.api), kubernetes.DiscoveryV1Api(cluster.api)
    spec = core.read_namespaced_service(service, ns).spec
    assert spec is not None
    assert spec.type == "NodePort"  # the operator records the node port in the cluster's status: not this one
    [port] = [port.port for port in spec.ports or [] if port.name == "dashboard"]
    core.patch_namespaced_service(service, ns, {"spec": {"selector": {"kuberay-api.test/selects": "nothing"}}})
    try:
        wait_for(lambda: not any(slice_.endpoints for slice_ in discovery.list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={service}").items), what="the endpoints to go")
        before = sample(client.get("/metrics").text, "kuberay_api_dashboard_requests_total", call="list_jobs",
                        outcome="unreachable")
        for method, suffix, kwargs in CALLS:
            message = refused(getattr(client, method)(base(ns) + suffix, **kwargs), 503, 14)
            assert message == (f"The Ray dashboard of cluster {NAME} (service {service}:{port} through the Kubernetes "
                               f"API server) cannot be reached: the Kubernetes API server's service proxy answered "
                               f'503: no endpoints available for service "{service}".')
        assert sample(client.get("/metrics").text, "kuberay_api_dashboard_requests_total", call="list_jobs",
                      outcome="unreachable") == before + 1
        # an id that Kubernetes would read as a step up the dashboard's paths is sent nowhere
        message = refused(client.get(f"{base(ns)}/%2E%2E"), 404, 5)
        assert message == f"Job submission .. not found in cluster {NAME} of namespace {ns}"
    finally:  # the head serves the next tests again once its endpoint is back
        core.patch_namespaced_service(service, ns, {"spec": {"selector": {"kuberay-api.test/selects": None}}})
        wait_for(lambda: any(slice_.endpoints for slice_ in discovery.list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={service}").items), what="the endpoints to return")


def test_dashboard_calls_are_counted_in_the_metrics(api: Any, ns: str) -> None:
    def counts() -> tuple[float, ...]:
        text = api.get("/metrics").text
        return (sample(text, "kuberay_api_dashboard_requests_total", call="list_jobs", outcome="ok"),
                sample(text, "kuberay_api_dashboard_requests_total", call="get_job", outcome="404"),
                sample(text, "kuberay_api_dashboard_request_duration_seconds_count", call="list_jobs"))

    before = counts()
    ok(api.get(base(ns)))
    refused(api.get(f"{base(ns)}/never-submitted"), 404, 5)
    assert counts() == tuple(value + 1 for value in before)

