"""Probes, metrics and the request log against real Kubernetes API servers.

Readiness follows the Kubernetes API: the test's own control plane has its kube-apiserver
stopped and started again on the same port, under one running app, which is never rebuilt.
The session's cluster serves the requests whose counts and log lines are checked.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes import config
from prometheus_client.parser import text_string_to_metric_families

from app.k8s import K8s
from app.main import create_app
from app.settings import Settings
from app.types import Json
from tests.support import logs
from tests.support.api import GatewayCalls, own_app, ready
from tests.support.bodies import template_body
from tests.support.kube import Cluster, unreachable_kubeconfig
from tests.support.metrics import sample
from tests.support.waiting import wait_for


def kubernetes_calls(metrics_text: str, name: str) -> dict[str, float]:
    """`call` label -> value, summed over outcomes, of one Kubernetes metric."""
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for item in family.samples:
            if item.name == name:
                calls[item.labels["call"]] = calls.get(item.labels["call"], 0.0) + item.value
    return calls


# -- readiness follows the Kubernetes API -----------------------------------------------------

def error(response: Any, status: int, code: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    return str(body["message"])


def _synced(client: Any) -> None:
    """The app started as a server starts (its caches), and ready."""
    wait_for(partial(ready, client), timeout=60, what="/readyz to be 200")


def test_readyz_is_503_while_the_kubernetes_api_is_down_and_200_once_it_is_back(plane: Any) -> None:
    with create_app(Settings(), K8s.from_kubeconfig(str(plane.kubeconfig))).test_client() as client:
        _synced(client)
        before = client.get("/metrics").text

        plane.stop_component("kube-apiserver")
        try:
            down = client.get("/readyz")
            healthy_while_down = client.get("/healthz").status_code
            during = client.get("/metrics").text
        finally:
            plane.start_component("kube-apiserver")

        assert error(down, 503, 14) == "Not ready: Kubernetes API server unavailable: cannot connect."
        assert healthy_while_down == 200
        wait_for(partial(ready, client), timeout=60, what="/readyz to be 200 again")
        assert client.get("/healthz").status_code == 200
    ready_503 = {"operation": "/readyz", "method": "GET", "status": "503"}
    assert sample(during, "kuberay_api_requests_total", **ready_503) == \
        sample(before, "kuberay_api_requests_total", **ready_503) + 1
    unreachable = {"call": "check_ready", "outcome": "unreachable"}
    assert sample(during, "kuberay_api_kubernetes_requests_total", **unreachable) == \
        sample(before, "kuberay_api_kubernetes_requests_total", **unreachable) + 1


def test_readyz_names_the_kuberay_crd_that_is_missing(plane: Any) -> None:
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))
    crds = kube.ApiextensionsV1Api(api)
    saved = api.sanitize_for_serialization(crds.read_custom_resource_definition("rayservices.ray.io"))
    with create_app(Settings(), K8s.from_kubeconfig(str(plane.kubeconfig))).test_client() as client:
        _synced(client)
        try:
            crds.delete_custom_resource_definition("rayservices.ray.io")
            missing = wait_for(lambda: (r := client.get("/readyz")).status_code == 503 and r,
                               timeout=60, what="/readyz to notice the deleted CRD")
            assert error(missing, 503, 14) == \
                "Not ready: the KubeRay CRDs are not all installed (ray.io/v1 does not serve rayservices)."
        finally:
            wait_for(lambda: not _exists(crds, "rayservices.ray.io"), timeout=60, what="the CRD to be gone")
            body = {key: saved[key] for key in ("apiVersion", "kind", "spec")}
            crds.create_custom_resource_definition(kube.V1CustomResourceDefinition.model_validate(
                {**body, "metadata": {"name": "rayservices.ray.io"}}))
            wait_for(partial(ready, client), timeout=60, what="/readyz to be 200 again")
            api.close()


def _exists(crds: kube.ApiextensionsV1Api, name: str) -> bool:
    try:
        crds.read_custom_resource_definition(name)
        return True
    except kube.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def test_readyz_is_200_on_the_session_cluster(cluster: Cluster) -> None:
    with own_app(K8s.from_kubeconfig(str(cluster.kubeconfig))) as client:
        _synced(client)  # (test_cache.py: 503 until then)
        response = client.get("/readyz")
    assert (response.status_code, response.content) == (200, b"")


# -- metrics count the requests ----------------------------------------------------------------

def test_metrics_count_the_requests_made_and_the_kubernetes_calls_behind_them(
        cluster: Cluster, namespace: str) -> None:
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache=False) as client:  # (every read one call; test_cache.py counts the cache's)
        before = client.get("/metrics").text
        prefix = f"/apis/v1/namespaces/{namespace}/compute_templates"
        assert client.post(prefix, json=template_body(namespace)).status_code == 200
        assert client.get(f"{prefix}/default-template").status_code == 200
        assert client.get(f"{prefix}/no-such-template").status_code == 404
        assert client.get(prefix).status_code == 200
        after = client.get("/metrics").text

    made = [("create_compute_template", "POST", "200"), ("get_compute_template", "GET", "200"),
            ("get_compute_template", "GET", "404"), ("list_compute_templates", "GET", "200")]
    for operation, method, status in made:
        labels = {"operation": operation, "method": method, "status": status}
        for name in ("kuberay_api_requests_total", "kuberay_api_request_duration_seconds_count"):
            assert sample(after, name, **labels) == sample(before, name, **labels) + 1, (name, labels)
    scrapes = {"operation": "/metrics", "method": "GET", "status": "200"}
    assert sample(after, "kuberay_api_requests_total", **scrapes) == \
        sample(before, "kuberay_api_requests_total", **scrapes) + 1  # the first scrape, not itself

    # The Kubernetes metrics agree with the calls the gateway was asked to make.
    for name in ("kuberay_api_kubernetes_requests_total", "kuberay_api_kubernetes_request_duration_seconds_count"):
        counted, previously = kubernetes_calls(after, name), kubernetes_calls(before, name)
        assert {call: counted[call] - previously.get(call, 0) for call in calls.counts} == dict(calls.counts)
    missing = {"call": "get_configmap", "outcome": "404"}
    assert sample(after, "kuberay_api_kubernetes_requests_total", **missing) >= \
        sample(before, "kuberay_api_kubernetes_requests_total", **missing) + 1


# -- one JSON line per request and per error, with the request id -------------------------------

@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged, as the server writes it with KUBERAY_API_LOG_FORMAT=json, at INFO."""
    with logs.json_log(logging.INFO) as stream:
        yield stream


def _lines(stream: io.StringIO, request_id: str) -> list[Json]:
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]  # every line is JSON
    return [line for line in lines if line.get("request_id") == request_id]


def test_a_request_logs_one_json_line_with_its_fields_and_id(
        cluster: Cluster, namespace: str, json_log: io.StringIO) -> None:
    with own_app(K8s.from_kubeconfig(str(cluster.kubeconfig))) as client:
        response = client.get(f"/apis/v1alpha2/namespaces/{namespace}/compute_templates",
                              headers={"X-Request-ID": "it-ok-1"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "it-ok-1"
    [line] = _lines(json_log, "it-ok-1")
    assert line["logger"] == "app.access"
    assert line["level"] == "INFO"
    assert {key: line[key] for key in ("method", "path", "operation", "status")} == {
        "method": "GET", "path": "/apis/v1alpha2/namespaces/{namespace}/compute_templates",
        "operation": "list_compute_templates", "status": 200}
    assert line["duration_ms"] > 0


def test_a_failed_request_logs_its_errors_under_the_same_request_id(
        cluster: Cluster, tmp_path: Path, json_log: io.StringIO) -> None:
    # (no caches: their calls, failing too, would open the circuit before the request's own call)
    with own_app(K8s.from_kubeconfig(str(unreachable_kubeconfig(cluster, tmp_path))), cache=False) as client:
        response = client.get("/apis/v1/namespaces/ns/compute_templates/t")

    request_id = response.headers["X-Request-ID"]
    assert response.status_code == 503
    lines = _lines(json_log, request_id)
    access = [line for line in lines if line["logger"] == "app.access"]
    assert len(access) == 1
    assert access[0]["status"] == 503
    assert any(line["logger"] == "app.http.problems" and line["level"] == "ERROR" for line in lines)
    assert any(line["logger"] == "app.k8s" and line["level"] == "WARNING" for line in lines)  # in the handler's thread
