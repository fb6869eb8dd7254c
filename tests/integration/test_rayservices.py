"""Ray services through the full app against a real API server with the KubeRay operator."""
from __future__ import annotations

import copy

import pytest
from starlette.testclient import TestClient

from app.types import Json
from tests.support.api import GO_TIME, PREFIXES, created_and_held, ok, refused
from tests.support.bodies import SERVE_CONFIG_V2, container, graph_service_body, raycluster_spec, service_body
from tests.support.kube import MANAGED, Kube, finalized_rayservice, present
from tests.support.waiting import wait_for

NOT_DELETED = "1969-12-31T23:59:59Z"


def _expected_cluster_spec(replicas: int = 1) -> Json:
    return {
        "headGroupSpec": {
            "computeTemplate": "default-template", "image": "rayproject/ray:2.7.0-py310",
            "serviceType": "NodePort",
            "rayStartParams": {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"},
            "environment": {},
        },
        "workerGroupSpec": [{
            "groupName": "small-wg", "computeTemplate": "default-template",
            "image": "rayproject/ray:2.7.0-py310", "replicas": replicas, "minReplicas": replicas,
            "maxReplicas": 5, "rayStartParams": {"node-ip-address": "$MY_POD_IP"}, "environment": {},
        }],
    }


def _assert_seed_response(body: Json, namespace: str, replicas: int = 1) -> None:
    assert {k: body[k] for k in ("name", "namespace", "user", "serveConfigV2")} == {
        "name": "test-v2", "namespace": namespace, "user": "user", "serveConfigV2": SERVE_CONFIG_V2}
    assert (body["serviceUnhealthySecondThreshold"], body["deploymentUnhealthySecondThreshold"]) == (900, 300)
    assert body["clusterSpec"] == _expected_cluster_spec(replicas)
    assert "rayServiceStatus" in body
    assert body["createdAt"].endswith("Z")
    assert body["deleteAt"] == NOT_DELETED


@pytest.mark.parametrize("prefix", PREFIXES)
def test_readme_service_lifecycle(app_client: TestClient, kube: Kube, with_template: str, prefix: str) -> None:
    namespace, base = with_template, f"{prefix}/namespaces/{with_template}/services"
    created, obj = created_and_held(app_client, kube, base, service_body(namespace))
    _assert_seed_response(created, namespace)
    assert obj["metadata"]["labels"] == {**MANAGED, "ray.io/user": "user"}
    assert list(obj["metadata"]["annotations"]) == ["ray.io/creation-timestamp"]
    assert GO_TIME.match(obj["metadata"]["annotations"]["ray.io/creation-timestamp"])
    spec = obj["spec"]
    assert spec["serveConfigV2"] == SERVE_CONFIG_V2
    head = container(spec["rayClusterConfig"]["headGroupSpec"]["template"])
    assert {"dashboard-agent": 52365, "serve": 8000}.items() <= {
        p["name"]: p["containerPort"] for p in head["ports"]}.items()

    assert ok(app_client.get(f"{base}/test-v2"))["name"] == "test-v2"
    assert [s["name"] for s in ok(app_client.get(base))["services"]] == ["test-v2"]
    assert (namespace, "test-v2") in {
        (s["namespace"], s["name"]) for s in ok(app_client.get(f"{prefix}/services"))["services"]}

    # The operator builds the service's cluster and reports on it: events reach our answer.
    wait_for(lambda: kube.items("rayclusters", namespace, "ray.io/originated-from-crd=RayService"),
             timeout=90, what="the service's RayCluster")
    got = wait_for(lambda: ok(app_client.get(f"{base}/test-v2")),
                   until=lambda s: s["rayServiceStatus"].get("rayServiceEvents"),
                   timeout=90, what="events of the service")
    assert all(e["name"] == f"test-v2-{e['id']}" for e in got["rayServiceStatus"]["rayServiceEvents"])

    assert ok(app_client.delete(f"{base}/test-v2")) == {}
    wait_for(lambda: kube.get("rayservices", namespace, "test-v2") is None, timeout=90,
             what="the RayService to be deleted")
    refused(app_client.get(f"{base}/test-v2"), 404, 5)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_readme_deployment_graph_service(app_client: TestClient, kube: Kube, with_template: str, prefix: str) -> None:
    """v1.0.0's serve config: stored as the equivalent serveConfigV2, answered as it was sent."""
    namespace = with_template
    base = f"{prefix}/namespaces/{namespace}/services"
    body = graph_service_body(namespace)

    created = ok(app_client.post(base, json=body))

    assert created["serveDeploymentGraphSpec"] == body["serveDeploymentGraphSpec"]
    assert "serveConfigV2" not in created
    spec = present(kube.get("rayservices", namespace, "test-v1"))["spec"]
    assert "import_path: fruit.deployment_graph" in spec["serveConfigV2"]
    got = ok(app_client.get(f"{base}/test-v1"))
    assert got["serveDeploymentGraphSpec"] == body["serveDeploymentGraphSpec"]

    body["serveDeploymentGraphSpec"]["serveConfigs"][0]["replicas"] = 2
    updated = ok(app_client.put(f"{base}/test-v1", json=body))

    assert updated["serveDeploymentGraphSpec"]["serveConfigs"][0]["replicas"] == 2
    after = present(kube.get("rayservices", namespace, "test-v1"))
    assert "ray.io/update-timestamp" in after["metadata"]["annotations"]
    assert "ray.io/creation-timestamp" not in after["metadata"]["annotations"]
    assert after["spec"]["serveConfigV2"] != spec["serveConfigV2"]
    assert ok(app_client.delete(f"{base}/test-v1")) == {}


def test_put_replaces_the_service(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    url = f"/apis/v1/namespaces/{namespace}/services/test-v2"
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/services", json=service_body(namespace)))
    before = present(kube.get("rayservices", namespace, "test-v2"))
    kube.custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayservices", "test-v2", {
        "metadata": {"annotations": {"example.com/foreign": "x"}}})
    body = service_body(namespace)
    body["clusterSpec"]["workerGroupSpec"][0]["replicas"] = 2
    body["clusterSpec"]["workerGroupSpec"][0]["minReplicas"] = 2

    updated = ok(app_client.put(url, json=body))

    _assert_seed_response(updated, namespace, replicas=2)
    after = present(kube.get("rayservices", namespace, "test-v2"))
    assert list(after["metadata"]["annotations"]) == ["ray.io/update-timestamp"]
    assert GO_TIME.match(after["metadata"]["annotations"]["ray.io/update-timestamp"])
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == 2


def test_put_of_an_unknown_or_unmanaged_service_is_404(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    kube.create("rayservices", namespace, {"metadata": {"name": "theirs"}, "spec": {
        "serveConfigV2": "applications: []\n", "rayClusterConfig": raycluster_spec()}})
    base = f"/apis/v1/namespaces/{namespace}/services"

    refused(app_client.put(f"{base}/test-v2", json=service_body(namespace)), 404, 5)
    refused(app_client.put(f"{base}/theirs", json=service_body(namespace, "theirs")), 404, 5)

    assert kube.get("rayservices", namespace, "test-v2") is None
    assert "ray.io/update-timestamp" not in (
        present(kube.get("rayservices", namespace, "theirs"))["metadata"].get("annotations") or {})


def test_put_naming_another_service_is_400(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    base = f"/apis/v1/namespaces/{namespace}/services"
    for name in ("first", "second"):
        ok(app_client.post(base, json=service_body(namespace, name)))
    body = service_body(namespace, "second")
    body["clusterSpec"]["workerGroupSpec"][0]["replicas"] = 3

    assert "name" in refused(app_client.put(f"{base}/first", json=body), 400, 3)

    for name in ("first", "second"):
        annotations = present(kube.get("rayservices", namespace, name))["metadata"]["annotations"]
        assert "ray.io/update-timestamp" not in annotations


# -- refusals ----------------------------------------------------------------------------------

def test_invalid_update_is_400_and_changes_nothing(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/services", json=service_body(namespace)))
    before = finalized_rayservice(kube, namespace, "test-v2")
    body = copy.deepcopy(service_body(namespace))
    body["clusterSpec"]["workerGroupSpec"][0]["computeTemplate"] = "missing"

    assert "missing" in refused(app_client.put(
        f"/apis/v1/namespaces/{namespace}/services/test-v2", json=body), 400, 3)

    after = present(kube.get("rayservices", namespace, "test-v2"))
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
