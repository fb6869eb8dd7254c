"""The V2 API's services proxy, end to end: our server (gunicorn) forwards
`/api/v1/namespaces/{ns}/services/{service}/proxy/...` to the real kube-apiserver, whose service
proxy reaches a real Ray dashboard, for KubeRay's Services only.

The kube-apiserver proxies to a Service's EndpointSlices (labelled `kubernetes.io/service-name`;
an Endpoints object counts only once controller-manager has mirrored it into one), and only to an
endpoint that names, as its `targetRef`, a Pod of the namespace whose `status.podIPs` holds its
address, never a loopback one. So each test plants, as the cluster's administrator, a Pod that is
never scheduled (a scheduling gate) with this host's own address as its IP, a selector-less
Service with a port named `dashboard`, and an EndpointSlice pointing at a relay on this host's
address, which accepts only connections from that address (the kube-apiserver's) and forwards them
to the session's Ray head on loopback.

Requests go through the official Kubernetes Python client, pointed at our server. Its proxy calls
encode the slashes of the proxied path (`proxy/api%2Fversion`), which the kube-apiserver reads as
slashes; the KubeRay dashboard sends them as slashes, and so does the client here
(`safe_chars_for_path_param`), but for the one test of the encoded form.
"""
from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from kubernetes import client

from devcluster.procs import free_port
from tests.support.api import status_of
from tests.support.kube import Cluster, raw
from tests.support.ray_head import RayHead
from tests.support.relay import Relay, host_address
from tests.support.served import Server, gunicorn, kubernetes_client
from tests.support.waiting import wait_for

KUBERAY = {"app.kubernetes.io/name": "kuberay"}
PORT_NAME = "dashboard"
PROBE_PORT = "probe"
NEVER_SCHEDULED = "kuberay-api.test/never-scheduled"
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Our server as production runs it; one worker is enough here."""
    with gunicorn(cluster, tmp_path_factory.mktemp("v2-proxy"), KUBERAY_API_WORKERS="1") as served:
        yield served


@pytest.fixture
def core(server: Server) -> Iterator[client.CoreV1Api]:
    with kubernetes_client(server, safe_chars_for_path_param="/") as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def relay(ray_head: RayHead) -> Iterator[Relay]:
    """This host's address to the Ray head's dashboard, for the kube-apiserver only."""
    address = host_address()
    dashboard = urlsplit(ray_head.url)
    with Relay((str(dashboard.hostname), int(dashboard.port or 80)), host=address, peers={address}) as link:
        yield link


def plant_service(cluster: Cluster, namespace: str, name: str, relay: Relay, labels: dict[str, str]) -> None:
    """A selector-less Service whose one endpoint is the relay (see the module's docstring), once the
    kube-apiserver has it."""
    core = client.CoreV1Api(cluster.api)
    pod = f"{name}-pod"
    unused = free_port()  # nothing listens there: the probe port, which never reaches the relay
    core.create_namespaced_pod(namespace, client.V1Pod.model_validate({
        "metadata": {"name": pod},
        "spec": {"schedulingGates": [{"name": NEVER_SCHEDULED}],
                 "containers": [{"name": "ray-head", "image": "rayproject/ray:2.7.0"}]}}))
    core.patch_namespaced_pod_status(pod, namespace, {"status": {"podIP": relay.host, "podIPs": [{"ip": relay.host}]}})
    core.create_namespaced_service(namespace, client.V1Service.model_validate({
        "metadata": {"name": name, "labels": labels},
        "spec": {"ports": [{"name": PORT_NAME, "port": 8265, "targetPort": relay.port},
                           {"name": PROBE_PORT, "port": 8266, "targetPort": unused}]}}))
    client.DiscoveryV1Api(cluster.api).create_namespaced_endpoint_slice(namespace, client.V1EndpointSlice.model_validate({
        "metadata": {"name": f"{name}-relay", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [relay.host], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod}}],
        "ports": [{"name": PORT_NAME, "port": relay.port, "protocol": "TCP"},
                  {"name": PROBE_PORT, "port": unused, "protocol": "TCP"}]}))
    # The kube-apiserver proxies to the endpoints its informer holds, a moment after they are
    # written: once the probe port is no longer "no endpoints", the slice (both ports) is known.
    wait_for(lambda: _known_to_the_apiserver(cluster, namespace, name), what="the kube-apiserver to see the endpoint")


def _known_to_the_apiserver(cluster: Cluster, namespace: str, name: str) -> bool:
    try:
        client.CoreV1Api(cluster.api).connect_get_namespaced_service_proxy_with_path(
            f"{name}:{PROBE_PORT}", namespace, "", _preload_content=False)
    except client.ApiException as exc:
        return not (exc.status == 503 and "no endpoints available" in (exc.body or ""))
    return True


def installed_ray_version(head: RayHead) -> str:
    """The version of the ray package in the head's venv, as pip installed it."""
    sites = [str(path) for path in Path(head.venv).glob("lib/python*/site-packages")]
    return next(iter(importlib.metadata.distributions(name="ray", path=sites))).version


def refusal(call: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as caught:
        call()
    return caught.value


def test_the_proxy_reaches_the_ray_dashboard_of_a_kuberay_service(
        core: client.CoreV1Api, cluster: Cluster, namespace: str, relay: Relay, ray_head: RayHead) -> None:
    plant_service(cluster, namespace, "raycluster-head-svc", relay, KUBERAY)

    answer = raw(core.connect_get_namespaced_service_proxy_with_path(
        f"raycluster-head-svc:{PORT_NAME}", namespace, "api/version", _preload_content=False))
    version = json.loads(answer.data)
    direct = json.loads(http.request("GET", f"{ray_head.url}/api/version").data)

    assert answer.status == 200, answer.data
    assert version == direct  # Ray's own answer, whole
    assert version["ray_version"] == installed_ray_version(ray_head)
    assert relay.accepted, relay.accepted
    assert set(relay.accepted) == {relay.host}, relay.accepted  # through the relay
    assert relay.refused == []


def test_the_proxy_takes_the_service_as_scheme_name_port(
        core: client.CoreV1Api, cluster: Cluster, namespace: str, relay: Relay, ray_head: RayHead) -> None:
    plant_service(cluster, namespace, "raycluster-head-svc", relay, KUBERAY)

    answer = raw(core.connect_get_namespaced_service_proxy_with_path(
        f"http:raycluster-head-svc:{PORT_NAME}", namespace, "api/version", _preload_content=False))

    assert answer.status == 200, answer.data
    assert json.loads(answer.data)["ray_version"] == installed_ray_version(ray_head)


def test_a_service_without_the_kuberay_label_is_not_found(
        core: client.CoreV1Api, cluster: Cluster, namespace: str, relay: Relay, ray_head: RayHead) -> None:
    """The same Service, without the label: our server answers as if it did not exist and nothing
    reaches the dashboard, though the kube-apiserver itself would have proxied it."""
    plant_service(cluster, namespace, "plain-svc", relay, {"app.kubernetes.io/name": "something-else"})
    segment = f"plain-svc:{PORT_NAME}"

    exc = refusal(lambda: core.connect_get_namespaced_service_proxy_with_path(segment, namespace, "api/version"))
    relayed_for_us = list(relay.accepted)
    direct = raw(client.CoreV1Api(cluster.api).connect_get_namespaced_service_proxy_with_path(
        segment, namespace, "api/version", _preload_content=False))

    assert exc.status == 404
    status = status_of(exc)
    assert status["reason"] == "NotFound"
    assert status["message"] == (f"No KubeRay service plain-svc in namespace {namespace}: the proxy reaches only "
                                 "Services labelled app.kubernetes.io/name=kuberay.")
    assert relayed_for_us == []
    assert direct.status == 200  # the Service was reachable: only the label stood in the way
    assert json.loads(direct.data)["ray_version"] == installed_ray_version(ray_head)
    assert relay.accepted == [relay.host]


def test_a_missing_service_is_not_found(core: client.CoreV1Api, namespace: str) -> None:
    exc = refusal(lambda: core.connect_get_namespaced_service_proxy_with_path(
        f"no-such-svc:{PORT_NAME}", namespace, "api/version"))

    assert exc.status == 404
    status = status_of(exc)
    assert status["reason"] == "NotFound"
    assert status["message"].startswith(f"No KubeRay service no-such-svc in namespace {namespace}"), status


def test_a_malformed_service_segment_is_refused(core: client.CoreV1Api, namespace: str) -> None:
    exc = refusal(lambda: core.connect_get_namespaced_service_proxy_with_path("a:b:c:d", namespace, "api/version"))

    assert exc.status == 400
    status = status_of(exc)
    assert status["reason"] == "BadRequest"
    assert status["message"] == "Invalid service 'a:b:c:d': expected name, name:port or scheme:name:port.", status


def test_the_proxied_path_may_encode_its_slashes(
        server: Server, cluster: Cluster, namespace: str, relay: Relay, ray_head: RayHead) -> None:
    """The client's own encoding (`proxy/api%2Fversion`) reaches the same page as with slashes, as
    it does through the kube-apiserver itself."""
    plant_service(cluster, namespace, "raycluster-head-svc", relay, KUBERAY)
    direct = raw(client.CoreV1Api(cluster.api).connect_get_namespaced_service_proxy_with_path(
        f"raycluster-head-svc:{PORT_NAME}", namespace, "api/version", _preload_content=False))
    assert direct.status == 200, direct.data
    with kubernetes_client(server) as api:
        answer = raw(client.CoreV1Api(api).connect_get_namespaced_service_proxy_with_path(
            f"raycluster-head-svc:{PORT_NAME}", namespace, "api/version", _preload_content=False))

    assert answer.status == 200, answer.data
    assert json.loads(answer.data)["ray_version"] == installed_ray_version(ray_head)
