"""Ray really runs: the user guide's cluster, RayJob and RayService, created through the API, run
real Ray on the real node (the Ray image built here), and the server's own answers, V1 over HTTP
and gRPC, follow them; job submissions reach the head with no address set by hand.

The server here runs outside the cluster (the session's app, and gunicorn as `make run` serves),
so its job submissions go through the kube-apiserver's service proxy to the head Service (the
calls of every kind, and the upstream Python client's, in test_job_submissions.py, on the same
cluster); the in-cluster path (cluster DNS) is tested on the deployed server, in test_deploy.py. Timings are
printed (pytest -s) for the record.

These need the real node (root on Linux); the `real_node` fixture skips them, saying why, elsewhere.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client
from starlette.testclient import TestClient

from app.types import Json
from devcluster import node
from tests.support.api import ok
from tests.support.bodies import cluster_body, job_body, service_body, template_body
from tests.support.kube import Cluster, fresh_namespaces, raw
from tests.support.real_ray import (
    WORKER_GROUP,
    RayOnNode,
    head_pod,
    load_ray_image,
    pods_memory,
    running_containers,
)
from tests.support.rpc import grpc_send
from tests.support.served import Server, gunicorn, kubernetes_client
from tests.support.waiting import wait_for

PRINT_42 = 'python -c "print(42)"'
# A task that needs one CPU: the head offers none, so the autoscaler must add a worker for it.
NEEDS_A_CPU = ("python -c \"import ray; ray.init(); "
               "print(ray.get(ray.remote(num_cpus=1)(lambda: 6 * 7).remote()))\"")
TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}
JOB_TIMEOUT = 120.0
RAYJOB_TIMEOUT = 420.0
RAYSERVICE_TIMEOUT = 600.0
SCALE_TIMEOUT = 300.0
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server as `make run` serves it: gunicorn, outside the cluster, no dashboard address set."""
    with gunicorn(cluster, tmp_path_factory.mktemp("ray-runs")) as served:
        yield served


@pytest.fixture(scope="module")
def guide_ns(cluster: Cluster, real_node: node.RealNode, app: Any) -> Iterator[str]:
    """A namespace of the module's own whose pods run on the real node, with the guide's template."""
    load_ray_image(real_node)
    with fresh_namespaces(cluster, prefix="guide", real=True) as [ns]:
        ok(app.test_client().post(f"/apis/v1/namespaces/{ns}/compute_templates", json=template_body(ns)))
        yield ns


def jobsubmissions(ray: RayOnNode) -> str:
    return f"/apis/v1/namespaces/{ray.namespace}/jobsubmissions/{ray.name}"


def wait_status(get: Callable[[], Any], statuses: set[str], timeout: float = JOB_TIMEOUT) -> Any:
    return wait_for(lambda: (info := get()) and info.get("status") in statuses and info, timeout=timeout,
                    interval=0.5, what=f"the job to reach {sorted(statuses)}")


# -- the cluster -----------------------------------------------------------------------------------

def test_a_cluster_made_through_the_api_runs_ray_in_real_containers(
        cluster: Cluster, ray_on_node: RayOnNode, app: Any, rpc_channel: Any) -> None:
    ns, name = ray_on_node.namespace, ray_on_node.name
    pod = head_pod(cluster.api, ns, name)
    assert pod.spec.node_name == node.NODE_NAME
    assert {"ray-head", "autoscaler"} <= set(running_containers(pod)), pod.status.container_statuses

    answer = ok(app.test_client().get(f"/apis/v1/namespaces/{ns}/clusters/{name}"))
    status, over_grpc = grpc_send(rpc_channel)("GET", f"/namespaces/{ns}/clusters/{name}", None)
    assert answer["clusterState"] == "ready"
    assert status == 200
    assert over_grpc["clusterState"] == "ready"
    assert answer["serviceEndpoint"]["dashboard"]
    assert answer["serviceEndpoint"] == over_grpc["serviceEndpoint"]

    # Ray's own processes answer in the head container.
    ray_status = raw(client.CoreV1Api(cluster.api).connect_get_namespaced_service_proxy_with_path(
        f"{ray_on_node.head_service}:dashboard", ns, "api/version", _preload_content=False))
    assert json.loads(ray_status.data)["ray_version"] == "2.60.0"
    memory = pods_memory(cluster.api, ns)
    assert 0 < memory[pod.metadata.name] < 4 * 2**30  # counted in its cgroup, within its limit
    print("\nthe guide's cluster, seconds after its create: " + ", ".join(
        f"{what} {seconds:.1f}" for what, seconds in ray_on_node.milestones.items()) + "; memory "
          + ", ".join(f"{pod} {used / 2**20:.0f} MiB" for pod, used in sorted(memory.items())))


def test_the_kuberay_dashboards_link_through_the_services_proxy_opens_rays_dashboard(
        ray_on_node: RayOnNode, server: Server) -> None:
    """The KubeRay dashboard links each cluster to `/api/v1/namespaces/<ns>/services/<head>:dashboard/
    proxy/`, served by this server's V2 API: Ray's own page and its API answer there."""
    with kubernetes_client(server, safe_chars_for_path_param="/") as api:
        core = client.CoreV1Api(api)
        service = f"{ray_on_node.head_service}:dashboard"
        page = raw(core.connect_get_namespaced_service_proxy_with_path(service, ray_on_node.namespace, "",
                                                                       _preload_content=False))
        version = raw(core.connect_get_namespaced_service_proxy_with_path(service, ray_on_node.namespace,
                                                                          "api/version", _preload_content=False))
    assert page.status == 200, page.data[:300]
    assert b"<title>Ray Dashboard</title>" in page.data, page.data[:300]
    assert json.loads(version.data)["ray_version"] == "2.60.0"


# -- job submissions, outside the cluster ------------------------------------------------------

def test_a_job_submitted_with_no_address_set_prints_42(ray_on_node: RayOnNode, server: Server) -> None:
    """`make run`'s server (no KUBERAY_API_DASHBOARD_URL) reaches the head through the API server."""
    root = f"http://127.0.0.1:{server.port}{jobsubmissions(ray_on_node)}"
    answer = http.request("POST", root, json={"entrypoint": PRINT_42})
    assert answer.status == 200, answer.data
    sid = json.loads(answer.data)["submissionId"]
    info = wait_status(lambda: json.loads(http.request("GET", f"{root}/{sid}").data), TERMINAL)
    assert info["status"] == "SUCCEEDED", info
    log = json.loads(http.request("GET", f"{root}/log/{sid}").data)["log"]
    assert "42" in log.split(), log


# -- Ray token authentication ------------------------------------------------------------------

TOKEN_CLUSTER = "token-cluster"
TOKEN_RAY_VERSION = "2.60.0"  # the image's Ray; the operator requires 2.52.0 or later for tokens
TOKEN_RAY_IMAGE = "rayproject/ray:2.46.0"  # the tag under which the node holds the image built here (Ray 2.60.0)


def test_a_job_runs_on_a_cluster_with_ray_token_authentication(cluster: Cluster, guide_ns: str, app: Any) -> None:
    """A cluster made with `authOptions: {mode: token}`: the operator makes its token Secret and starts
    Ray with it, whose dashboard then refuses requests without the token; a job submitted through the
    server (through the API server's service proxy, the token in X-Ray-Authorization) runs, and its
    log is read. One cluster, head only, deleted at the end."""
    api = app.test_client()
    body = cluster_body(guide_ns, TOKEN_CLUSTER)
    body["version"] = TOKEN_RAY_VERSION
    spec = body["clusterSpec"]
    spec["headGroupSpec"]["image"] = TOKEN_RAY_IMAGE
    spec["workerGroupSpec"] = []  # the head alone runs the job
    spec["authOptions"] = {"mode": "token"}
    created = ok(api.post(f"/apis/v1/namespaces/{guide_ns}/clusters", json=body))
    assert created["clusterSpec"]["authOptions"] == {"mode": "token"}
    try:
        wait_for(lambda: ok(api.get(f"/apis/v1/namespaces/{guide_ns}/clusters/{TOKEN_CLUSTER}"))
                 .get("clusterState") == "ready", timeout=300, interval=1.0, what="the token cluster to be ready")
        core = client.CoreV1Api(cluster.api)
        assert (core.read_namespaced_secret(TOKEN_CLUSTER, guide_ns).data or {}).get("auth_token")  # the operator's
        # Ray checks tokens: without one, its dashboard refuses (401) through the proxy too.
        with pytest.raises(client.ApiException) as caught:
            core.connect_get_namespaced_service_proxy_with_path(
                f"{TOKEN_CLUSTER}-head-svc:dashboard", guide_ns, "api/jobs/", _preload_content=True)
        assert caught.value.status == 401, caught.value.body

        root = f"/apis/v1/namespaces/{guide_ns}/jobsubmissions/{TOKEN_CLUSTER}"
        sid = ok(api.post(root, json={"entrypoint": PRINT_42}))["submissionId"]
        info = wait_status(lambda: ok(api.get(f"{root}/{sid}")), TERMINAL)
        assert info["status"] == "SUCCEEDED", info
        assert "42" in ok(api.get(f"{root}/log/{sid}"))["log"].split()
    finally:
        api.delete(f"/apis/v1/namespaces/{guide_ns}/clusters/{TOKEN_CLUSTER}")


# -- the autoscaler ----------------------------------------------------------------------------

def test_the_autoscaler_adds_a_worker_when_a_job_asks_for_a_cpu(
        cluster: Cluster, ray_on_node: RayOnNode, app: Any) -> None:
    ns, name = ray_on_node.namespace, ray_on_node.name
    api = app.test_client()
    path = f"/apis/v1/namespaces/{ns}/clusters/{name}"
    core = client.CoreV1Api(cluster.api)
    selector = f"ray.io/cluster={name},ray.io/group={WORKER_GROUP}"
    # Workers that earlier jobs asked for go once idle for the guide's idleTimeoutSeconds.
    wait_for(lambda: ok(api.get(path))["clusterSpec"]["workerGroupSpec"][0].get("replicas", 0) == 0
             and not core.list_namespaced_pod(ns, label_selector=selector).items,
             timeout=SCALE_TIMEOUT, interval=2.0, what="the autoscaler to remove idle workers")
    started = time.monotonic()
    sid = ok(api.post(jobsubmissions(ray_on_node), json={"entrypoint": NEEDS_A_CPU}))["submissionId"]
    info = wait_status(lambda: ok(api.get(f"{jobsubmissions(ray_on_node)}/{sid}")), TERMINAL, SCALE_TIMEOUT)
    assert info["status"] == "SUCCEEDED", info
    assert "42" in ok(api.get(f"{jobsubmissions(ray_on_node)}/log/{sid}"))["log"].split()
    group = ok(api.get(path))["clusterSpec"]["workerGroupSpec"][0]
    assert group["groupName"] == WORKER_GROUP, group
    assert group["replicas"] == 1, group  # the autoscaler's doing
    workers = core.list_namespaced_pod(ns, label_selector=selector).items
    assert [running_containers(pod) for pod in workers] == [["ray-worker"]]
    print(f"\nthe autoscaler's worker ran the task {time.monotonic() - started:.0f} s after the job was submitted")


def _created(api: TestClient, kind: str, body: Json) -> tuple[str, float]:
    """A create of the guide's `body`: the object's path under the API's prefix, and when the create was sent."""
    path = f"/namespaces/{body['namespace']}/{kind}/{body['name']}"
    started = time.monotonic()
    ok(api.post(f"/apis/v1/namespaces/{body['namespace']}/{kind}", json=body))
    return path, started


# -- the guide's RayJob ------------------------------------------------------------------------

def test_the_guides_rayjob_runs_to_succeeded_as_v1_and_grpc_answer(
        cluster: Cluster, guide_ns: str, app: Any, rpc_channel: Any) -> None:
    api, over_grpc = app.test_client(), grpc_send(rpc_channel)
    path, started = _created(api, "jobs", job_body(guide_ns))
    seen: list[tuple[str, str]] = []

    def succeeded() -> bool:
        answer = ok(api.get(f"/apis/v1{path}"))
        status, rpc_answer = over_grpc("GET", path, None)
        assert status == 200, rpc_answer
        for job in (answer, rpc_answer):
            state = (job.get("jobStatus", ""), job.get("jobDeploymentStatus", ""))
            if not seen or seen[-1] != state:
                seen.append(state)
        assert answer.get("jobStatus") != "FAILED", answer
        done = ("SUCCEEDED", "Complete")
        return all((job.get("jobStatus"), job.get("jobDeploymentStatus")) == done for job in (answer, rpc_answer))

    wait_for(succeeded, timeout=RAYJOB_TIMEOUT, interval=1.0, what="the guide's RayJob to succeed")
    took = time.monotonic() - started
    statuses = [status for status, _ in seen]
    # (Ray's own PENDING and RUNNING of the guide's `python -V` last less than a poll: the deployment's Running,
    # which lasts while the job runs, is what shows it ran before it succeeded.)
    assert statuses.index("SUCCEEDED") > max(i for i, s in enumerate(statuses) if s != "SUCCEEDED"), seen
    assert any(deployment == "Running" for _, deployment in seen), seen
    answer = ok(api.get(f"/apis/v1{path}"))
    assert answer["jobId"], answer

    # Its log: the submitter's, where `python -V` printed the image's Python.
    core = client.CoreV1Api(cluster.api)
    submitters = core.list_namespaced_pod(guide_ns, label_selector="job-name=rayjob-test").items
    logs = "".join(core.read_namespaced_pod_log(pod.metadata.name, guide_ns)
                   for pod in submitters if pod.metadata and pod.metadata.name)
    assert "Python 3.11" in logs, logs
    assert "succeeded" in logs, logs
    ok(api.delete(f"/apis/v1{path}"))  # its cluster goes too: the node's CPUs are few
    print(f"\nthe guide's RayJob: SUCCEEDED {took:.0f} s after its create; states seen {seen}")


def test_a_cron_job_runs_the_guides_job_on_its_schedule(guide_ns: str, app: Any) -> None:
    """The guide's RayJob as a cron job of every minute: at the next minute the operator makes a
    RayJob, which runs real Ray to SUCCEEDED, and the cron job's V1 answer lists it so. Suspended
    after its first run (the node's CPUs are few); deleted at the end, its RayJobs with it."""
    api = app.test_client()
    base = f"/apis/v1/namespaces/{guide_ns}/cronjobs"
    ok(api.post(base, json={**job_body(guide_ns, "guide-cron"), "schedule": "* * * * *"}))
    try:
        first = wait_for(lambda: ok(api.get(f"{base}/guide-cron")).get("jobs"), timeout=90, interval=1.0,
                         what="the cron job's first RayJob")
        ok(api.post(f"{base}/guide-cron/suspend"))
        name = first[-1]["name"]

        def run() -> Json | None:
            jobs = ok(api.get(f"{base}/guide-cron")).get("jobs") or []
            return next((job for job in jobs if job["name"] == name), None)

        done = wait_for(run, until=lambda job: job.get("jobDeploymentStatus") in ("Complete", "Failed"),
                        timeout=RAYJOB_TIMEOUT, interval=1.0, what=f"the cron job's RayJob {name} to end")
        assert (done["jobStatus"], done.get("jobDeploymentStatus")) == ("SUCCEEDED", "Complete"), done
        assert done["scheduledAt"] <= done["createdAt"], done
    finally:
        api.delete(f"{base}/guide-cron")


# -- the guide's RayService --------------------------------------------------------------------

def _healthy(service: Json) -> bool:
    apps = (service.get("rayServiceStatus") or {}).get("serveApplicationStatus") or []
    return len(apps) == 2 and all(
        app.get("status") == "RUNNING" and app.get("serveDeploymentStatus")
        and all(d.get("status") == "HEALTHY" for d in app["serveDeploymentStatus"]) for app in apps)


def _serve_answer(cluster: Cluster, ns: str, service: str, route: str, order: list[Any]) -> Any:
    """A request to the app through the serve Service's ClusterIP, from this machine."""
    spec = client.CoreV1Api(cluster.api).read_namespaced_service(service, ns).spec
    assert spec is not None
    ip = spec.cluster_ip
    answer = http.request("POST", f"http://{ip}:8000{route}", body=json.dumps(order).encode(),
                          headers={"Content-Type": "application/json"})
    return json.loads(answer.data) if answer.status == 200 else (answer.status, answer.data)


def test_the_guides_rayservice_becomes_healthy_serves_and_applies_a_new_serve_config(
        cluster: Cluster, guide_ns: str, app: Any, rpc_channel: Any) -> None:
    api, over_grpc = app.test_client(), grpc_send(rpc_channel)
    path, started = _created(api, "services", service_body(guide_ns))

    def healthy() -> bool:
        status, answer = over_grpc("GET", path, None)
        return status == 200 and _healthy(answer) and _healthy(ok(api.get(f"/apis/v1{path}")))

    wait_for(healthy, timeout=RAYSERVICE_TIMEOUT, interval=2.0, what="the guide's RayService to be healthy")
    took = time.monotonic() - started
    # Each Serve proxy joins the serve Service once it has the routes (a moment after HEALTHY).
    wait_for(lambda: _serve_answer(cluster, guide_ns, "test-v2-serve-svc", "/fruit", ["MANGO", 2]) == 6,
             timeout=60, interval=1.0, what="the fruit app to answer through its serve Service")
    serving = time.monotonic() - started
    assert _serve_answer(cluster, guide_ns, "test-v2-serve-svc", "/calc", ["MUL", 3]) == 15

    # The guide's update: a new price for mangoes, applied by Ray without a new cluster.
    body = service_body(guide_ns)
    config = yaml.safe_load(body["serveConfigV2"])
    mango = next(d for d in config["applications"][0]["deployments"] if d["name"] == "MangoStand")
    mango["user_config"]["price"] = 4
    body["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)
    cluster_before = ok(api.get(f"/apis/v1{path}"))["rayServiceStatus"]["rayClusterName"]
    ok(api.put(f"/apis/v1{path}", json=body))
    wait_for(lambda: _serve_answer(cluster, guide_ns, "test-v2-serve-svc", "/fruit", ["MANGO", 2]) == 8,
             timeout=180, interval=2.0, what="Ray to apply the new serve config")
    # The operator reports the new config's deployments as they settle: HEALTHY again, same cluster.
    after = wait_for(lambda: ok(api.get(f"/apis/v1{path}")), until=_healthy, timeout=60, interval=1.0, what="the service's answer to be HEALTHY again")
    assert after["rayServiceStatus"]["rayClusterName"] == cluster_before
    memory = pods_memory(cluster.api, guide_ns)
    print(f"\nthe guide's RayService: HEALTHY {took:.0f} s and serving {serving:.0f} s after its create; memory "
          + ", ".join(f"{pod} {used / 2**20:.0f} MiB" for pod, used in sorted(memory.items())))
