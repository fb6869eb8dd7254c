"""Shared fixtures: one real control plane per test session, a fresh namespace per test.

Integration tests never fake Kubernetes: the session starts etcd, kube-apiserver,
controller-manager, scheduler, kwok nodes, the KubeRay operator and, where the machine allows,
the real node (see devcluster/). Set TEST_KUBECONFIG to run against an instance that is already
up (`make cluster`).

The tests' namespaces send their pods to the kwok nodes (devcluster.kwok_namespace), so that the
thousands they create never reach the real node; a test that needs real pods asks for a
namespace with `real=True`, through the `real_node` fixture.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from devcluster.node import RealNode
from tests.support.kube import Cluster, Kube, api_client, fresh_namespaces
from tests.support.ray_head import RAY_HEAD_RESOURCES, RAY_JOB_START_TIMEOUT, RayHead


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reuse = os.environ.get("TEST_KUBECONFIG")
    plane, before = None, None
    if reuse:
        kubeconfig = Path(reuse)
    else:
        from devcluster import ControlPlane, footprint

        state = Path(tempfile.mkdtemp(prefix="kuberay-api-test-"))
        plane = ControlPlane(state, owner_pid=os.getpid())
        if plane.real_node is not False:
            before = footprint.listing()
        plane.start()
        kubeconfig = plane.kubeconfig
    api = api_client(kubeconfig)
    ca = Path(api.configuration.ssl_ca_cert)
    try:
        yield Cluster(kubeconfig, api.configuration.host, ca, api, plane, before)
    finally:
        api.close()
        if plane is not None:
            plane.stop()


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> RealNode:
    """The session's real node (devcluster.node.RealNode); the test is skipped, saying why, where
    the machine cannot run one."""
    if cluster.plane is None:
        pytest.skip("no real node: TEST_KUBECONFIG names a control plane these tests did not start")
    if cluster.plane.node is None:
        pytest.skip(f"no real node: {cluster.plane.node_unavailable}")
    node: RealNode = cluster.plane.node
    return node


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    with fresh_namespaces(cluster) as [name]:
        yield name


@pytest.fixture(scope="session")
def app(cluster: Cluster) -> Iterator[Any]:
    """The real app against the session's cluster, validating its own responses. Its lifespan runs
    for the session: its watch caches and its gRPC front (on a free loopback port) start now and
    stop at the end."""
    from app.k8s import K8s
    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(validate_responses=True, grpc_bind="127.0.0.1:0"),
                     K8s.from_kubeconfig(str(cluster.kubeconfig)))
    with app.test_client():
        yield app


@pytest.fixture(scope="session")
def rpc_channel(app: Any) -> Iterator[Any]:
    """A channel to the session app's gRPC front (its lifespan started it on a free port)."""
    import grpc

    from app.main import RPC_EXTENSION

    with grpc.insecure_channel(f"127.0.0.1:{app.app.extensions[RPC_EXTENSION].port}") as channel:
        yield channel


@pytest.fixture
def app_client(app: Any) -> TestClient:
    client: TestClient = app.test_client()
    return client


@pytest.fixture
def kube(cluster: Cluster) -> Kube:
    """What the API server holds, read and written as its administrator, past our server."""
    return Kube(cluster.api)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    """One real Ray head on loopback for the whole session, started on first use (about 3 s, plus
    about 25 s to install Ray into its cached venv the first time on a machine)."""
    head = RayHead(tmp_path_factory.mktemp("ray-head"), resources=RAY_HEAD_RESOURCES,
                   env={"RAY_JOB_START_TIMEOUT_SECONDS": str(RAY_JOB_START_TIMEOUT)})
    try:
        head.start()
        yield head
    finally:
        head.close()
