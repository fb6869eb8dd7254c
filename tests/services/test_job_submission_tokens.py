"""Job submissions to clusters with Ray token authentication (`clusterSpec.authOptions`), over the
in-memory Kubernetes: the token read from the cluster's Secret and sent on every dashboard call, in
the header each route lets through, and each way it can fail named, with the token in no answer
and no log line.

The dashboard here is a small HTTP server on loopback that checks the token as Ray 2.60's
middleware does (`Authorization`, else `X-Ray-Authorization`; none 401, a wrong one 403); the
integration tests (tests/integration/test_ray_token_auth.py) run the same calls against a real Ray
head started with token authentication.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from app.dashboard import Dashboard
from app.errors import ApiError, InvalidInput, Unavailable
from app.services import Services
from app.translate.job_submissions import DashboardRoute
from app.types import Json
from app.validation import Limits
from tests.services.bodies import NS, cluster, template
from tests.support.fake_gateway import FakeGateway

TOKEN = "s3cr3t-Token+/="
WRONG = "not-the-token"
SUBMIT = {"entrypoint": "python -c 'print(42)'"}


class RayDashboard:
    """Ray's Jobs API, reduced to a submit and a list, behind Ray's token check; it notes the
    headers of every request it was sent."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seen: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _checked(self) -> bool:
                owner.seen.append({key.lower(): value for key, value in self.headers.items()})
                given = self.headers.get("Authorization") or self.headers.get("X-Ray-Authorization") or ""
                if not given:
                    self._answer(401, b"Unauthorized: Missing authentication token", "text/plain")
                    return False
                if given != f"Bearer {owner.token}":
                    self._answer(403, b"Forbidden: Invalid authentication token", "text/plain")
                    return False
                return True

            def do_GET(self) -> None:
                if self._checked():
                    self._answer(200, b"[]")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self._checked():
                    self._answer(200, json.dumps({"submission_id": "raysubmit_1", "job_id": "1"}).encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RayDashboard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ProxyingGateway(FakeGateway):
    """The in-memory Kubernetes with a service proxy that hands each request to `dashboard`, as the
    API server does: its own `Authorization` taken (the server's credentials), the rest passed on."""

    def __init__(self, dashboard: RayDashboard, *namespaces: str) -> None:
        super().__init__(*namespaces)
        self.dashboard = dashboard
        self.sent: list[dict[str, str]] = []

    def send(self, name: str, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float) -> urllib3.BaseHTTPResponse:
        self.sent.append(dict(headers))
        passed = {key: value for key, value in headers.items() if key.lower() != "authorization"}
        path = target.partition("/proxy")[2]
        answer = urllib3.request(method, self.dashboard.url + path, headers=passed, body=body, retries=False)
        return urllib3.HTTPResponse(body=io.BytesIO(answer.data), status=answer.status, preload_content=False)


@pytest.fixture
def dashboard() -> Iterator[RayDashboard]:
    with RayDashboard(TOKEN) as running:
        yield running


def build(fake: FakeGateway, route: DashboardRoute) -> Services:
    services = Services.build(fake, Limits(max_workers_per_cluster=10), Dashboard(timeout=5, api_server=fake), route)
    services.compute_templates.create(NS, template())
    return services


def ready_cluster(services: Services, fake: FakeGateway, name: str, auth: Json | None) -> None:
    body = cluster(name)
    body["version"] = "2.60.0"  # token authentication needs Ray 2.52.0 or later
    if auth is not None:
        body["clusterSpec"]["authOptions"] = auth  # type: ignore[typeddict-item]
    services.clusters.create(NS, body)
    fake.change("rayclusters", NS, name, lambda obj: obj.update(status={"state": "ready"}))


def add_secret(fake: FakeGateway, name: str, data: dict[str, str]) -> None:
    fake.add("secrets", NS, {"metadata": {"name": name},
                             "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}})


def refusal(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


# -- the token reaches the dashboard -----------------------------------------------------------------------

def test_every_call_to_a_token_cluster_carries_the_operators_secret_as_a_bearer_token(dashboard: RayDashboard) -> None:
    fake = FakeGateway(NS)
    services = build(fake, DashboardRoute(dashboard.url))
    ready_cluster(services, fake, "tok", {"mode": "token"})
    add_secret(fake, "tok", {"auth_token": TOKEN})  # the operator's: named after the cluster

    assert services.job_submissions.submit(NS, "tok", dict(SUBMIT)) == {"submissionId": "raysubmit_1"}
    assert services.job_submissions.list(NS, "tok") == {}
    assert [seen.get("authorization") for seen in dashboard.seen] == [f"Bearer {TOKEN}"] * 2
    assert all("x-ray-authorization" not in seen for seen in dashboard.seen)


def test_a_cluster_naming_its_secret_is_sent_that_secrets_token(dashboard: RayDashboard) -> None:
    fake = FakeGateway(NS)
    services = build(fake, DashboardRoute(dashboard.url))
    ready_cluster(services, fake, "named", {"mode": "token", "secretName": "team-token"})
    add_secret(fake, "named", {"auth_token": WRONG})  # what the operator would make: not used
    add_secret(fake, "team-token", {"auth_token": TOKEN})
    assert services.job_submissions.submit(NS, "named", dict(SUBMIT)) == {"submissionId": "raysubmit_1"}


def test_through_the_service_proxy_the_token_goes_in_x_ray_authorization(dashboard: RayDashboard) -> None:
    fake = ProxyingGateway(dashboard, NS)
    services = build(fake, DashboardRoute())
    ready_cluster(services, fake, "tok", {"mode": "token"})
    add_secret(fake, "tok", {"auth_token": TOKEN})

    assert services.job_submissions.submit(NS, "tok", dict(SUBMIT)) == {"submissionId": "raysubmit_1"}
    assert fake.sent[0]["X-Ray-Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in fake.sent[0]  # the API server's own header: the gateway's credentials go there
    assert dashboard.seen[0]["x-ray-authorization"] == f"Bearer {TOKEN}"


def test_a_cluster_without_token_mode_sends_no_token_and_reads_no_secret(dashboard: RayDashboard) -> None:
    fake = FakeGateway(NS)
    fake.may_read_secrets = False
    services = build(fake, DashboardRoute(dashboard.url))
    ready_cluster(services, fake, "open", {"mode": "disabled"})
    message = refusal(lambda: services.job_submissions.submit(NS, "open", dict(SUBMIT)))
    assert isinstance(message, Unavailable)
    assert str(message) == (
        f"The Ray dashboard requires a token: the Ray dashboard at {dashboard.url} answered 401 (Unauthorized: "
        "Missing authentication token), and cluster open does not run with Ray token authentication as far as its "
        "RayCluster says (spec.authOptions.mode is not token), so this server sends none.")
    assert all("authorization" not in seen for seen in dashboard.seen)


# -- what fails, and how it is named -------------------------------------------------------------------------

def test_a_refused_token_is_503_naming_the_secret_and_never_shows_the_token(
        dashboard: RayDashboard, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeGateway(NS)
    services = build(fake, DashboardRoute(dashboard.url))
    ready_cluster(services, fake, "tok", {"mode": "token"})
    add_secret(fake, "tok", {"auth_token": TOKEN})
    dashboard.token = "another"  # Ray's head started with another token
    with caplog.at_level(logging.DEBUG):
        refused = [refusal(lambda: services.job_submissions.submit(NS, "tok", dict(SUBMIT))),
                   refusal(lambda: services.job_submissions.list(NS, "tok")),
                   refusal(lambda: services.job_submissions.get(NS, "tok", "raysubmit_1"))]
    for error in refused:
        assert isinstance(error, Unavailable)
        assert not isinstance(error, InvalidInput)
        assert str(error).startswith("The Ray dashboard refused the cluster's token: ")
        assert f"answered 403 (Forbidden: Invalid authentication token) to the token in key auth_token of Secret tok " \
               f"in namespace {NS}" in str(error)
        assert TOKEN not in str(error)
    assert caplog.records, "the calls were logged"
    assert all(TOKEN not in record.getMessage() and TOKEN not in str(record.args) for record in caplog.records)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(("secret", "readable", "said"), [
    (None, True, f"Secret tok in namespace {NS} does not exist (the KubeRay operator makes it"),
    ({"other": TOKEN}, True, f"Secret tok in namespace {NS} has no key auth_token holding a token."),
    ({"auth_token": ""}, True, f"Secret tok in namespace {NS} has no key auth_token holding a token."),
    ({"auth_token": TOKEN + "\n"}, True, "holds characters an HTTP header cannot carry"),
    ({"auth_token": TOKEN}, False, f"this server may not read Secret tok: it needs `get` on `secrets` in namespace {NS} "
                                   "(the chart's value rayTokenAuth grants it)."),
])
def test_a_secret_the_server_cannot_use_is_503_naming_it_and_nothing_reaches_the_dashboard(
        dashboard: RayDashboard, secret: dict[str, str] | None, readable: bool, said: str) -> None:
    fake = FakeGateway(NS)
    services = build(fake, DashboardRoute(dashboard.url))
    ready_cluster(services, fake, "tok", {})  # authOptions without a mode: token
    if secret is not None:
        add_secret(fake, "tok", secret)
    fake.may_read_secrets = readable
    error = refusal(lambda: services.job_submissions.submit(NS, "tok", dict(SUBMIT)))
    assert isinstance(error, Unavailable)
    assert str(error).startswith("Cannot read the Ray token of cluster tok (it runs with Ray token authentication): ")
    assert said in str(error)
    assert TOKEN not in str(error)
    assert dashboard.seen == []
