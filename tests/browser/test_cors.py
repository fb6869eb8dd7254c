"""CORS in a real browser: a page of another origin calls both APIs with `fetch`.

Our server runs as production runs it (gunicorn, tests/support/served.py) against the test
control plane, with KUBERAY_API_CORS_ALLOW_ORIGIN set to the origin of one small page server on
loopback. Two page servers (stdlib, in threads, stopped at the end) serve the same page from two
origins, the allowed one and another. The page's script writes a compute template and reads it
back (V1), creates a RayCluster naming it and lists the RayClusters (V2), and writes each answer,
or the error `fetch` raised, into the page, which the test reads:
* from the allowed origin every call is answered, preflighted ones too (a JSON body, a token);
* from the other origin the browser refuses every answer (`TypeError: Failed to fetch`), says
  why in its console (CORS), and the preflighted writes are never sent.
Writes a page of another origin makes without a preflight are refused by the server itself. The
probes and /metrics stay without CORS headers; a preflight may ask for `Authorization`.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from app.types import Json
from tests.browser.conftest import evidence
from tests.support.kube import Cluster, Kube
from tests.support.metrics import sample
from tests.support.served import Server, gunicorn

WAIT = 60.0  # seconds for the page's calls; they normally take well under one
FAILED_FETCH = "TypeError: Failed to fetch"  # Chromium's words when CORS withholds an answer
TEMPLATE = {"cpu": 2, "memory": 4}
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))

# The page's calls, in order; each answer is noted as {status, value} (a field or two of the JSON)
# or {error}, and all of them are written into #answers as JSON once the last has ended.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>KubeRay page</title></head>
<body><pre id="answers"></pre>
<script>
const query = new URLSearchParams(location.search);
const [api, ns, template, cluster] = ["api", "ns", "template", "cluster"].map(key => query.get(key));
const answers = {};

async function call(step, method, path, body, headers, pick) {
  const init = {method, headers: {...headers}};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  try {
    const response = await fetch(api + path, init);
    answers[step] = {status: response.status, value: pick(await response.json())};
  } catch (error) {
    answers[step] = {error: String(error)};
  }
}

// A "simple" write: sent without a preflight, its answer opaque to the page.
async function simple(step, path, body, type) {
  const init = {method: "POST", mode: "no-cors", body: type ? JSON.stringify(body) : new Blob([JSON.stringify(body)])};
  if (type) init.headers = {"Content-Type": type};
  try {
    answers[step] = {type: (await fetch(api + path, init)).type};
  } catch (error) {
    answers[step] = {error: String(error)};
  }
}

(async () => {
  const templates = `/apis/v1/namespaces/${ns}/compute_templates`;
  const rayclusters = `/apis/ray.io/v1/namespaces/${ns}/rayclusters`;
  if (query.get("simple")) {
    await simple("v1 text/plain", templates, {name: template, namespace: ns, cpu: 2, memory: 4}, "text/plain");
    await simple("v1 untyped", templates, {name: template, namespace: ns, cpu: 2, memory: 4}, null);
    await simple("v2 untyped", rayclusters, {apiVersion: "ray.io/v1", kind: "RayCluster", metadata: {name: cluster},
      spec: {headGroupSpec: {rayStartParams: {}, template: {spec: {containers: [{name: "ray-head", image: "r"}]}}}}},
      null);
    const out = document.getElementById("answers");
    out.textContent = JSON.stringify(answers);
    out.dataset.done = "yes";
    return;
  }
  await call("v1 create", "POST", templates, {name: template, namespace: ns, cpu: 2, memory: 4}, {},
             body => body.name);
  await call("v1 read with a token", "GET", `${templates}/${template}`, undefined,
             {"Authorization": "Bearer page-token"}, body => body.name);
  await call("v2 create", "POST", rayclusters, {
      apiVersion: "ray.io/v1", kind: "RayCluster", metadata: {name: cluster},
      spec: {rayVersion: "2.7.0", headGroupSpec: {computeTemplate: template, rayStartParams: {},
             template: {spec: {containers: [{name: "ray-head", image: "rayproject/ray:2.7.0"}]}}}}}, {},
    body => {
      const pod = body.spec.headGroupSpec.template;
      return [body.metadata.name, pod.metadata.annotations["ray.io/compute-template"],
              pod.spec.containers[0].resources.limits];
    });
  await call("v2 list", "GET", rayclusters, undefined, {},
             body => [body.kind, body.items.map(item => item.metadata.name)]);
  const out = document.getElementById("answers");
  out.textContent = JSON.stringify(answers);
  out.dataset.done = "yes";
})();
</script></body></html>
"""


@dataclass
class PageServer:
    """The page, served on a loopback port of its own: its origin is `origin`."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path == "/" or self.path.startswith("/?")
        body = PAGE.encode() if found else b"not found"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextmanager
def page_server() -> Iterator[PageServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield PageServer(httpd, thread)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[PageServer, PageServer]]:
    """The allowed origin's page server, and another origin's."""
    with page_server() as allowed, page_server() as other:
        yield allowed, other


@pytest.fixture(scope="module")
def server(cluster: Cluster, pages: tuple[PageServer, PageServer],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Our server, allowing the first page server's origin only; one worker is enough here."""
    with gunicorn(cluster, tmp_path_factory.mktemp("cors"), KUBERAY_API_WORKERS="1",
                  KUBERAY_API_CORS_ALLOW_ORIGIN=pages[0].origin) as served:
        yield served


def api_url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"


def page_answers(browser: Chrome, page: PageServer, server: Server, namespace: str,
                 template: str, cluster: str, simple: bool = False) -> Json:
    """Opens the page and waits for the answers it writes (`simple`: its writes without preflight)."""
    query = urlencode({"api": api_url(server), "ns": namespace, "template": template, "cluster": cluster,
                       **({"simple": "yes"} if simple else {})})
    browser.get(f"{page.origin}/?{query}")
    out = WebDriverWait(browser, WAIT).until(
        lambda b: next(iter(e for e in b.find_elements(By.ID, "answers") if e.get_attribute("data-done")), None),
        "the page wrote no answers")
    assert out is not None
    answers: Json = json.loads(out.text)
    return answers


def cors_headers(response: urllib3.BaseHTTPResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower().startswith("access-control-")}


def preflight(server: Server, path: str, origin: str, method: str, headers: str) -> urllib3.BaseHTTPResponse:
    return http.request("OPTIONS", api_url(server) + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def test_a_page_of_the_allowed_origin_reads_both_apis(browser: Chrome, server: Server,
                                                      pages: tuple[PageServer, PageServer], namespace: str,
                                                      kube: Kube, tmp_path: Path) -> None:
    with evidence(browser, tmp_path, "cors-allowed"):
        answers = page_answers(browser, pages[0], server, namespace, "page-template", "page-cluster")

    assert answers == {
        "v1 create": {"status": 200, "value": "page-template"},
        "v1 read with a token": {"status": 200, "value": "page-template"},
        "v2 create": {"status": 201, "value": ["page-cluster", "page-template", {"cpu": "2", "memory": "4Gi"}]},
        "v2 list": {"status": 200, "value": ["RayClusterList", ["page-cluster"]]},
    }, answers
    assert kube.configmap(namespace, "page-template") is not None
    assert kube.get("rayclusters", namespace, "page-cluster") is not None


def test_a_page_of_another_origin_gets_no_answer(browser: Chrome, server: Server,
                                                 pages: tuple[PageServer, PageServer], namespace: str,
                                                 kube: Kube, tmp_path: Path) -> None:
    """The browser withholds every answer; the writes, preflighted, are never sent."""
    with evidence(browser, tmp_path, "cors-refused"):
        answers = page_answers(browser, pages[1], server, namespace, "page-template", "page-cluster")
    console = [entry["message"] for entry in browser.get_log("browser")]
    # A simple request is still sent and answered: only its answer is kept from the page.
    listed = http.request("GET", f"{api_url(server)}/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                          headers={"Origin": pages[1].origin})

    assert answers == {step: {"error": FAILED_FETCH}
                       for step in ("v1 create", "v1 read with a token", "v2 create", "v2 list")}, answers
    blocked = [found.group(1) for message in console
               if (found := re.search(f"Access to fetch at '([^']*)' from origin '{re.escape(pages[1].origin)}' "
                                      "has been blocked by CORS policy", message))]
    base = f"{api_url(server)}/apis"
    assert blocked == [f"{base}/v1/namespaces/{namespace}/compute_templates",
                       f"{base}/v1/namespaces/{namespace}/compute_templates/page-template",
                       f"{base}/ray.io/v1/namespaces/{namespace}/rayclusters",
                       f"{base}/ray.io/v1/namespaces/{namespace}/rayclusters"], console
    assert kube.configmap(namespace, "page-template") is None
    assert kube.get("rayclusters", namespace, "page-cluster") is None
    assert listed.status == 200, (listed.status, listed.headers)
    assert cors_headers(listed) == {}, (listed.status, listed.headers)


def test_a_page_of_another_origin_cannot_write_without_asking(browser: Chrome, server: Server,
                                                              pages: tuple[PageServer, PageServer], namespace: str,
                                                              kube: Kube, tmp_path: Path) -> None:
    """Writes a browser sends without a preflight (text/plain or untyped bodies): CORS alone would
    only hide their answers; the server refuses them (403) before either API sees them."""
    def refused_posts() -> list[float]:
        metrics = http.request("GET", f"{api_url(server)}/metrics").data.decode()
        return [sample(metrics, "kuberay_api_requests_total", operation=operation, method="POST", status="403")
                for operation in ("create_compute_template", "unmatched")]

    before = refused_posts()
    with evidence(browser, tmp_path, "cors-simple-writes"):
        answers = page_answers(browser, pages[1], server, namespace, "sneaky-template", "sneaky-cluster", simple=True)

    assert answers == {step: {"type": "opaque"} for step in ("v1 text/plain", "v1 untyped", "v2 untyped")}, answers
    assert [after - earlier for after, earlier in zip(refused_posts(), before, strict=True)] == [2, 1]  # sent, refused
    assert kube.configmap(namespace, "sneaky-template") is None
    assert kube.get("rayclusters", namespace, "sneaky-cluster") is None


@pytest.mark.parametrize(("origin", "status"), [
    ("{own}", 200),  # the server's own pages (the Swagger UI)
    ("{allowed}", 200),
    ("{other}", 403),
    ("null", 403),  # a sandboxed page or a file
    (None, 200),  # not a browser
])
def test_writes_are_refused_from_origins_not_allowed(server: Server, pages: tuple[PageServer, PageServer],
                                                     namespace: str, origin: str | None, status: int) -> None:
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin.format(own=api_url(server), allowed=pages[0].origin, other=pages[1].origin)
    body = json.dumps({"name": "t", "namespace": namespace, "cpu": 1, "memory": 1})
    answer = http.request("POST", f"{api_url(server)}/apis/v1/namespaces/{namespace}/compute_templates",
                          body=body, headers=headers)
    assert answer.status == status, answer.data
    if status == 403:
        assert json.loads(answer.data) == {"code": 7, "message": (
            f"Forbidden: a write from a page of {headers['Origin']}, an origin this server does not allow "
            "(KUBERAY_API_CORS_ALLOW_ORIGIN).")}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_and_metrics_carry_no_cors_headers(server: Server, pages: tuple[PageServer, PageServer],
                                                      namespace: str, path: str) -> None:
    origin = pages[0].origin
    api_path = f"/apis/v1/namespaces/{namespace}/compute_templates"

    read = http.request("GET", api_url(server) + path, headers={"Origin": origin})
    asked = preflight(server, path, origin, "GET", "content-type")
    api = http.request("GET", api_url(server) + api_path, headers={"Origin": origin})

    assert read.status == 200, read.data
    assert cors_headers(read) == {}
    assert cors_headers(asked) == {}
    assert api.status == 200
    assert cors_headers(api)["access-control-allow-origin"] == origin  # the same Origin, on the API


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_preflight_may_ask_for_authorization(server: Server, pages: tuple[PageServer, PageServer],
                                               namespace: str, api: str) -> None:
    path = {"v1": f"/apis/v1/namespaces/{namespace}/compute_templates",
            "v2": f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"}[api]
    allowed, other = pages[0].origin, pages[1].origin

    answer = preflight(server, path, allowed, "POST", "authorization, content-type")
    refused = preflight(server, path, other, "POST", "authorization, content-type")

    assert answer.status == 200, answer.data
    headers = cors_headers(answer)
    assert headers["access-control-allow-origin"] == allowed
    assert {"authorization", "content-type"} <= {name.strip().lower()
                                                 for name in headers["access-control-allow-headers"].split(",")}
    assert "POST" in {name.strip() for name in headers["access-control-allow-methods"].split(",")}
    assert refused.status == 400, refused.headers
    assert "access-control-allow-origin" not in cors_headers(refused), refused.headers
