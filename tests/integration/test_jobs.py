"""Ray jobs through the full app against a real API server with the KubeRay operator."""
from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.types import Json
from tests.support.api import PREFIXES, created_and_held, ok, refused
from tests.support.bodies import container, job_body, selector_job_body, volumes_cluster_body
from tests.support.kube import MANAGED, Kube, present
from tests.support.waiting import wait_for

RESOURCES = {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}


def _expected_cluster_spec() -> Json:
    return {
        "headGroupSpec": {
            "computeTemplate": "default-template", "image": "rayproject/ray:2.7.0",
            "serviceType": "NodePort", "rayStartParams": {"dashboard-host": "0.0.0.0"},
            "environment": {},
        },
        "workerGroupSpec": [{
            "groupName": "small-wg", "computeTemplate": "default-template",
            "image": "rayproject/ray:2.7.0", "replicas": 1, "minReplicas": 1, "maxReplicas": 1,
            "rayStartParams": {"metrics-export-port": "8080"}, "environment": {},
        }],
    }


@pytest.mark.parametrize("prefix", PREFIXES)
def test_readme_job_lifecycle(app_client: TestClient, kube: Kube, with_template: str, prefix: str) -> None:
    namespace, base = with_template, f"{prefix}/namespaces/{with_template}/jobs"
    created, obj = created_and_held(app_client, kube, base, job_body(namespace))

    assert {k: created[k] for k in ("name", "namespace", "user", "entrypoint")} == {
        "name": "rayjob-test", "namespace": namespace, "user": "3cp0", "entrypoint": "python -V"}
    assert created["clusterSpec"] == _expected_cluster_spec()
    assert created["createdAt"].endswith("Z")

    assert obj["metadata"]["labels"] == {
        **MANAGED, "ray.io/cluster-name": "rayjob-test", "ray.io/user": "3cp0"}
    assert not obj["metadata"].get("annotations")  # no metadata, and no timestamp for jobs
    assert obj["spec"]["entrypoint"] == "python -V"
    ray_cluster_spec = obj["spec"]["rayClusterSpec"]
    assert container(ray_cluster_spec["headGroupSpec"]["template"])["resources"] == RESOURCES
    assert ray_cluster_spec["workerGroupSpecs"][0]["minReplicas"] == 1

    # The operator makes the job's cluster; it inherits our labels, so the cluster API sees it.
    clusters = wait_for(lambda: [c for c in ok(app_client.get(
        f"{prefix}/namespaces/{namespace}/clusters")).get("clusters", [])
        if c["name"].startswith("rayjob-test-")], timeout=90, what="the job's RayCluster")
    assert clusters[0]["user"] == "3cp0"
    got = wait_for(lambda: ok(app_client.get(f"{base}/rayjob-test")),
                   until=lambda j: j.get("jobDeploymentStatus") and j.get("rayClusterName"),
                   timeout=90, what="the operator to run the job")
    assert got["rayClusterName"] == clusters[0]["name"]

    assert [j["name"] for j in ok(app_client.get(base))["jobs"]] == ["rayjob-test"]
    assert (namespace, "rayjob-test") in {
        (j["namespace"], j["name"]) for j in ok(app_client.get(f"{prefix}/jobs"))["jobs"]}

    assert ok(app_client.delete(f"{base}/rayjob-test")) == {}
    wait_for(lambda: kube.get("rayjobs", namespace, "rayjob-test") is None, timeout=90,
             what="the RayJob to be deleted")
    wait_for(lambda: not kube.items("rayclusters", namespace), timeout=90,
             what="the job's RayCluster to be collected")
    refused(app_client.get(f"{base}/rayjob-test"), 404, 5)
    assert ok(app_client.get(base)) == {}


def test_readme_job_on_an_existing_cluster(app_client: TestClient, kube: Kube, with_template: str) -> None:
    namespace = with_template
    cluster = volumes_cluster_body(namespace)
    ok(app_client.post(f"/apis/v1alpha2/namespaces/{namespace}/clusters", json=cluster))
    body = selector_job_body(namespace)

    created = ok(app_client.post(f"/apis/v1alpha2/namespaces/{namespace}/jobs", json=body))

    assert {k: created.get(k) for k in body} == body
    assert "clusterSpec" not in created
    spec = present(kube.get("rayjobs", namespace, "job-test"))["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "job-test"}
    assert spec["runtimeEnvYAML"] == body["runtimeEnv"]
    assert "rayClusterSpec" not in spec
    submitter = spec["submitterPodTemplate"]
    assert submitter["spec"]["restartPolicy"] == "Never"
    submitter_container = container(submitter)
    assert submitter_container["name"] == "ray-job-submitter"
    assert submitter_container["image"] == "rayproject/ray:2.7.0-py310"
    assert submitter_container["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}


def test_job_with_selector_reads_no_template(app_client: TestClient, kube: Kube, namespace: str) -> None:
    """No compute template exists here: a selector job must not need one."""
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/jobs", json=selector_job_body(namespace)))

    assert kube.get("rayjobs", namespace, "job-test") is not None
