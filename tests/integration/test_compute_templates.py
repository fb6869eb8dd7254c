"""Compute templates through the full app against a real API server: responses and ConfigMaps."""
from __future__ import annotations

import json

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from app.k8s import K8s
from app.types import Json
from tests.support.api import PREFIXES, GatewayCalls, ok, own_app, refused
from tests.support.bodies import template_body
from tests.support.fixture_pairs import folder, load
from tests.support.kube import Cluster, Kube, present

PYTHON_CLIENT_TEMPLATE = folder("compute_templates") / "python-client-gpu.request.json"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_readme_template_lifecycle(app_client: TestClient, kube: Kube, namespace: str, prefix: str) -> None:
    base = f"{prefix}/namespaces/{namespace}/compute_templates"
    expected = {**template_body(namespace), "memoryUnit": "Gi"}

    assert ok(app_client.post(base, json=template_body(namespace))) == expected

    configmap = present(kube.configmap(namespace, "default-template"))
    assert configmap["metadata"]["labels"] == {
        "ray.io/config-type": "compute-template",
        "ray.io/compute-template": "default-template",
    }
    assert configmap["data"] == {
        "name": "default-template", "namespace": namespace, "cpu": "2", "memory": "4",
        "memory_unit": "Gi", "gpu": "0", "gpu_accelerator": "", "extended_resources": "null",
    }
    assert not configmap["metadata"].get("annotations")

    read = app_client.get(f"{base}/default-template")
    assert ok(read) == expected
    assert read.text.rstrip("\n") == json.dumps(read.json(), separators=(",", ":"))  # compact, as upstream
    assert ok(app_client.get(base)) == {"computeTemplates": [expected]}
    assert expected in ok(app_client.get(f"{prefix}/compute_templates"))["computeTemplates"]

    assert ok(app_client.delete(f"{base}/default-template")) == {}
    assert kube.configmap(namespace, "default-template") is None
    assert ok(app_client.get(base)) == {}


def test_full_template_is_stored_and_read_back(app_client: TestClient, kube: Kube, namespace: str) -> None:
    body = {
        **template_body(namespace, "gpu"), "memory": 512, "memoryUnit": "Mi", "gpu": 1,
        "gpuAccelerator": "amd.com/gpu", "extendedResources": {"vpc.amazonaws.com/efa": 32},
        "tolerations": [{"key": "ray.io/node-type", "operator": "Equal", "value": "worker",
                         "effect": "NoSchedule"}],
    }
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"

    assert ok(app_client.post(base, json=body)) == body

    data = present(kube.configmap(namespace, "gpu"))["data"]
    assert data["memory"] == "512"
    assert data["memory_unit"] == "Mi"
    assert data["gpu"] == "1"
    assert data["gpu_accelerator"] == "amd.com/gpu"
    assert data["extended_resources"] == '{"vpc.amazonaws.com/efa":32}'
    assert data["tolerations"] == (
        '[{"key":"ray.io/node-type","operator":"Equal","value":"worker","effect":"NoSchedule"}]')
    assert ok(app_client.get(f"{base}/gpu")) == body


def test_body_without_namespace_takes_the_path_namespace(app_client: TestClient, kube: Kube, namespace: str) -> None:
    body = template_body(namespace)
    del body["namespace"]

    created = ok(app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body))

    assert created["namespace"] == namespace
    assert kube.configmap(namespace, "default-template") is not None


def test_list_all_spans_namespaces(app_client: TestClient, kube: Kube, namespace: str) -> None:
    other = f"{namespace}-b"
    kube.core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": other}}))
    try:
        for ns in (namespace, other):
            ok(app_client.post(f"/apis/v1/namespaces/{ns}/compute_templates", json=template_body(ns)))
        listed = ok(app_client.get("/apis/v1/compute_templates"))["computeTemplates"]
        assert {(t["namespace"], t["name"]) for t in listed} >= {
            (namespace, "default-template"), (other, "default-template")}
    finally:
        kube.core.delete_namespace(other)


def test_list_all_is_one_cluster_wide_read(cluster: Cluster, namespace: str) -> None:
    """Upstream lists every namespace, then each one's ConfigMaps; one labelled list does it (with
    the caches off, as before they are synced: with them, none; tests/integration/test_cache.py)."""
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache=False) as client:
        ok(client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
        before = calls.counts.copy()
        assert ok(client.get("/apis/v1/compute_templates"))["computeTemplates"]
        assert calls.since(before) == {"list_configmaps": 1}


def test_upstream_python_clients_template_is_created_and_its_unknown_fields_named(
        app_client: TestClient, kube: Kube, namespace: str) -> None:
    """The body upstream's Python client sends for a template with a GPU accelerator and extended
    resources: ray-project/kuberay clients/python-apiserver-client/src/python_apiserver_client/
    params/templates.py at 22d546a8, `Template(name="gpu-template", namespace=..., cpu=2, memory=8,
    gpu=1, gpu_accelerator="amd.com/gpu", extended_resources={"vpc.amazonaws.com/efa": 32})
    .to_dict()`, which `create_compute_template` posts as JSON. It spells two keys with a space, so
    upstream drops them and creates a template without them; so do we, naming them (Warn)."""
    body = {**load(PYTHON_CLIENT_TEMPLATE), "namespace": namespace}
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"
    warnings = [r'299 - "unknown field \"extended resources\""', r'299 - "unknown field \"gpu accelerator\""']

    strict = app_client.post(f"{base}?fieldValidation=Strict", json=body)
    assert refused(strict, 400, 3) == "Unknown fields 'extended resources', 'gpu accelerator': the API has no such field."
    assert kube.configmap(namespace, "gpu-template") is None

    created = app_client.post(base, json=body)
    expected = {"name": "gpu-template", "namespace": namespace, "cpu": 2, "memory": 8, "memoryUnit": "Gi", "gpu": 1}
    assert ok(created) == expected
    assert created.headers.get_list("warning") == warnings
    data = present(kube.configmap(namespace, "gpu-template"))["data"]
    assert (data["gpu"], data["gpu_accelerator"], data["extended_resources"]) == ("1", "", "null")

    again = app_client.post(base, json=body)  # the name is taken now: the error answer names them too
    refused(again, 409, 6)
    assert again.headers.get_list("warning") == warnings

    ok(app_client.delete(f"{base}/gpu-template"))
    ignored = app_client.post(f"{base}?fieldValidation=Ignore", json=body)
    assert ok(ignored) == expected
    assert "warning" not in ignored.headers


# -- refusals ----------------------------------------------------------------------------------

def test_duplicate_name_is_409(app_client: TestClient, namespace: str) -> None:
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"
    ok(app_client.post(base, json=template_body(namespace)))

    message = refused(app_client.post(base, json=template_body(namespace)), 409, 6)

    assert "default-template" in message
    assert namespace in message


def test_name_of_a_plain_configmap_is_taken_but_the_configmap_is_not_a_template(
        app_client: TestClient, kube: Kube, namespace: str) -> None:
    kube.core.create_namespaced_config_map(
        namespace, client.V1ConfigMap.model_validate({"metadata": {"name": "settings"}, "data": {"cpu": "8"}}))
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"

    refused(app_client.post(base, json=template_body(namespace, "settings")), 409, 6)
    refused(app_client.get(f"{base}/settings"), 404, 5)
    refused(app_client.delete(f"{base}/settings"), 404, 5)

    assert present(kube.configmap(namespace, "settings"))["data"] == {"cpu": "8"}
    assert ok(app_client.get(base)) == {}


def test_unknown_template_is_404(app_client: TestClient, namespace: str) -> None:
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"
    assert "nope" in refused(app_client.get(f"{base}/nope"), 404, 5)
    refused(app_client.delete(f"{base}/nope"), 404, 5)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"namespace": "elsewhere"}, "namespace"),
    ({"cpu": 0}, "'cpu'"),
    ({"memory": 0}, "'memory'"),
    ({"memoryUnit": "GB"}, "'memoryUnit'"),
])
def test_invalid_template_is_400_and_writes_nothing(
        app_client: TestClient, kube: Kube, namespace: str, change: Json, fragment: str) -> None:
    body = {**template_body(namespace), **change}

    message = refused(
        app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body), 400, 3)

    assert fragment in message
    assert kube.configmap(namespace, "default-template") is None


def test_namespace_that_does_not_exist_is_404(app_client: TestClient) -> None:
    """Kubernetes' own answer passes through: the spec cannot know which namespaces exist."""
    body = template_body("no-such-namespace")

    message = refused(
        app_client.post("/apis/v1/namespaces/no-such-namespace/compute_templates", json=body), 404, 5)

    assert "no-such-namespace" in message
