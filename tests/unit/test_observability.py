"""app/http/access.py, app/logs.py and app/health.py up to Kubernetes: metrics, access log, request ids, probes.

The real app with no cluster (its kubeconfig does not exist): every request here is answered
without Kubernetes, so the names, counts and log lines are those of the middleware alone.
"""
from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import connexion
import pytest
from prometheus_client import REGISTRY

from app.logs import JsonFormatter, configure_logging
from app.main import create_app
from app.settings import Settings
from tests.support.logs import json_log
from tests.support.metrics import sample

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> connexion.FlaskApp:
    missing = tmp_path_factory.mktemp("kube") / "no-such-kubeconfig"
    return create_app(Settings(kubeconfig=str(missing)))


@pytest.fixture(scope="module")
def client(app: connexion.FlaskApp) -> Any:
    return app.test_client(follow_redirects=False)


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access log as the server writes it in JSON, at DEBUG so that probes show too."""
    with json_log(logging.DEBUG, "app.access") as stream:
        yield stream


def value(name: str, **labels: str) -> float:
    """One sample of this process's registry, read without a request (0 if absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- naming: operation label and path template --------------------------------------------

NAMED = [
    # method, path, operation label, path template in the log, status
    ("GET", "/healthz", "/healthz", "/healthz", 200),
    ("POST", "/healthz", "/healthz", "/healthz", 200),  # any method, as upstream
    ("GET", "/metrics", "/metrics", "/metrics", 200),
    ("GET", "/apis/v1/namespaces/ns/clusters/Bad_Name", "get_cluster",
     "/apis/v1/namespaces/{namespace}/clusters/{name}", 400),
    ("POST", "/apis/v1alpha2/namespaces/ns/compute_templates",
     "create_compute_template",
     "/apis/v1alpha2/namespaces/{namespace}/compute_templates", 400),
    ("GET", "/apis/v1/openapi.json", "/apis/v1/openapi.json", "/apis/v1/openapi.json", 200),
    ("GET", "/apis/v1/swagger-ui/", "/apis/v1/swagger-ui/{file}", "/apis/v1/swagger-ui/{file}", 200),
    ("GET", "/swagger-ui/", "/swagger-ui/", "/swagger-ui/", 302),
    ("GET", "/apis/v1/namespaces/ns/clusters/", "get_cluster", "/apis/v1/namespaces/{namespace}/clusters/{name}", 400),
    ("GET", "/no/such/path", "unmatched", "/no/such/path", 404),
    ("GET", "/apis/v1/clusters/", "unmatched", "/apis/v1/clusters/", 404),
    ("DELETE", "/apis/v1/compute_templates", "unmatched", "/apis/v1/compute_templates", 405),
]


@pytest.mark.parametrize(("method", "path", "operation", "template", "status"), NAMED,
                         ids=[f"{m} {p}" for m, p, *_ in NAMED])
def test_a_request_is_counted_and_logged_under_its_route(
        client: Any, access_lines: io.StringIO, method: str, path: str, operation: str,
        template: str, status: int) -> None:
    labels = {"operation": operation, "method": method, "status": str(status)}
    counted = value("kuberay_api_requests_total", **labels)
    timed = value("kuberay_api_request_duration_seconds_count", **labels)

    response = client.request(method, path)

    assert response.status_code == status
    assert value("kuberay_api_requests_total", **labels) == counted + 1
    assert value("kuberay_api_request_duration_seconds_count", **labels) == timed + 1
    [line] = [json.loads(text) for text in access_lines.getvalue().splitlines()]
    assert line["method"] == method
    assert line["path"] == template
    assert line["status"] == status
    assert line["operation"] == operation
    assert line["logger"] == "app.access"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0


REFUSED_BEFORE_ROUTING = [
    # settings, method, path, status, the operation it was meant for
    ({"auth_mode": "token", "auth_token": "s3cret"}, "DELETE", "/apis/v1alpha2/namespaces/ns/jobs/j", 401,
     "delete_job"),
    ({"auth_mode": "token", "auth_token": "s3cret"}, "POST", "/apis/v1/namespaces/ns/jobsubmissions/c/s", 401,
     "stop_ray_job"),
    ({}, "GET", "/apis/v1/namespaces/ns/clusters/a%0Ab", 400, "get_cluster"),  # the line-feed guard
    ({}, "PUT", "/apis/v1/namespaces//services/s", 400, "update_service"),  # an empty name
]


@pytest.mark.parametrize(("settings", "method", "path", "status", "operation"), REFUSED_BEFORE_ROUTING,
                         ids=[f"{status} {method} {path}" for _, method, path, status, _ in REFUSED_BEFORE_ROUTING])
def test_a_request_refused_before_routing_counts_under_the_operation_it_was_meant_for(
        tmp_path: Any, settings: dict[str, Any], method: str, path: str, status: int, operation: str) -> None:
    client = create_app(Settings(kubeconfig=str(tmp_path / "none"), **settings)).test_client()
    labels = {"operation": operation, "method": method, "status": str(status)}
    before = sample(client.get("/metrics").text, "kuberay_api_requests_total", **labels)

    assert client.request(method, path).status_code == status

    assert sample(client.get("/metrics").text, "kuberay_api_requests_total", **labels) == before + 1


def test_a_method_outside_http_is_counted_as_other(client: Any) -> None:
    labels = {"operation": "unmatched", "method": "other", "status": "405"}
    before = value("kuberay_api_requests_total", **labels)
    assert client.request("BREW", "/healthz").status_code == 405
    assert value("kuberay_api_requests_total", **labels) == before + 1


def test_metrics_shows_the_counts(client: Any) -> None:
    client.get("/no/such/path")
    labels = {"operation": "unmatched", "method": "GET", "status": "404"}
    shown = sample(client.get("/metrics").text, "kuberay_api_requests_total", **labels)
    assert shown == value("kuberay_api_requests_total", **labels) >= 1


def test_probes_and_scrapes_log_at_debug_and_api_calls_at_info(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="app.access"):
        client.get("/healthz")
        client.get("/no/such/path")
    assert [(r.levelno, r.getMessage().split(" ")[1]) for r in caplog.records if r.name == "app.access"] \
        == [(logging.DEBUG, "/healthz"), (logging.INFO, "/no/such/path")]


# -- request ids ---------------------------------------------------------------------------

@pytest.mark.parametrize(("sent", "kept"), [
    ("abc-123", True),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),  # a W3C traceparent
    ("", False),
    ("two words", False),
    ("x" * 129, False),
    (None, False),
])
def test_the_request_id_is_the_callers_if_sane_else_a_new_one(
        client: Any, sent: str | None, kept: bool) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    echoed = client.get("/healthz", headers=headers).headers.get_list("X-Request-ID")
    assert len(echoed) == 1
    assert echoed[0] == sent if kept else HEX_ID.fullmatch(echoed[0])


def test_errors_carry_the_request_id_too(client: Any) -> None:
    response = client.get("/no/such/path", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "trace-7"


def test_the_request_id_header_is_a_setting(tmp_path: Any) -> None:
    app = create_app(Settings(kubeconfig=str(tmp_path / "none"), request_id_header="X-Trace-Id"))
    response = app.test_client().get("/healthz", headers={"X-Trace-Id": "t-1"})
    assert response.headers["X-Trace-Id"] == "t-1"
    assert "X-Request-ID" not in response.headers


# -- probes and metrics --------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_healthz_answers_200_with_an_empty_body(client: Any, method: str) -> None:
    response = client.request(method, "/healthz")
    assert (response.status_code, response.content) == (200, b"")


def test_readyz_without_a_usable_kubernetes_configuration_is_503(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == 14
    assert body["message"].startswith("Not ready: no Kubernetes client")


def test_metrics_speak_prometheus_text_or_openmetrics(client: Any) -> None:
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE kuberay_api_request_duration_seconds histogram" in text.text
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")


# -- log format ------------------------------------------------------------------------------

def _record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.errors", logging.ERROR, __file__, 1, "GET %s failed", ("/x",), None)
    record.__dict__.update(extra)
    return record


def _failure() -> Any:
    try:
        raise ValueError("boom")
    except ValueError:
        return sys.exc_info()


FORMATTED = [
    (_record(request_id="-"), {"level": "ERROR", "logger": "app.errors", "message": "GET /x failed"}, {"request_id"}),
    (_record(request_id="r-1"), {"request_id": "r-1"}, set()),
    (_record(request_id="r-1", status=503, path="/readyz"), {"status": 503, "path": "/readyz"}, set()),
    (_record(request_id="-", exc_info=_failure()), {}, {"request_id"}),
]


@pytest.mark.parametrize(("record", "expected", "absent"), FORMATTED)
def test_json_lines_hold_the_record_its_extras_and_its_request_id(
        record: logging.LogRecord, expected: dict[str, Any], absent: set[str]) -> None:
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert {key: entry[key] for key in expected} == expected
    assert not absent & set(entry)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    assert isinstance(entry["pid"], int)
    if record.exc_info:
        assert "ValueError: boom" in entry["exception"]


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers, as a server process starts (pytest adds its
    own when the test starts, so this is not a fixture)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        yield root
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


@pytest.mark.parametrize(("log_format", "formatter"), [("json", JsonFormatter), ("text", logging.Formatter)])
def test_logging_goes_to_stdout_in_the_chosen_format_at_the_chosen_level(
        log_format: str, formatter: type) -> None:
    with bare_root() as root:
        configure_logging("WARNING", log_format)
        [handler] = root.handlers
        level = root.level
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stdout
    assert type(handler.formatter) is formatter
    assert level == logging.WARNING
    if log_format == "text":
        assert handler.format(_record(request_id="r-1")).endswith(" ERROR app.errors [r-1]: GET /x failed")


def test_handlers_configured_elsewhere_are_left_alone() -> None:
    theirs = logging.NullHandler()
    with bare_root() as root:
        root.addHandler(theirs)
        configure_logging("DEBUG", "json")
        handlers = root.handlers[:]
    assert handlers == [theirs]


def test_every_record_gets_the_request_id_of_its_request(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/healthz", headers={"X-Request-ID": "r-42"})
        logging.getLogger("elsewhere").warning("outside any request")
    ids = {record.name: getattr(record, "request_id", None) for record in caplog.records}
    assert ids["app.access"] == "r-42"
    assert ids["elsewhere"] == "-"


# -- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "attribute", "value"), [
    ({}, "log_format", "text"),
    ({"KUBERAY_API_LOG_FORMAT": "JSON"}, "log_format", "json"),
    ({"KUBERAY_API_LOG_FORMAT": ""}, "log_format", "text"),
    ({}, "request_id_header", "X-Request-ID"),
    ({"KUBERAY_API_REQUEST_ID_HEADER": "X-Correlation-Id"}, "request_id_header", "X-Correlation-Id"),
    ({}, "metrics_dir", ""),
    ({"PROMETHEUS_MULTIPROC_DIR": "/dev/shm/metrics"}, "metrics_dir", "/dev/shm/metrics"),  # noqa: S108  (read, never written)
])
def test_observability_settings_are_read(env: dict[str, str], attribute: str, value: str) -> None:
    assert getattr(Settings.from_env(env), attribute) == value


@pytest.mark.parametrize(("name", "value"), [
    ("KUBERAY_API_LOG_FORMAT", "xml"),
    ("KUBERAY_API_REQUEST_ID_HEADER", "X Request"),
    ("KUBERAY_API_REQUEST_ID_HEADER", "X-Id:"),
    ("PROMETHEUS_MULTIPROC_DIR", ""),
    ("PROMETHEUS_MULTIPROC_DIR", " "),
])
def test_a_bad_observability_setting_fails_naming_it(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


# -- several processes -----------------------------------------------------------------------

def _python(code: str, env: dict[str, str]) -> str:
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).parents[2]
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=root, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


SERVE_THREE = """
from app.main import create_app
from app.settings import Settings
client = create_app(Settings(kubeconfig='/nonexistent', metrics_dir='{dir}', log_level='ERROR')).test_client()
for _ in range(3):
    client.get('/no/such/path')
"""
SCRAPE = """
from app.main import create_app
from app.settings import Settings
print(create_app(Settings(kubeconfig='/nonexistent', metrics_dir='{dir}', log_level='ERROR')).test_client().get('/metrics').text)
"""


def test_with_a_metrics_dir_a_scrape_sums_every_process(tmp_path: Any) -> None:
    """What gunicorn's workers do: each process writes its own file, any of them serves the sum."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        _python(SERVE_THREE.format(dir=tmp_path), env)
    text = _python(SCRAPE.format(dir=tmp_path), env)
    assert sample(text, "kuberay_api_requests_total", operation="unmatched", method="GET", status="404") == 6
