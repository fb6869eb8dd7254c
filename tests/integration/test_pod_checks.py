"""What Kubernetes would refuse is refused at the API: the pods of a compute template, a cluster,
a RayJob or a RayService are checked by the API server itself (a dry run) before anything is
written, and its refusal names the request's field."""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from app.constants import COMPUTE_TEMPLATE_LABEL, CONFIG_TYPE_COMPUTE_TEMPLATE, CONFIG_TYPE_LABEL
from app.types import Json
from tests.support.api import ok, refused
from tests.support.bodies import cluster_body, job_body, service_body, template_body
from tests.support.kube import Cluster, Kube, finalized_rayservice, present
from tests.support.waiting import wait_for

V1 = "/apis/v1/namespaces"
NOT_AN_OPERATOR = 'tolerations[0].operator: Unsupported value: "NotAnOperator": supported values: "Equal", "Exists"'
# Stored past our server (kubectl): a toleration without a key must have the operator Exists.
HAND_MADE = "hand-made"
KEYLESS_EQUAL = "tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty"
KINDS: list[tuple[str, str, Callable[[str], Json]]] = [
    ("clusters", "rayclusters", cluster_body), ("jobs", "rayjobs", job_body), ("services", "rayservices", service_body)]


def plant_template(app_client: TestClient, cluster: Cluster, namespace: str, tolerations: list[Json]) -> None:
    """A compute template written as kubectl would write it, past the API's checks, once the
    server sees it (its cache follows other clients' writes by its watch)."""
    client.CoreV1Api(cluster.api).create_namespaced_config_map(namespace, client.V1ConfigMap.model_validate({
        "metadata": {"name": HAND_MADE, "labels": {CONFIG_TYPE_LABEL: CONFIG_TYPE_COMPUTE_TEMPLATE,
                                                   COMPUTE_TEMPLATE_LABEL: HAND_MADE}},
        "data": {"name": HAND_MADE, "namespace": namespace, "cpu": "1", "memory": "1", "memory_unit": "Gi",
                 "tolerations": json.dumps(tolerations)},
    }))
    wait_for(lambda: app_client.get(f"{V1}/{namespace}/compute_templates/{HAND_MADE}").status_code == 200,
             timeout=30, what="the planted template to be served")


def with_worker_template(body: Json, name: str) -> Json:
    body["clusterSpec"]["workerGroupSpec"][0]["computeTemplate"] = name
    return body


@pytest.mark.parametrize(("change", "expected"), [
    ({"tolerations": [{"key": "k", "operator": "NotAnOperator", "value": "v", "effect": "NoSchedule"}]},
     NOT_AN_OPERATOR),
    ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v", "effect": "NoSchedule"}]},
     "tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"),
    ({"tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "Sometimes"}]},
     'tolerations[0].effect: Unsupported value: "Sometimes"'),
    ({"gpu": 1, "gpuAccelerator": "gpu"}, 'gpuAccelerator (gpu): Invalid value: "gpu"'),
    ({"extendedResources": {"not a name": 1}}, 'extendedResources[not a name]: Invalid value: "not a name"'),
])
def test_a_compute_template_kubernetes_would_refuse_is_not_stored(
        app_client: TestClient, kube: Kube, namespace: str, change: Json, expected: str) -> None:
    body = {**template_body(namespace, "refused"), **change}
    message = refused(app_client.post(f"{V1}/{namespace}/compute_templates", json=body), 400, 3)
    assert message.startswith(f"Kubernetes would refuse the pods of compute template refused: {expected}"), message
    assert kube.configmap(namespace, "refused") is None


def test_a_compute_template_kubernetes_accepts_is_stored(app_client: TestClient, kube: Kube, namespace: str) -> None:
    body = {**template_body(namespace, "tolerant"), "gpu": 1, "gpuAccelerator": "nvidia.com/gpu",
            "extendedResources": {"vpc.amazonaws.com/efa": 1},
            "tolerations": [{"key": "ray.io/node-type", "operator": "Exists", "effect": "NoSchedule"},
                            {"operator": "Exists"}]}
    ok(app_client.post(f"{V1}/{namespace}/compute_templates", json=body))
    assert kube.configmap(namespace, "tolerant") is not None


@pytest.mark.parametrize(("path", "plural", "body"), KINDS, ids=[kind[0] for kind in KINDS])
def test_a_write_whose_worker_pods_kubernetes_would_refuse_writes_nothing(
        app_client: TestClient, kube: Kube, cluster: Cluster, with_template: str,
        path: str, plural: str, body: Callable[[str], Json]) -> None:
    namespace = with_template
    plant_template(app_client, cluster, namespace, [{"operator": "Equal", "effect": "NoSchedule"}])

    answer = app_client.post(f"{V1}/{namespace}/{path}", json=with_worker_template(body(namespace), HAND_MADE))

    message = refused(answer, 400, 3)
    assert message.startswith("Kubernetes would refuse the pods of clusterSpec.workerGroupSpec[0]: "
                              f"computeTemplate '{HAND_MADE}': {KEYLESS_EQUAL}"), message
    assert kube.items(plural, namespace) == []
    # the same request with a template Kubernetes accepts is written
    created = ok(app_client.post(f"{V1}/{namespace}/{path}", json=body(namespace)))
    assert present(kube.get(plural, namespace, created["name"]))


def test_a_rayservice_update_kubernetes_would_refuse_changes_nothing(
        app_client: TestClient, kube: Kube, cluster: Cluster, with_template: str) -> None:
    namespace = with_template
    plant_template(app_client, cluster, namespace, [{"operator": "Equal"}])
    ok(app_client.post(f"{V1}/{namespace}/services", json=service_body(namespace)))
    before = finalized_rayservice(kube, namespace, "test-v2")

    answer = app_client.put(f"{V1}/{namespace}/services/test-v2",
                            json=with_worker_template(service_body(namespace), HAND_MADE))

    assert refused(answer, 400, 3).startswith("Kubernetes would refuse the pods of clusterSpec.workerGroupSpec[0]: ")
    after = present(kube.get("rayservices", namespace, "test-v2"))
    assert after["spec"] == before["spec"]


def test_a_job_submitter_kubernetes_would_refuse_writes_nothing(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    """Without an image the submitter's pod is invalid (upstream writes it all the same)."""
    namespace = with_template
    body = {**job_body(namespace), "jobSubmitter": {"cpu": "500m"}}
    message = refused(app_client.post(f"{V1}/{namespace}/jobs", json=body), 400, 3)
    assert message.startswith("Kubernetes would refuse the pods of jobSubmitter: image (spec.containers[0].image): "
                              "Required value"), message
    assert kube.items("rayjobs", namespace) == []
