"""Worker counts a cluster may not have are refused before anything is written, for clusters and
for the clusters of jobs and services; and one request cannot ask for more workers than the
server allows (`KUBERAY_API_MAX_WORKERS_PER_CLUSTER`)."""
from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from app.k8s import K8s
from app.types import Json
from tests.support.api import ok, own_app, refused
from tests.support.bodies import cluster_body, job_body, service_body
from tests.support.kube import PLURALS, Cluster, Kube, finalized_rayservice, present

BODIES: dict[str, Callable[[str], Json]] = {"clusters": cluster_body, "jobs": job_body, "services": service_body}


def with_worker(body: Json, **counts: int) -> Json:
    """`body` with its first worker group's counts replaced."""
    body = copy.deepcopy(body)
    body["clusterSpec"]["workerGroupSpec"][0].update(counts)
    return body


@pytest.mark.parametrize("resource", list(BODIES))
@pytest.mark.parametrize(("counts", "fragment"), [
    ({"replicas": -3}, "'clusterSpec.workerGroupSpec[0].replicas' must be at least 0, not -3"),  # the spec's rule
    ({"replicas": 10, "minReplicas": 1, "maxReplicas": 5}, "is 10, more than maxReplicas 5"),
    ({"replicas": 1, "minReplicas": 3, "maxReplicas": 5}, "is 1, less than minReplicas 3"),
    ({"replicas": 1_000_000_000, "minReplicas": 1, "maxReplicas": 2_000_000_000}, "limit of 1000 per cluster"),
], ids=["negative", "above max", "below min", "a billion"])
def test_refused_before_anything_is_written(app_client: TestClient, kube: Kube, with_template: str, resource: str,
                                            counts: dict[str, int], fragment: str) -> None:
    body = with_worker(BODIES[resource](with_template), **counts)

    message = refused(app_client.post(f"/apis/v1/namespaces/{with_template}/{resource}", json=body), 400, 3)

    assert fragment in message
    assert kube.items(PLURALS[resource], with_template) == []


def test_a_service_update_is_checked_and_leaves_the_service_as_it_was(
        app_client: TestClient, kube: Kube, with_template: str) -> None:
    base = f"/apis/v1/namespaces/{with_template}/services"
    body = service_body(with_template)
    ok(app_client.post(base, json=body))
    before = finalized_rayservice(kube, with_template, body["name"])

    message = refused(app_client.put(f"{base}/{body['name']}",
                                     json=with_worker(body, replicas=10, minReplicas=1, maxReplicas=5)), 400, 3)

    assert "is 10, more than maxReplicas 5" in message  # the server's rule: no schema can state it
    # The operator writes the status meanwhile (a new resourceVersion); what a PUT writes is unchanged.
    after = present(kube.get("rayservices", with_template, body["name"]))
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_the_ceiling_is_the_servers_setting(cluster: Cluster, kube: Kube, with_template: str) -> None:
    """A server set to 6 workers refuses 7 and creates 6; one set to 0 has no ceiling."""
    base = f"/apis/v1/namespaces/{with_template}/clusters"
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    with own_app(k8s, max_workers_per_cluster=6) as client:
        message = refused(client.post(base, json=with_worker(cluster_body(with_template), maxReplicas=7)), 400, 3)
        assert "allow 7 workers" in message
        assert "limit of 6" in message
        assert "KUBERAY_API_MAX_WORKERS_PER_CLUSTER" in message
        ok(client.post(base, json=with_worker(cluster_body(with_template, "six"), maxReplicas=6)))
    with own_app(k8s, max_workers_per_cluster=0) as client:
        ok(client.post(base, json=with_worker(cluster_body(with_template, "many"), maxReplicas=5000)))

    assert sorted(item["metadata"]["name"] for item in kube.items("rayclusters", with_template)) == ["many", "six"]
