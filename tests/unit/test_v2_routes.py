"""app/http/v2.py: which paths the V2 API serves, what it sends for them, and how it refuses the others
(no Kubernetes here)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.errors import InvalidInput, MethodNotAllowed, NotFound
from app.http.v2 import is_v2_path, route, to_send
from app.main import create_app
from app.settings import Settings

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
    ("POST", f"{NS}/raycronjobs", "raycronjobs"),
    ("PUT", f"{NS}/raycronjobs/nightly", "raycronjobs"),
    ("PATCH", f"{NS}/rayclusters/c", ""),  # a patch names no whole group: no step (as upstream)
    ("PUT", f"{NS}/rayclusters/c/status", ""),
    ("PUT", f"{NS}/raycronjobs/nightly/status", ""),
    ("GET", f"{NS}/raycronjobs", ""),
    ("POST", f"{NS}/rayunknowns", ""),  # a kind without known node groups: forwarded as it is
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


@pytest.mark.parametrize(("path", "name", "selector"), [
    ("/apis/events.k8s.io/v1/namespaces/team/events", "v2.events", "regarding.apiVersion=ray.io/v1"),
    ("/api/v1/namespaces/team/events", "v2.core_events", "involvedObject.apiVersion=ray.io/v1"),
])
def test_events_of_one_namespace_are_read_only(path: str, name: str, selector: str) -> None:
    served = route("GET", path)
    assert (served.name, served.namespace, served.selector) == (name, "team", selector)
    for method in ("POST", "PUT", "PATCH", "DELETE", "HEAD"):
        with pytest.raises(MethodNotAllowed) as refused:
            route(method, path)
        assert refused.value.status == 405
        assert "allowed: GET" in refused.value.message


def scope(path: str, query: str, method: str = "GET") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "headers": [(b"authorization", b"Bearer x"), (b"accept", b"*/*")]}


def sent_query(path: str, query: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(to_send(scope(path, query)).target).query, keep_blank_values=True)


@pytest.mark.parametrize(("path", "field"), [
    ("/apis/events.k8s.io/v1/namespaces/team/events", "regarding.apiVersion"),
    ("/api/v1/namespaces/team/events", "involvedObject.apiVersion"),
])
@pytest.mark.parametrize(("query", "expected"), [
    ("", [("fieldSelector", "{ours}")]),
    ("limit=5&fieldSelector=type%3DWarning", [("limit", "5"), ("fieldSelector", "type=Warning,{ours}")]),
    # each of the caller's selectors is kept, and ANDed with ours: none can widen it
    ("fieldSelector={field}%21%3Dray.io%2Fv1&fieldSelector=&fieldSelector={field}%3Dv1",
     [("fieldSelector", "{field}!=ray.io/v1,{field}=v1,{ours}")]),
    ("%66ieldSelector=reason%3DX&labelSelector=a%3Db",  # (an encoded name is the same name, decoded)
     [("labelSelector", "a=b"), ("fieldSelector", "reason=X,{ours}")]),
    ("fieldSelector=reason%3DX%7C%7Creason%3DY", [("fieldSelector", "reason=X||reason=Y,{ours}")]),
])
def test_the_events_routes_always_send_their_selector(path: str, field: str, query: str,
                                                       expected: list[tuple[str, str]]) -> None:
    ours = f"{field}=ray.io/v1"
    sent = sent_query(path, query.format(field=field))
    assert sent == [(key, value.format(field=field, ours=ours)) for key, value in expected]


@pytest.mark.parametrize("path", ["/apis/events.k8s.io/v1/namespaces/team/events", "/api/v1/namespaces/team/events"])
def test_an_events_watch_is_a_bounded_watch_and_keeps_the_selector(path: str) -> None:
    sent = to_send(scope(path, "watch=true&timeoutSeconds=99999"))
    assert sent.watch_seconds == 1800
    assert dict(parse_qsl(urlsplit(sent.target).query))["fieldSelector"].endswith("apiVersion=ray.io/v1")
    assert sent.headers == {"accept": "*/*"}  # never the caller's credentials


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
    # core v1 Events of one namespace only, as a collection only
    "/api/v1/events", "/api/v1/namespaces/team/events/e", "/api/v1/namespaces/team/events/",
    "/api/v1/watch/namespaces/team/events", "/api/v1/watch/events", "/api/v1/namespaces/events",
    "/api/v1/namespaces/team/events/e/status", "/api/v1/namespaces/team/events%2Fe",
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
    "/api/v1/namespaces/team/events/../../other/events",
    "/api/v1/namespaces/team/events/%2E%2E/%2E%2E/%2E%2E/events",
    "/api/v1/namespaces//events",
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


EVENTS_ROUTES = ["/apis/events.k8s.io/v1/namespaces/team/events", "/api/v1/namespaces/team/events"]


@pytest.mark.parametrize("path", EVENTS_ROUTES)
def test_both_events_routes_need_a_caller_and_answer_cors_preflights_alike(tmp_path: Path, path: str) -> None:
    """The edges (app/http/authn.py, app/http/cors.py) take every V2 path alike: in the `kubernetes`
    auth mode a caller without a token is refused as a Kubernetes client expects it (no call made
    to Kubernetes, which is unreachable here), and a page of an allowed origin may ask first."""
    app = create_app(Settings(kubeconfig=str(tmp_path / "none"), auth_mode="kubernetes",
                              cors_origins=("https://ui.example.com",)))
    client = app.test_client()

    refused = client.get(path)
    assert refused.status_code == 401
    assert (refused.json()["kind"], refused.json()["reason"]) == ("Status", "Unauthorized")
    assert refused.headers["WWW-Authenticate"] == "Bearer"

    preflight = client.options(path, headers={"Origin": "https://ui.example.com",
                                              "Access-Control-Request-Method": "GET",
                                              "Access-Control-Request-Headers": "Authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
