"""The chart installed as `make deploy` installs it: the image built from the Dockerfile, loaded
into the real node, `helm upgrade --install` with NodePorts 31888 and 31887, the server a real
container in a pod. Through those ports, from this machine:
* the user guide's sequence answers as the server outside the cluster answers it, over HTTP and
  over gRPC, and the chart's own `helm test` passes;
* the pod runs as the chart says (uid 10001, read-only root, its ServiceAccount's token and no
  kubeconfig, probes passing);
* `kubectl rollout restart` with 2 replicas, under a client's creates, gets and lists, fails no
  request and loses no create;
* with any one permission of the chart's role taken away, the installed server meets a refusal.
"""
from __future__ import annotations

import contextlib
import json
import operator
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import grpc
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from app.translate.job_submissions import dashboard_route
from app.types import Json
from devcluster import deploy, node
from tests.support import seed_sequence
from tests.support.chart import allowed, atoms, without
from tests.support.kube import Cluster, fresh_namespaces, pod_exec
from tests.support.real_ray import RayOnNode
from tests.support.rpc import grpc_send
from tests.support.served import http_send
from tests.support.waiting import wait_for

HTTP_PORT, GRPC_PORT = 31888, 31887
# What the server logs at start-up when its job submissions go to head Services by cluster DNS.
DNS_ROUTE = str(dashboard_route("", in_cluster=True))
LIVE_RBAC = ("replicaCount=1", "cache=false", "enableAPIServerV2=false")


class Installed:
    """The release, installed into a namespace of the test module's own."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        assert cluster.plane is not None  # the session's own: the real node's tests skip without it
        self.cluster = cluster
        self.state_dir = cluster.plane.state_dir
        self.namespace = namespace
        self.core = client.CoreV1Api(cluster.api)
        self.apps = client.AppsV1Api(cluster.api)

    def upgrade(self, *sets: str) -> None:
        """`make deploy` with these values; returns once the Deployment is available."""
        deploy.deploy(self.state_dir, namespace=self.namespace, sets=sets)

    def pods(self) -> list[client.V1Pod]:
        return [pod for pod in self.core.list_namespaced_pod(
            self.namespace, label_selector="app.kubernetes.io/name=kuberay-apiserver").items
            if pod.metadata is not None and pod.metadata.deletion_timestamp is None]

    def pod_name(self) -> str:
        """The release's one pod."""
        [pod] = self.pods()
        assert pod.metadata is not None
        assert pod.metadata.name is not None
        return pod.metadata.name

    def exec(self, pod: str, command: list[str]) -> str:
        return pod_exec(self.cluster.api, self.namespace, pod, command, container="kuberay-apiserver-container")


@pytest.fixture(scope="module")
def installed(cluster: Cluster, real_node: node.RealNode) -> Iterator[Installed]:
    with fresh_namespaces(cluster, prefix="deploy", real=True) as [namespace]:
        release = Installed(cluster, namespace)
        release.upgrade()
        try:
            yield release
        finally:
            deploy.undeploy(release.state_dir, namespace=namespace)


# -- the user guide, as the guide reaches it -------------------------------------------------------

def test_the_user_guide_over_the_node_port_answers_as_the_server_outside_the_cluster(
        installed: Installed, cluster: Cluster, app: Any) -> None:
    assert _get(f"/apis/v1/namespaces/{installed.namespace}/compute_templates") == (200, {})
    assert _get("/") == (404, {"code": 5, "message": "Not Found: no API route matches GET /."})

    from_pod = seed_sequence.recorded(cluster, http_send(HTTP_PORT), prefix="deployed")
    app_client = app.test_client()

    def outside(method: str, path: str, body: Json | None) -> tuple[int, Any]:
        response = app_client.request(method, path, json=body)
        return response.status_code, response.json()

    seed_sequence.assert_same(from_pod, seed_sequence.recorded(cluster, outside, prefix="outside"))


def test_grpc_answers_on_node_port_31887(installed: Installed, cluster: Cluster, app: Any) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{GRPC_PORT}") as channel:
        over_grpc = seed_sequence.recorded(cluster, grpc_send(channel), prefix="deployed-grpc")
    seed_sequence.assert_same(over_grpc, seed_sequence.recorded(cluster, http_send(HTTP_PORT), prefix="deployed"))


def test_the_charts_own_test_passes(installed: Installed, cluster: Cluster) -> None:
    deploy.run_helm(installed.state_dir, ["test", deploy.RELEASE, "--namespace", installed.namespace,
                                              "--timeout", "2m", "--logs"])


def _get(path: str) -> tuple[int, Any]:
    return http_send(HTTP_PORT)("GET", path, None)


def test_job_submissions_from_the_pod_reach_a_real_head_by_cluster_dns(
        installed: Installed, ray_on_node: RayOnNode) -> None:
    """In a pod, with no dashboard address set, the server reaches the head Service by its DNS name."""
    log = installed.core.read_namespaced_pod_log(installed.pod_name(), installed.namespace,
                                                 container="kuberay-apiserver-container")
    assert DNS_ROUTE in log, log
    send = http_send(HTTP_PORT)
    root = f"/apis/v1/namespaces/{ray_on_node.namespace}/jobsubmissions/{ray_on_node.name}"
    status, answer = send("POST", root, {"entrypoint": 'python -c "print(42)"'})
    assert status == 200, answer
    sid = answer["submissionId"]
    info = wait_for(lambda: send("GET", f"{root}/{sid}", None)[1],
                    until=lambda got: got.get("status") in {"STOPPED", "SUCCEEDED", "FAILED"},
                    timeout=120, interval=0.5, what="the job to end")
    assert info["status"] == "SUCCEEDED", info
    assert "42" in send("GET", f"{root}/log/{sid}", None)[1]["log"].split()


# -- the pod -----------------------------------------------------------------------------------------

def test_the_pod_runs_unprivileged_read_only_as_its_service_account_with_its_probes_passing(
        installed: Installed) -> None:
    name = installed.pod_name()
    pod = installed.core.read_namespaced_pod(name, installed.namespace)
    assert pod.spec is not None
    assert pod.spec.node_name == node.NODE_NAME
    assert installed.exec(name, ["id", "-u"]).strip() == "10001"
    assert installed.exec(name, ["id", "-g"]).strip() == "10001"
    written = installed.exec(name, ["python", "-c", "open('/srv/kuberay-api/x', 'w')"])
    assert "Read-only file system" in written
    env = installed.exec(name, ["env"])
    assert "KUBECONFIG" not in env
    assert "KUBERAY_API_KUBECONFIG" not in env

    # In-cluster configuration: its Kubernetes client, as the server builds it, is the chart's account.
    whoami = installed.exec(name, ["python", "-c",
                                   "from kubernetes import client, config; config.load_incluster_config(); "
                                   "print(client.AuthenticationV1Api().create_self_subject_review("
                                   "{'kind': 'SelfSubjectReview'}).status.user_info.username)"])
    assert whoami.strip() == f"system:serviceaccount:{installed.namespace}:kuberay-apiserver"

    # The kubelet ran both probes: Ready only after the readiness probe passed, no restarts.
    pod = installed.core.read_namespaced_pod(name, installed.namespace)
    assert pod.status is not None
    assert pod.spec is not None
    [status] = pod.status.container_statuses or []
    assert status.ready
    assert status.restart_count == 0
    for probe in (pod.spec.containers[0].liveness_probe, pod.spec.containers[0].readiness_probe):
        assert probe is not None
        assert probe.http_get is not None
        path = probe.http_get.path
        assert installed.exec(name, ["python", "-c", f"import urllib.request as u; print(u.urlopen("
                                     f"'http://127.0.0.1:8888{path}', timeout=5).status)"]).strip() == "200"


# -- a rolling restart under load ------------------------------------------------------------------

class Client:
    """Loops over creates, gets and lists of compute templates through the NodePort, each request
    on a new connection, until stopped; records every request that did not answer 200."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.created: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self.requests = 0
        self.stop = threading.Event()

    def run(self) -> None:
        base = f"/apis/v1/namespaces/{self.namespace}/compute_templates"
        while not self.stop.is_set():
            name = f"t-{uuid.uuid4().hex[:10]}"
            self._send("POST", base, {"name": name, "namespace": self.namespace, "cpu": 1, "memory": 1}, name)
            # A template another pod created a second ago: each replica's watch has had it by then
            # (read-your-writes across replicas is not promised).
            older = [n for at, n in self.created if at < time.monotonic() - 1]
            if older:
                self._send("GET", f"{base}/{older[-1]}", None)
            self._send("GET", base, None)

    def _send(self, method: str, path: str, body: Json | None, name: str = "") -> None:
        self.requests += 1
        try:
            status, answer = http_send(HTTP_PORT)(method, path, body)
        except OSError as exc:
            self.failures.append(f"{method} {path}: {exc!r}")
            return
        if status != 200:
            self.failures.append(f"{method} {path}: {status} {answer}")
        elif name:
            self.created.append((time.monotonic(), name))


def _rolled_out(installed: Installed, restarted: str) -> bool:
    deployment = installed.apps.read_namespaced_deployment("kuberay-apiserver", installed.namespace)
    status = deployment.status
    assert status is not None
    assert deployment.metadata is not None
    pods = installed.core.list_namespaced_pod(
        installed.namespace, label_selector="app.kubernetes.io/name=kuberay-apiserver").items
    return (status.observed_generation == deployment.metadata.generation and status.updated_replicas == 2
            and status.ready_replicas == 2 and status.replicas == 2 and len(pods) == 2
            and all(p.metadata is not None and (p.metadata.annotations or {}).get("kubectl.kubernetes.io/restartedAt") == restarted
                    for p in pods))


def test_a_rolling_restart_of_two_replicas_fails_no_request_and_loses_no_create(
        installed: Installed, cluster: Cluster) -> None:
    installed.upgrade("replicaCount=2")
    with fresh_namespaces(cluster, prefix="rollout") as [namespace]:
        loop = Client(namespace)
        clients = [threading.Thread(target=loop.run) for _ in range(2)]
        for thread in clients:
            thread.start()
        try:
            time.sleep(3)
            before = loop.requests
            restarted = datetime.now(UTC).isoformat()
            # What `kubectl rollout restart deployment/kuberay-apiserver` does.
            installed.apps.patch_namespaced_deployment("kuberay-apiserver", installed.namespace, {
                "spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": restarted}}}}})
            wait_for(lambda: _rolled_out(installed, restarted), timeout=180, interval=0.5,
                     what="the restarted Deployment to roll out")
            time.sleep(3)
        finally:
            loop.stop.set()
            for thread in clients:
                thread.join(timeout=60)
        assert loop.failures == []
        assert loop.requests - before > 100  # the restart happened under load
        held = {cm.metadata.name for cm in client.CoreV1Api(cluster.api).list_namespaced_config_map(
            namespace, label_selector="ray.io/config-type=compute-template").items if cm.metadata}
        assert {name for _, name in loop.created} <= held


# -- the chart's permissions, in the installed release -----------------------------------------------

def _refusals() -> float:
    """Kubernetes' refusals (403) met by the installed server so far, from its own metrics."""
    status, text = http_send(HTTP_PORT)("GET", "/metrics", None)
    assert status == 200
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "kuberay_api_kubernetes_requests_total" and sample.labels.get("outcome") == "403")


def test_the_installed_server_needs_each_permission_of_its_role(installed: Installed, cluster: Cluster) -> None:
    """Without its watch caches the server asks Kubernetes for every read, so each request is a
    call its role must allow: take each permission away in turn from the installed ClusterRole,
    and the guide's sequence through the NodePort meets a refusal. (Without the V2 API, whose
    role grants some of the same.)"""
    installed.upgrade(*LIVE_RBAC)
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    role = rbac.read_cluster_role("kuberay-apiserver").to_dict()
    granted = atoms({"rules": [{"apiGroups": r["api_groups"], "resources": r["resources"], "verbs": r["verbs"]}
                               for r in role["rules"]]})
    user = f"system:serviceaccount:{installed.namespace}:kuberay-apiserver"
    original = role["rules"]

    def sequence() -> float:
        before = _refusals()
        # a refused step fails its assertion; the refusals are counted below
        with fresh_namespaces(cluster, 2, prefix="live-rbac") as namespaces, contextlib.suppress(AssertionError):
            seed_sequence.run(http_send(HTTP_PORT), seed_sequence.steps(*namespaces))
        return _refusals() - before

    assert sequence() == 0  # the whole role: nothing refused
    needed = {}
    try:
        for atom in granted:
            rules = without({"rules": [{"apiGroups": [g], "resources": [r], "verbs": [v]} for g, r, v in granted]},
                            atom)
            rbac.patch_cluster_role("kuberay-apiserver", {"rules": rules})
            wait_for(partial(allowed, cluster, user, atom, installed.namespace), until=operator.not_, timeout=20,
                     what=f"{atom} to be revoked")
            needed[atom] = sequence()
    finally:
        rbac.patch_cluster_role("kuberay-apiserver", {"rules": [
            {"apiGroups": r["api_groups"], "resources": r["resources"], "verbs": r["verbs"]} for r in original]})
    assert len(granted) == 24, granted  # 29 with the caches, whose 5 watches test_rbac.py proves
    assert [atom for atom, refused in needed.items() if not refused] == []


def test_make_deploy_again_upgrades_in_place(installed: Installed) -> None:
    before = {pod.metadata.uid for pod in installed.pods() if pod.metadata}
    revision = json.loads(deploy.run_helm(installed.state_dir, [
        "history", deploy.RELEASE, "--namespace", installed.namespace, "--output", "json"]))[-1]["revision"]
    installed.upgrade(*LIVE_RBAC)  # the same values: nothing to roll
    history = json.loads(deploy.run_helm(installed.state_dir, [
        "history", deploy.RELEASE, "--namespace", installed.namespace, "--output", "json"]))
    assert history[-1]["revision"] == revision + 1
    assert history[-1]["status"] == "deployed"
    assert {pod.metadata.uid for pod in installed.pods() if pod.metadata} == before
    assert _get(f"/apis/v1/namespaces/{installed.namespace}/compute_templates")[0] == 200
