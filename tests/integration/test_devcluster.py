"""The local control plane behaves like a real cluster with the KubeRay operator.

These tests talk to Kubernetes with the official client only; they prove that what the
server will rely on (scheduling, pod lifecycle, garbage collection, RBAC, the operator's
reconciliation of RayCluster, RayJob and RayService) really happens here.
"""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from app.types import Json
from devcluster import kwok_namespace
from tests.support.kube import Cluster, account_token, json_object, raw
from tests.support.waiting import wait_for

GROUP, VERSION = "ray.io", "v1"


def _pod_template(container: str) -> Json:
    return {"spec": {"containers": [{
        "name": container, "image": "rayproject/ray:2.46.0",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                      "requests": {"cpu": "1", "memory": "1Gi"}}}]}}


def _cluster_spec() -> Json:
    return {
        "rayVersion": "2.46.0",
        "headGroupSpec": {"serviceType": "NodePort", "rayStartParams": {},
                          "template": _pod_template("ray-head")},
        "workerGroupSpecs": [{"groupName": "small", "replicas": 2, "minReplicas": 2,
                              "maxReplicas": 4, "rayStartParams": {},
                              "template": _pod_template("ray-worker")}],
    }


def _raycluster(name: str) -> Json:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": name}, "spec": _cluster_spec()}


def _pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(namespace, label_selector=f"ray.io/cluster={name}").items


def _ready(pod: client.V1Pod) -> bool:
    assert pod.status is not None
    conditions = pod.status.conditions or []
    return (pod.status.phase == "Running" and bool(pod.status.pod_ip)
            and any(c.type == "Ready" and c.status == "True" for c in conditions))


def test_raycluster_comes_up_with_pods_service_events_and_ready_state(cluster: Cluster,
                                                                     namespace: str) -> None:
    crd = client.CustomObjectsApi(cluster.api)
    core = client.CoreV1Api(cluster.api)
    crd.create_namespaced_custom_object(GROUP, VERSION, namespace, "rayclusters",
                                        _raycluster("demo"))

    pods = wait_for(lambda: _pods(core, namespace, "demo"), until=lambda p: len(p) == 3 and all(map(_ready, p)),
                    what="3 ready pods")
    kinds = sorted(p.metadata.labels["ray.io/node-type"] for p in pods if p.metadata and p.metadata.labels)
    assert kinds == ["head", "worker", "worker"]

    services = core.list_namespaced_service(namespace, label_selector="ray.io/cluster=demo").items
    head = [s.spec for s in services if s.spec is not None and s.spec.type == "NodePort"]
    assert head
    assert all(p.node_port for p in head[0].ports or [])

    obj = wait_for(lambda: json_object(crd.get_namespaced_custom_object(GROUP, VERSION, namespace, "rayclusters", "demo")),
                   until=lambda o: o.get("status", {}).get("state") == "ready", what="RayCluster state ready")
    assert obj["status"]["endpoints"]["dashboard"]

    # Raw JSON: the client's typed Event model refuses events without eventTime.
    answer = raw(client.EventsV1Api(cluster.api).list_namespaced_event(
        namespace, field_selector="regarding.name=demo", _preload_content=False))
    reasons = [e["reason"] for e in json.loads(answer.data)["items"]]
    assert any(r.startswith("Created") for r in reasons), reasons


def test_deleting_raycluster_removes_dependents_and_namespace_deletion_completes(
        cluster: Cluster) -> None:
    crd = client.CustomObjectsApi(cluster.api)
    core = client.CoreV1Api(cluster.api)
    ns = "it-gc-" + base64.b32encode(__import__("os").urandom(5)).decode().lower()
    core.create_namespace(client.V1Namespace.model_validate(kwok_namespace(ns)))
    crd.create_namespaced_custom_object(GROUP, VERSION, ns, "rayclusters", _raycluster("gone"))
    wait_for(lambda: len(_pods(core, ns, "gone")) == 3, what="pods created")

    crd.delete_namespaced_custom_object(GROUP, VERSION, ns, "rayclusters", "gone")
    wait_for(lambda: not _pods(core, ns, "gone"), what="pods garbage-collected")
    wait_for(lambda: not core.list_namespaced_service(
        ns, label_selector="ray.io/cluster=gone").items, what="services garbage-collected")

    core.delete_namespace(ns)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(ns)
        except client.ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_for(namespace_gone, timeout=90, what="namespace deletion")


def _list_rayclusters_with_token(cluster: Cluster, namespace: str, token: str) -> int:
    ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
    req = urllib.request.Request(
        f"{cluster.server}/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
        headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            json.loads(resp.read())
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rbac_is_enforced_for_service_account_tokens(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api)
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount.model_validate(
        {"metadata": {"name": "reader"}}))
    token = account_token(cluster.api, namespace, "reader", 600)

    assert _list_rayclusters_with_token(cluster, namespace, token) == 403

    rbac.create_namespaced_role(namespace, client.V1Role.model_validate({
        "metadata": {"name": "raycluster-reader"},
        "rules": [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["list"]}]}))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding.model_validate({
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "raycluster-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]}))
    wait_for(lambda: _list_rayclusters_with_token(cluster, namespace, token) == 200,
             timeout=20, what="RBAC to allow the list")


@pytest.mark.parametrize(("plural", "body", "owner_label"), [
    ("rayjobs", {"kind": "RayJob", "spec": {"entrypoint": "python -c 'print(1)'",
                                            "rayClusterSpec": _cluster_spec()}},
     "ray.io/originated-from-crd=RayJob"),
    ("rayservices", {"kind": "RayService", "spec": {
        "serveConfigV2": "applications: []\n", "rayClusterConfig": _cluster_spec()}},
     "ray.io/originated-from-crd=RayService"),
])
def test_operator_creates_a_raycluster_for_jobs_and_services(
        cluster: Cluster, namespace: str, plural: str, body: Json, owner_label: str) -> None:
    crd = client.CustomObjectsApi(cluster.api)
    obj = {"apiVersion": "ray.io/v1", "metadata": {"name": "owner"}, **body}
    crd.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, obj)
    created = wait_for(lambda: json_object(crd.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "rayclusters", label_selector=owner_label))["items"],
        what=f"a RayCluster for the {body['kind']}")
    owners = created[0]["metadata"].get("ownerReferences", [])
    assert owners
    assert owners[0]["kind"] == body["kind"]
    assert owners[0]["name"] == "owner"
