"""An API server that cannot be reached gives 503 (code 14) at once, never a hang or a 500."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.k8s import K8s
from app.types import Json
from tests.support.api import own_app, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, unreachable_kubeconfig


@pytest.fixture
def dead_client(cluster: Cluster, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a kubeconfig whose server is a closed loopback port."""
    with own_app(K8s.from_kubeconfig(str(unreachable_kubeconfig(cluster, tmp_path)))) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/apis/v1/namespaces/ns/clusters/c", None),
    ("GET", "/apis/v1/namespaces/ns/clusters", None),
    ("GET", "/apis/v1/clusters", None),
    ("DELETE", "/apis/v1/namespaces/ns/clusters/c", None),
    ("POST", "/apis/v1/namespaces/ns/clusters", cluster_body("ns")),
    ("POST", "/apis/v1/namespaces/ns/compute_templates", template_body("ns")),
    ("GET", "/apis/v1/namespaces/ns/compute_templates", None),
    ("GET", "/apis/v1/jobs", None),
    ("GET", "/apis/v1/services", None),
    ("GET", "/apis/v1alpha2/namespaces/ns/services/s", None),
])
def test_unreachable_api_server_is_503(dead_client: TestClient, method: str, path: str, body: Json | None) -> None:
    started = time.monotonic()

    response = dead_client.request(method, path, json=body)

    assert "unavailable" in refused(response, 503, 14).lower()
    assert time.monotonic() - started < 5
