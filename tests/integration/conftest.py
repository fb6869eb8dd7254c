"""Fixtures of the integration tests beyond the shared ones in tests/conftest.py."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from devcluster import ControlPlane
from devcluster.node import RealNode
from tests.support.api import ok
from tests.support.bodies import template_body
from tests.support.chart import Helm
from tests.support.kube import Cluster, fresh_namespaces
from tests.support.real_ray import RayOnNode, guide_cluster_running


@pytest.fixture
def with_template(app_client: TestClient, namespace: str) -> str:
    """The test's namespace, holding the user guide's `default-template`."""
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
    return namespace


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    """The guide's second namespace (`default`); the `namespace` fixture plays `ray-system`."""
    with fresh_namespaces(cluster, 1) as [name]:
        yield name


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The chart tool, built on first use."""
    return Helm.built(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def ray_on_node(cluster: Cluster, real_node: RealNode, app: Any) -> Iterator[RayOnNode]:
    """The user guide's cluster on the real node, running Ray (made once for the session)."""
    with guide_cluster_running(cluster, real_node, app) as ray:
        yield ray


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of the test module's own, whose components its tests may stop, start and
    freeze without disturbing the session's (about 20 s to start)."""
    own = ControlPlane(tmp_path_factory.mktemp("plane") / "state", owner_pid=os.getpid(), real_node=False).start()
    try:
        yield own
    finally:
        own.stop()
