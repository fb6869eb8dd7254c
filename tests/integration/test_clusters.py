"""Clusters through the full app against a real API server with the KubeRay operator.

Each test checks the answer *and* what Kubernetes now holds; the operator's work (state,
events, endpoints) must show up in our responses.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from app.k8s import K8s
from app.types import Json
from tests.support.api import GO_TIME, PREFIXES, GatewayCalls, created_and_held, ok, own_app, refused
from tests.support.bodies import cluster_body, container, raycluster_spec, template_body, volumes_cluster_body
from tests.support.kube import MANAGED, Cluster, Kube, present
from tests.support.waiting import wait_for

START_PARAMS = {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"}
RESOURCES = {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}


@pytest.fixture
def counted_app(cluster: Cluster) -> Iterator[tuple[TestClient, GatewayCalls]]:
    """The app over a K8s of our own whose calls the test counts, without its caches: every read
    asks Kubernetes (as before the caches are synced; tests/integration/test_cache.py has the rest)."""
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache=False) as client:
        yield client, calls


def _expected_spec() -> Json:
    return {
        "headGroupSpec": {
            "computeTemplate": "default-template", "image": "rayproject/ray:2.7.0",
            "serviceType": "NodePort", "rayStartParams": START_PARAMS, "environment": {},
        },
        "workerGroupSpec": [{
            "groupName": "small-wg", "computeTemplate": "default-template",
            "image": "rayproject/ray:2.7.0", "replicas": 1, "minReplicas": 1, "maxReplicas": 1,
            "rayStartParams": {"node-ip-address": "$MY_POD_IP"}, "environment": {},
        }],
    }


def _assert_seed_response(body: Json, namespace: str) -> None:
    assert {k: body[k] for k in ("name", "namespace", "user", "version")} == {
        "name": "test-cluster", "namespace": namespace, "user": "3cpo", "version": "2.7.0"}
    assert "environment" not in body  # DEV is enum 0: omitted
    assert body["clusterSpec"] == _expected_spec()
    assert list(body["annotations"]) == ["ray.io/creation-timestamp"]
    assert GO_TIME.match(body["annotations"]["ray.io/creation-timestamp"])
    assert body["createdAt"].endswith("Z")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_readme_cluster_lifecycle(app_client: TestClient, kube: Kube, with_template: str, prefix: str) -> None:
    namespace, base = with_template, f"{prefix}/namespaces/{with_template}/clusters"
    created, obj = created_and_held(app_client, kube, base, cluster_body(namespace))
    _assert_seed_response(created, namespace)
    assert obj["metadata"]["labels"] == {
        **MANAGED, "ray.io/cluster-name": "test-cluster", "ray.io/user": "3cpo",
        "ray.io/version": "2.7.0", "ray.io/environment": "DEV"}
    assert obj["metadata"]["annotations"] == created["annotations"]
    spec = obj["spec"]
    assert spec["rayVersion"] == "2.7.0"
    head = spec["headGroupSpec"]
    assert head["serviceType"] == "NodePort"
    assert head["rayStartParams"] == START_PARAMS
    assert head["template"]["metadata"]["annotations"] == {
        "ray.io/compute-template": "default-template", "ray.io/compute-image": "rayproject/ray:2.7.0"}
    head_container = container(head["template"])
    assert head_container["name"] == "ray-head"
    assert head_container["image"] == "rayproject/ray:2.7.0"
    assert head_container["imagePullPolicy"] == "IfNotPresent"
    assert head_container["resources"] == RESOURCES
    assert [p["name"] for p in head_container["ports"]] == ["redis", "head", "dashboard", "metrics"]
    worker = spec["workerGroupSpecs"][0]
    assert (worker["groupName"], worker["replicas"], worker["minReplicas"], worker["maxReplicas"]) == (
        "small-wg", 1, 1, 1)
    assert container(worker["template"])["name"] == "ray-worker"
    assert container(worker["template"])["resources"] == RESOURCES

    got = wait_for(lambda: ok(app_client.get(f"{base}/test-cluster")),
                   until=lambda c: c.get("clusterState") == "ready" and c.get("events"),
                   timeout=90, what="the operator to make the cluster ready")
    _assert_seed_response(got, namespace)
    assert {"dashboard", "head", "metrics", "redis"} <= set(got["serviceEndpoint"])
    assert all(e["name"] == f"test-cluster-{e['id']}" for e in got["events"])
    assert any(e["reason"].startswith("Created") and e["type"] == "Normal" for e in got["events"])
    assert all(e["firstTimestamp"].endswith("Z") and e["count"] >= 1 for e in got["events"])

    listed = ok(app_client.get(base))
    assert list(listed) == ["clusters"]
    assert [c["name"] for c in listed["clusters"]] == ["test-cluster"]
    assert listed["clusters"][0]["clusterState"] == "ready"
    assert listed["clusters"][0]["events"]
    listed_all = ok(app_client.get(f"{prefix}/clusters"))["clusters"]
    assert [(c["namespace"], c["name"]) for c in listed_all if c["namespace"] == namespace] == [
        (namespace, "test-cluster")]
    assert next(c for c in listed_all if c["namespace"] == namespace)["events"]

    assert ok(app_client.delete(f"{base}/test-cluster")) == {}
    wait_for(lambda: kube.get("rayclusters", namespace, "test-cluster") is None,
             what="the RayCluster to be deleted")
    wait_for(lambda: not kube.core.list_namespaced_pod(
        namespace, label_selector="ray.io/cluster=test-cluster").items,
        timeout=90, what="the cluster's pods to be collected")
    refused(app_client.get(f"{base}/test-cluster"), 404, 5)
    assert ok(app_client.get(base)) == {}


def test_readme_cluster_with_configmap_volumes(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    created = ok(app_client.post(f"/apis/v1alpha2/namespaces/{namespace}/clusters",
                                 json=volumes_cluster_body(namespace)))

    volume = {"name": "code-sample", "mountPath": "/home/ray/samples", "volumeType": 3,
              "source": "ray-job-code-sample", "items": {"sample_code.py": "sample_code.py"}}
    head, worker = created["clusterSpec"]["headGroupSpec"], created["clusterSpec"]["workerGroupSpec"][0]
    assert head["volumes"] == [volume]
    assert worker["volumes"] == [volume]
    assert (worker["replicas"], worker["minReplicas"], worker["maxReplicas"]) == (1, 1, 5)

    spec = present(kube.get("rayclusters", namespace, "job-test"))["spec"]
    for group in (spec["headGroupSpec"], spec["workerGroupSpecs"][0]):
        assert group["template"]["spec"]["volumes"] == [{"name": "code-sample", "configMap": {
            "name": "ray-job-code-sample", "items": [{"key": "sample_code.py", "path": "sample_code.py"}]}}]
        mounts = container(group["template"])["volumeMounts"]
        assert [(m["name"], m["mountPath"]) for m in mounts] == [("code-sample", "/home/ray/samples")]
    assert spec["workerGroupSpecs"][0]["minReplicas"] == 1  # 0 in the request: replaced by replicas


def test_body_without_namespace_takes_the_path_namespace(app_client: TestClient, kube: Kube, with_template: str) -> None:
    body = cluster_body(with_template)
    del body["namespace"]

    assert ok(app_client.post(f"/apis/v1/namespaces/{with_template}/clusters", json=body))["namespace"] \
        == with_template
    assert kube.get("rayclusters", with_template, "test-cluster") is not None


# -- lists -------------------------------------------------------------------------------------

def test_invalid_continue_token_is_400(app_client: TestClient, namespace: str) -> None:
    refused(app_client.get(f"/apis/v1/namespaces/{namespace}/clusters",
                           params={"limit": 1, "continue": "not-a-token"}), 400, 3)
    refused(app_client.get("/apis/v1/clusters", params={"continue": "bm90LWEtdG9rZW4="}), 400, 3)


def test_listing_costs_the_same_calls_for_one_or_five_clusters(
        counted_app: tuple[TestClient, GatewayCalls], namespace: str) -> None:
    client, gateway = counted_app
    base = f"/apis/v1/namespaces/{namespace}/clusters"
    ok(client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))

    def calls(url: str, expected: int) -> dict[str, int]:
        before = gateway.counts.copy()
        assert len(ok(client.get(url))["clusters"]) >= expected
        return gateway.since(before)

    ok(client.post(base, json=cluster_body(namespace, "c0")))
    one = calls(base, 1), calls("/apis/v1/clusters", 1)
    for index in range(1, 5):
        ok(client.post(base, json=cluster_body(namespace, f"c{index}")))
    five = calls(base, 5), calls("/apis/v1/clusters", 5)

    assert one == five
    assert one[0] == {"list_objects": 1, "list_events": 1}


def test_unknown_nested_field_is_dropped_and_named_as_kubernetes_names_it(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    """`fieldValidation=Warn`, the default: the cluster is created without the field, and the
    Warning header has the very form kube-apiserver answers for an unknown field of a RayCluster."""
    body = cluster_body(with_template)
    body["clusterSpec"]["headGroupSpec"]["foo"] = "bar"

    created = app_client.post(f"/apis/v1/namespaces/{with_template}/clusters", json=body)

    assert ok(created)["clusterSpec"] == _expected_spec()
    assert created.headers.get_list("warning") == [r'299 - "unknown field \"clusterSpec.headGroupSpec.foo\""']
    stored = present(kube.get("rayclusters", with_template, "test-cluster"))
    assert "foo" not in stored["spec"]["headGroupSpec"]
    theirs = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "theirs"},
              "spec": {**raycluster_spec(), "headGroupSpec": {**raycluster_spec()["headGroupSpec"], "foo": "bar"}}}
    _, _, headers = kube.custom.create_namespaced_custom_object_with_http_info(
        "ray.io", "v1", with_template, "rayclusters", theirs, dry_run="All", field_validation="Warn")
    assert headers["Warning"] == r'299 - "unknown field \"spec.headGroupSpec.foo\""'


def test_a_field_given_twice_is_named_as_kubernetes_names_it(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    """`fieldValidation=Warn` (also when empty): the last value is kept and the field named, in
    the very header kube-apiserver answers for a repeated field of a RayCluster; `Strict` refuses,
    `Ignore` keeps silent."""
    text = json.dumps(cluster_body(with_template)).replace('"headGroupSpec": {', '"headGroupSpec": {"image": "a", ', 1)
    path = f"/apis/v1/namespaces/{with_template}/clusters"
    headers = {"Content-Type": "application/json"}

    strict = app_client.post(f"{path}?fieldValidation=Strict", content=text, headers=headers)
    assert (strict.status_code, strict.json()["code"]) == (400, 3)
    assert strict.json()["message"] == ("Field 'clusterSpec.headGroupSpec.image' is given more than once: "
                                        "only the last value would be kept.")
    assert kube.get("rayclusters", with_template, "test-cluster") is None
    ignored = app_client.post(f"{path}?fieldValidation=Ignore", content=text, headers=headers)
    assert ok(ignored)["clusterSpec"] == _expected_spec()
    assert ignored.headers.get_list("warning") == []
    ok(app_client.delete(f"{path}/test-cluster"))
    wait_for(lambda: kube.get("rayclusters", with_template, "test-cluster") is None, what="the cluster to go")
    created = app_client.post(f"{path}?fieldValidation=", content=text, headers=headers)
    assert ok(created)["clusterSpec"] == _expected_spec()
    assert created.headers.get_list("warning") == [r'299 - "duplicate field \"clusterSpec.headGroupSpec.image\""']
    theirs = ('{"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "theirs"}, "spec": '
              + json.dumps(raycluster_spec()).replace(
                  '"headGroupSpec": {', '"headGroupSpec": {"enableIngress": false, "enableIngress": true, ', 1) + "}")
    api = kube.custom.api_client  # its connection pool (the test cluster's client certificate): a body as it is
    answer = api.rest_client.pool_manager.request(
        "POST", f"{api.configuration.host}/apis/ray.io/v1/namespaces/{with_template}/rayclusters?dryRun=All",
        body=theirs, headers={"Content-Type": "application/json"})
    assert answer.status == 201, answer.data
    assert answer.headers.getlist("Warning") == [r'299 - "duplicate field \"spec.headGroupSpec.enableIngress\""']


def test_unknown_enum_name_is_400_even_when_unknown_fields_are_ignored(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    """An unknown enum name is a wrong value, not an unknown field (upstream read it as 0, a PVC)."""
    body = cluster_body(with_template)
    body["clusterSpec"]["headGroupSpec"]["volumes"] = [
        {"name": "code", "mountPath": "/code", "volumeType": "CONFIG_MAP", "source": "code"}]

    refusal = app_client.post(f"/apis/v1/namespaces/{with_template}/clusters?fieldValidation=Ignore", json=body)

    assert "'clusterSpec.headGroupSpec.volumes[0].volumeType' has an unknown value \"CONFIG_MAP\"" in refused(
        refusal, 400, 3)
    assert "warning" not in refusal.headers
    assert kube.items("rayclusters", with_template) == []


# -- refusals ----------------------------------------------------------------------------------

def test_configmap_that_is_not_a_template_is_a_missing_template(
        app_client: TestClient, kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_config_map(namespace, client.V1ConfigMap.model_validate(
        {"metadata": {"name": "default-template"}, "data": {"cpu": "2", "memory": "4"}}))

    body = cluster_body(namespace)
    refused(app_client.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body), 400, 3)

    assert kube.items("rayclusters", namespace) == []


def test_object_kubernetes_refuses_is_400_with_its_field_message(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    body = {**cluster_body(with_template), "annotations": {"not a valid key!": "x"}}

    message = refused(app_client.post(f"/apis/v1/namespaces/{with_template}/clusters", json=body), 400, 3)

    assert "metadata.annotations" in message
    assert kube.items("rayclusters", with_template) == []
