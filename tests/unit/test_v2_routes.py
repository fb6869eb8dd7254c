"""app/http/v2.py: which paths the V2 API serves, and how it refuses the others (no Kubernetes here)."""
from __future__ import annotations

import pytest

from app.errors import InvalidInput, MethodNotAllowed, NotFound
from app.http.v2 import is_v2_path, route

NS = "/apis/ray.io/v1/namespaces/team"


@pytest.mark.parametrize(("path", "ours"), [
    ("/apis/ray.io/v1/rayclusters", True), ("/apis/ray.io", True), ("/apis/events.k8s.io/v1/events", True),
    ("/api", True), ("/api/v1/namespaces/x/secrets", True),
    ("/apis/v1/clusters", False), ("/apis/v1alpha2/namespaces/x/jobs", False), ("/apis/apps/v1/deployments", False),
    ("/apis/ray.iox/v1", False), ("/apiv1", False), ("/healthz", False), ("/swagger-ui/", False),
])
def test_the_paths_the_v2_api_answers(path: str, ours: bool) -> None:
    assert is_v2_path(path) is ours


@pytest.mark.parametrize(("method", "path", "plural"), [
    ("POST", f"{NS}/rayclusters", "rayclusters"),
    ("POST", f"{NS}/rayjobs", "rayjobs"),
    ("POST", f"{NS}/rayservices", "rayservices"),
    ("PUT", f"{NS}/rayclusters/c", "rayclusters"),
    ("PUT", f"{NS}/rayservices/s", "rayservices"),
    ("PATCH", f"{NS}/rayclusters/c", ""),  # a patch names no whole group: no step (as upstream)
    ("PUT", f"{NS}/rayclusters/c/status", ""),
    ("POST", f"{NS}/raycronjobs", ""),
    ("GET", f"{NS}/rayclusters", ""),
    ("DELETE", f"{NS}/rayclusters", ""),
    ("GET", "/apis/ray.io/v1/rayclusters", ""),
    ("GET", "/apis/ray.io/v1", ""),
])
def test_ray_io_is_forwarded_with_the_compute_template_step_on_creates_and_updates(
        method: str, path: str, plural: str) -> None:
    served = route(method, path)
    assert (served.name, served.plural, served.namespace) == ("v2.ray", plural, "team" if plural else "")


def test_the_old_watch_path_is_a_watch() -> None:
    assert route("GET", "/apis/ray.io/v1/watch/namespaces/team/rayclusters").watch
    assert not route("GET", f"{NS}/rayclusters").watch


def test_events_of_one_namespace_are_read_only() -> None:
    served = route("GET", "/apis/events.k8s.io/v1/namespaces/team/events")
    assert (served.name, served.namespace) == ("v2.events", "team")
    with pytest.raises(MethodNotAllowed) as refused:
        route("POST", "/apis/events.k8s.io/v1/namespaces/team/events")
    assert refused.value.status == 405
    assert "allowed: GET" in refused.value.message


@pytest.mark.parametrize(("path", "service"), [
    ("/api/v1/namespaces/team/services/c-head-svc/proxy", "c-head-svc"),
    ("/api/v1/namespaces/team/services/c-head-svc:8265/proxy/", "c-head-svc:8265"),
    ("/api/v1/namespaces/team/services/http:c-head-svc:dashboard/proxy/api/jobs/", "http:c-head-svc:dashboard"),
])
def test_a_services_proxy_path_names_its_service(path: str, service: str) -> None:
    served = route("POST", path)
    assert (served.name, served.namespace, served.service) == ("v2.proxy", "team", service)


@pytest.mark.parametrize("path", [
    "/api", "/api/v1", "/api/v1/namespaces/team/secrets", "/api/v1/namespaces/team/services/s",
    "/api/v1/namespaces/team/services/s/status", "/api/v1/namespaces/team/pods/p/proxy",
    "/api/v1/nodes/n/proxy", "/apis/ray.io", "/apis/ray.io/v1alpha1/namespaces/team/rayclusters",
    "/apis/events.k8s.io/v1/events", "/apis/events.k8s.io/v1/namespaces/team/events/e",
    "/apis/events.k8s.io/v1beta1/namespaces/team/events",
])
def test_every_other_path_in_its_space_is_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        route("GET", path)


@pytest.mark.parametrize("path", [
    "/apis/ray.io/v1/namespaces/team/rayclusters/../../../../api/v1/secrets",
    "/apis/ray.io/v1/namespaces/team/rayclusters/%2e%2e/x",
    "/apis/ray.io/v1/namespaces/team/rayclusters/..%2F..%2F..%2F..%2Fapi%2Fv1%2Fsecrets",
    "/apis/ray.io/v1//rayclusters",
    "/apis/ray.io/v1/./rayclusters",
    "/api/v1/namespaces/team/services/s/proxy/../../secrets",
])
def test_a_path_kubernetes_could_read_otherwise_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        route("GET", path)


def test_an_encoded_slash_separates_as_it_does_for_kubernetes() -> None:
    """Kubernetes decodes the path, then splits it: so does the route (the step applies here)."""
    served = route("POST", "/apis/ray.io/v1/namespaces/team%2Frayclusters")
    assert (served.plural, served.namespace) == ("rayclusters", "team")
    proxied = route("GET", "/api/v1/namespaces/team/services/head/proxy/api%2Fjobs%2F")
    assert (proxied.name, proxied.service) == ("v2.proxy", "head")
    with pytest.raises(NotFound):
        route("GET", "/api/v1/namespaces/team%2Fsecrets")


@pytest.mark.parametrize("method", ["OPTIONS", "CONNECT", "TRACE", "PROPFIND"])
def test_only_the_kubernetes_api_methods_are_forwarded(method: str) -> None:
    with pytest.raises(MethodNotAllowed):
        route(method, f"{NS}/rayclusters")
