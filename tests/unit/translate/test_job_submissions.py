"""app/translate/job_submissions.py and app/validation/job_submissions.py: plain data in and out."""
from __future__ import annotations

import json
from typing import Any

import pytest

from app.errors import InvalidInput
from app.translate.cluster.auth import token_secret
from app.translate.job_submissions import (
    IN_CLUSTER_URL,
    DashboardRoute,
    DirectDashboard,
    ProxiedDashboard,
    dashboard_at,
    dashboard_message,
    dashboard_port,
    dashboard_route,
    dashboard_url,
    go_float,
    go_value,
    is_refusal,
    job_path,
    kubernetes_message,
    log_text,
    submission_info,
    submission_list,
    to_dashboard,
    token_headers,
)
from app.types import Json
from app.validation.job_submissions import check_submission

TEMPLATE = "http://{service}.{namespace}.svc.cluster.local:{port}"


def raycluster(status: Json | None = None, ports: list[Json] | None = None,
               params: dict[str, str] | None = None) -> Json:
    head: Json = {"rayStartParams": params or {},
                            "template": {"spec": {"containers": [{"name": "ray-head", "ports": ports or []}]}}}
    return {"metadata": {"name": "rc", "namespace": "ns"}, "spec": {"headGroupSpec": head}, "status": status or {}}


# -- where the dashboard is ----------------------------------------------------------------------

def test_the_default_address_is_the_head_service_in_the_cluster() -> None:
    assert dashboard_url(raycluster(), TEMPLATE) == "http://rc-head-svc.ns.svc.cluster.local:8265"


def test_the_operators_records_name_the_service_and_the_port() -> None:
    cluster = raycluster({"head": {"serviceName": "rc-head-abc"}, "endpoints": {"dashboard": "9000"}},
                         ports=[{"name": "dashboard", "containerPort": 8000}])
    assert dashboard_url(cluster, TEMPLATE) == "http://rc-head-abc.ns.svc.cluster.local:9000"


@pytest.mark.parametrize(("cluster", "port"), [
    (raycluster(ports=[{"name": "gcs", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8300}]), 8300),
    (raycluster(params={"dashboard-port": "8400"}), 8400),
    (raycluster({"endpoints": {"dashboard": "not a port"}}, params={"dashboard-port": "8400"}), 8400),
    (raycluster({"endpoints": {"dashboard": "70000"}}), 8265),
    ({**raycluster({"endpoints": {"dashboard": "31787"}}, ports=[{"name": "dashboard", "containerPort": 8300}]),
      "spec": {"headGroupSpec": {"serviceType": "NodePort", "template": {"spec": {"containers": [
          {"ports": [{"name": "dashboard", "containerPort": 8300}]}]}}}}}, 8300),  # a node port: not the Service's
    ({**raycluster({"endpoints": {"dashboard": "31787"}}), "spec": {"headGroupSpec": {"serviceType": "LoadBalancer"}}},
     8265),
    ({**raycluster({"endpoints": {"dashboard": "8300"}}), "spec": {"headGroupSpec": {"serviceType": "ClusterIP"}}},
     8300),
    (raycluster(params={"dashboard-port": "0"}), 8265),
    ({"metadata": {"name": "rc"}}, 8265),
])
def test_the_port_comes_from_the_first_record_that_holds_a_valid_one(cluster: Json, port: int) -> None:
    assert dashboard_port(cluster) == port


def test_a_template_without_placeholders_is_one_address_for_every_cluster() -> None:
    assert dashboard_url(raycluster(), "http://127.0.0.1:8265/") == "http://127.0.0.1:8265"
    proxy = "http://localhost:8001/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"
    assert dashboard_url(raycluster(), proxy) == "http://localhost:8001/api/v1/namespaces/ns/services/rc-head-svc:8265/proxy"


@pytest.mark.parametrize(("template", "in_cluster", "route"), [
    ("", True, IN_CLUSTER_URL),  # in a pod: the head Service by cluster DNS
    ("", False, ""),  # elsewhere: the Kubernetes API server's service proxy
    ("http://127.0.0.1:8265", True, "http://127.0.0.1:8265"),  # a template set is the route, anywhere
    ("http://127.0.0.1:8265", False, "http://127.0.0.1:8265"),
])
def test_the_route_is_the_template_set_else_by_where_the_server_runs(template: str, in_cluster: bool,
                                                                      route: str) -> None:
    assert dashboard_route(template, in_cluster).template == route


def test_the_route_says_which_and_why_without_credentials() -> None:
    assert str(dashboard_route("", False)) == (
        "through the Kubernetes API server's service proxy (/api/v1/namespaces/{namespace}/services/{service}:{port}"
        "/proxy) (the server runs outside the cluster: its Kubernetes client is not configured in-cluster)")
    assert str(dashboard_route("", True)) == (
        "at http://{service}.{namespace}.svc.cluster.local:{port} (the head Service's cluster DNS name: the server "
        "runs in a pod)")
    assert str(dashboard_route("https://ray:s3cret@proxy.example:8443/{namespace}/{name}", False)) == (
        "at https://proxy.example:8443/{namespace}/{name} (set by KUBERAY_API_DASHBOARD_URL)")


def test_with_a_template_the_dashboard_is_at_its_url() -> None:
    where = dashboard_at(raycluster(), DashboardRoute(TEMPLATE))
    assert where == DirectDashboard("http://rc-head-svc.ns.svc.cluster.local:8265")
    assert where.name == "Ray dashboard at http://rc-head-svc.ns.svc.cluster.local:8265"


def test_without_one_the_dashboard_is_the_head_services_port_through_the_api_servers_proxy() -> None:
    cluster = raycluster({"head": {"serviceName": "rc-head-abc"}, "endpoints": {"dashboard": "9000"}})
    where = dashboard_at(cluster, DashboardRoute())
    assert where == ProxiedDashboard("ns", "rc", "rc-head-abc", 9000)
    assert isinstance(where, ProxiedDashboard)
    assert where.path == "/api/v1/namespaces/ns/services/rc-head-abc:9000/proxy"
    assert where.name == "Ray dashboard of cluster rc (service rc-head-abc:9000 through the Kubernetes API server)"
    default = dashboard_at(raycluster(), DashboardRoute())
    assert isinstance(default, ProxiedDashboard)
    assert default.path == "/api/v1/namespaces/ns/services/rc-head-svc:8265/proxy"


def test_the_proxys_path_quotes_every_name_as_one_segment() -> None:
    """Names are DNS labels, which need no quoting: quoted anyway, nothing else can be a path."""
    assert ProxiedDashboard("a/../b", "rc", "x:1/y z", 8265).path == (
        "/api/v1/namespaces/a%2F..%2Fb/services/x%3A1%2Fy%20z:8265/proxy")


def test_a_url_with_credentials_is_named_without_them() -> None:
    assert DirectDashboard("http://user:pw@dash.example:8265").name == "Ray dashboard at http://dash.example:8265"
    assert DirectDashboard("http://token@dash.example/a@b").name == "Ray dashboard at http://dash.example/a@b"
    assert DirectDashboard("http://dash.example?to=a@b").name == "Ray dashboard at http://dash.example?to=a@b"


@pytest.mark.parametrize(("submission_id", "carried"), [
    ("raysubmit_ab12", True), ("a.b", True), ("..x", True), ("with space", True), ("a%2Fb", True),
    ("a/b", False), ("../serve/applications/", False), (".", False), ("..", False),
])
def test_the_proxy_carries_only_ids_that_stay_one_segment(submission_id: str, carried: bool) -> None:
    """Kubernetes decodes the path it proxies and removes its dot segments: those ids would reach
    another path of the dashboard. A URL reaches the dashboard with the id as it is."""
    assert ProxiedDashboard("ns", "rc", "rc-head-svc", 8265).carries(submission_id) is carried
    assert DirectDashboard("http://127.0.0.1:8265").carries(submission_id)


# -- requests ----------------------------------------------------------------------------------------

def test_the_submit_body_carries_only_what_is_set() -> None:
    assert to_dashboard({"entrypoint": "python x.py", "submissionId": "", "entrypointNumCpus": 0}) == {
        "entrypoint": "python x.py"}


def test_the_submit_body_in_rays_names_with_the_runtime_env_parsed() -> None:
    body = to_dashboard({
        "entrypoint": "python x.py", "submissionId": "s1", "metadata": {"team": "a"},
        "runtimeEnv": "env_vars:\n  GREETING: hello\npip: [requests]\nwhen: 2024-01-02\n",
        "entrypointNumCpus": 0.5, "entrypointNumGpus": 1, "entrypointResources": {"custom": "2", "other": 0.25},
    })
    assert body == {
        "entrypoint": "python x.py", "submission_id": "s1", "metadata": {"team": "a"},
        "runtime_env": {"env_vars": {"GREETING": "hello"}, "pip": ["requests"], "when": "2024-01-02"},
        "entrypoint_num_cpus": 0.5, "entrypoint_num_gpus": 1, "entrypoint_resources": {"custom": 2.0, "other": 0.25},
    }
    json.dumps(body, allow_nan=False)  # what the gateway sends


ACCEPTED: list[Json] = [
    {"entrypoint": "echo hi"},
    {"entrypoint": "echo hi", "runtimeEnv": "", "entrypointResources": {}},
    {"entrypoint": "echo hi", "runtimeEnv": "# only a comment"},
    {"entrypoint": "echo hi", "entrypointNumCpus": 0, "entrypointResources": {"r": "0.5", "s": 3}},
    {"entrypoint": "echo hi", "submissionId": "nightly run #3 (é).."},
    {"entrypoint": "echo hi", "submissionId": "é" * 100},
]


@pytest.mark.parametrize("submission", ACCEPTED)
def test_accepted(submission: Json) -> None:
    check_submission(submission)


REFUSED = [
    ({}, "Field 'entrypoint' is required"),
    ({"entrypoint": "  "}, "Field 'entrypoint' is required"),
    ({"entrypoint": "x", "submissionId": "a/b"}, "Field 'submissionId' must not contain '/', '\\' or control"),
    ({"entrypoint": "x", "submissionId": "a\\b"}, "Field 'submissionId' must not contain"),
    ({"entrypoint": "x", "submissionId": "é" * 101}, "Field 'submissionId' must be at most 200 bytes long"),
    ({"entrypoint": "x", "submissionId": "a\nb"}, "Field 'submissionId' must not contain"),
    ({"entrypoint": "x", "submissionId": ".."}, "Field 'submissionId' must not be '..': the id is a segment of"),
    ({"entrypoint": "x", "submissionId": "."}, "Field 'submissionId' must not be '.'"),
    ({"entrypoint": "x", "runtimeEnv": "pip: [unclosed"}, "runtimeEnv is not valid YAML: "),
    ({"entrypoint": "x", "runtimeEnv": "- a list"}, "runtimeEnv must be a YAML mapping such as 'key: value'."),
    ({"entrypoint": "x", "runtimeEnv": "a: " + "[" * 3000 + "]" * 3000}, "runtimeEnv is nested too deeply"),
    ({"entrypoint": "x", "runtimeEnv": "a: .nan"}, "Field 'runtimeEnv' holds a number JSON cannot carry"),
    ({"entrypoint": "x", "entrypointNumCpus": -1}, "Field 'entrypointNumCpus' must be a finite number, 0 or more"),
    ({"entrypoint": "x", "entrypointNumGpus": float("inf")}, "Field 'entrypointNumGpus' must be a finite number"),
    ({"entrypoint": "x", "entrypointResources": {"r": "lots"}},
     "Field 'entrypointResources.r' must be a number such as 1 or 0.5, not 'lots'."),
    ({"entrypoint": "x", "entrypointResources": {"r": "-2"}}, "Field 'entrypointResources.r' must be a finite number"),
    ({"entrypoint": "x", "entrypointResources": {"r": "1e400"}}, "Field 'entrypointResources.r' must be a finite"),
    ({"entrypoint": "x", "entrypointResources": {"r": True}}, "Field 'entrypointResources.r' must be a number"),
]


@pytest.mark.parametrize(("submission", "message"), REFUSED)
def test_refused_naming_the_field(submission: Json, message: str) -> None:
    with pytest.raises(InvalidInput) as refusal:
        check_submission(submission)
    assert message in refusal.value.message


# -- answers -------------------------------------------------------------------------------------------

def test_a_job_record_as_upstream_writes_it() -> None:
    record = {
        "type": "SUBMISSION", "job_id": "02000000", "submission_id": "raysubmit_1", "driver_info": {"id": "x"},
        "status": "SUCCEEDED", "entrypoint": "python -c 'print(42)'", "message": "Job finished successfully.",
        "error_type": None, "start_time": 1764417600123, "end_time": 1764417603456,
        "metadata": {"team": "a"}, "runtime_env": {"env_vars": {"B": "2", "A": 1}, "pip": ["requests==2.26.0", "x"],
                                                  "working_dir": "/tmp/x", "flag": True, "n": 1000000},  # noqa: S108  (a runtime env's value: nothing is written there)
        "entrypoint_num_cpus": 0.0,
    }
    assert submission_info(record) == {
        "entrypoint": "python -c 'print(42)'", "jobId": "02000000", "submissionId": "raysubmit_1",
        "status": "SUCCEEDED", "message": "Job finished successfully.",
        "startTime": "1764417600123", "endTime": "1764417603456", "metadata": {"team": "a"},
        "runtimeEnv": {"env_vars": "map[A:1 B:2]", "pip": "[requests==2.26.0 x]", "working_dir": "/tmp/x",  # noqa: S108  (a runtime env's value: nothing is written there)
                       "flag": "true", "n": "1e+06"},
    }


def test_a_pending_job_has_no_times_and_no_empty_fields() -> None:
    assert submission_info({"submission_id": "s", "status": "PENDING", "start_time": 0, "end_time": None,
                            "job_id": None, "metadata": {}, "runtime_env": None}) == {
        "submissionId": "s", "status": "PENDING"}


def test_a_list_without_jobs_is_empty_as_upstream_writes_it() -> None:
    assert submission_list([]) == {}
    assert submission_list({"not": "a list"}) == {}
    assert submission_list([{"submission_id": "a"}, "junk", {"submission_id": "b"}]) == {
        "submissions": [{"submissionId": "a"}, {"submissionId": "b"}]}


@pytest.mark.parametrize(("value", "text"), [
    (None, "<nil>"), (True, "true"), (False, "false"), ("text", "text"), (3, "3"), (0.5, "0.5"), (-2.25, "-2.25"),
    (100000, "100000"), (1000000, "1e+06"), (1234567, "1.234567e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"),
    (1.5e-7, "1.5e-07"), (1e21, "1e+21"), (1.5e300, "1.5e+300"), (0, "0"),
    ([], "[]"), ([1, "a", [True]], "[1 a [true]]"), ({}, "map[]"), ({"b": {"c": None}, "a": [2]}, "map[a:[2] b:map[c:<nil>]]"),
])
def test_values_are_written_as_gos_v_writes_decoded_json(value: Any, text: str) -> None:
    assert go_value(value) == text


def test_go_floats_beyond_json() -> None:
    assert [go_float(x) for x in (float("nan"), float("inf"), float("-inf"), -0.0)] == ["NaN", "+Inf", "-Inf", "-0"]


# -- logs --------------------------------------------------------------------------------------------

def test_a_whole_log_is_the_answers_text() -> None:
    assert log_text(json.dumps({"logs": "a\nb ü \"q\"\n"}).encode(), 0) == 'a\nb ü "q"\n'
    assert log_text(b'{"logs": null}', 0) == ""
    assert log_text(b'{"logs": ""}', 0) == ""


@pytest.mark.parametrize("answer", [b"", b"<html>proxy error</html>", b"[1]", b'{"logs": 5}'])
def test_an_answer_that_is_no_log_is_told_apart(answer: bytes) -> None:
    assert log_text(answer, 0) is None


def tail(log: str, keep: int) -> tuple[bytes, int]:
    answer = json.dumps({"logs": log}).encode()
    return answer[-keep:], max(len(answer) - keep, 0)


def test_a_cut_log_starts_after_its_first_whole_line() -> None:
    log = "".join(f"line {i}\n" for i in range(1000))
    answer, cut = tail(log, 100)
    text = log_text(answer, cut)
    assert cut
    assert text
    assert log.endswith(text)
    assert text.startswith("line ")
    assert len(text) < 100


@pytest.mark.parametrize("keep", range(10, 60))
def test_a_cut_never_splits_an_escape(keep: int) -> None:
    """Backslashes, quotes, unicode escapes and line breaks, cut at every position near them."""
    log = 'a\\n\\\\\n"é\\\\\\\nx\u2028y\n' * 3 + "end\n"
    answer, cut = tail(log, keep)
    text = log_text(answer, cut)
    assert text
    assert log.endswith(text)
    assert log[len(log) - len(text) - 1] == "\n"  # starts right after a real line break


def test_a_cut_log_without_a_whole_line_is_empty() -> None:
    answer, cut = tail("x" * 500, 100)
    assert log_text(answer, cut) == ""


# Ray 2.60's answer to a taken submission id: 500, the agent's traceback nested in the head's.
TAKEN = b"""Traceback (most recent call last):
  File ".../ray/dashboard/modules/job/job_head.py", line 419, in submit_job
    resp = await job_agent_client.submit_job_internal(submit_request)
  File ".../ray/dashboard/modules/job/job_head.py", line 148, in submit_job_internal
    await self._raise_error(resp)
    raise RuntimeError(f"Request failed with status code {status}: {error_text}.")
RuntimeError: Request failed with status code 400: Traceback (most recent call last):
  File ".../ray/dashboard/modules/job/job_manager.py", line 553, in submit_job
    raise ValueError(
ValueError: Job with submission_id s1 already exists. Please use a different submission_id.
.
"""
# ... and to deleting a job that still runs: the agent's own 500.
RUNNING = b"""Traceback (most recent call last):
  File ".../ray/dashboard/modules/job/job_head.py", line 500, in delete_job
RuntimeError: Request failed with status code 500: Traceback (most recent call last):
  File ".../ray/dashboard/modules/job/job_manager.py", line 655, in delete_job
    raise RuntimeError(
RuntimeError: Attempted to delete job 's1', but it is in a non-terminal state RUNNING.
.
"""
FAILED = b"""Traceback (most recent call last):
  File ".../ray/dashboard/modules/job/job_head.py", line 300, in list_jobs
ConnectionError: GCS is unreachable
"""


@pytest.mark.parametrize(("status", "answer", "refusal"), [
    (400, b"bad", True), (404, b"", True), (500, TAKEN, True), (500, RUNNING, True), (500, FAILED, False),
    (503, b"", False), (500, b"Request failed with status code 502: upstream", False),
])
def test_rays_refusals_are_told_from_its_failures(status: int, answer: bytes, refusal: bool) -> None:
    assert is_refusal(status, answer) is refusal


@pytest.mark.parametrize(("answer", "message"), [
    (TAKEN, "Job with submission_id s1 already exists. Please use a different submission_id."),
    (RUNNING, "Attempted to delete job 's1', but it is in a non-terminal state RUNNING."),
    (FAILED, "GCS is unreachable"),
    (b"Job nope does not exist", "Job nope does not exist"),
    (b'{"message": "bad runtime_env"}', "bad runtime_env"),
    (b"", "no message"),
    (b"x" * 5000, "x" * 1000 + "…"),
])
def test_a_dashboards_refusal_is_one_line(answer: bytes, message: str) -> None:
    assert dashboard_message(answer) == message


NO_ENDPOINTS = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints '
                b'available for service \\"rc-head-svc\\"","reason":"ServiceUnavailable","code":503}\n')


@pytest.mark.parametrize(("answer", "message"), [
    (NO_ENDPOINTS, 'no endpoints available for service "rc-head-svc"'),
    (b'{"kind": "Status", "message": "services \\"rc-head-svc\\" not found", "code": 404}',
     'services "rc-head-svc" not found'),
    (b'{"kind": "Status", "message": "error trying to reach service: dial tcp 10.0.0.7:8265:\\n i/o timeout"}',
     "error trying to reach service: dial tcp 10.0.0.7:8265: i/o timeout"),
    (b'{"kind": "Status", "reason": "Forbidden"}', "Forbidden"),
    (b'{"kind": "Status", "message": "' + b"x" * 5000 + b'"}', "x" * 1000 + "…"),
])
def test_kubernetes_own_answer_through_its_proxy_is_recognised(answer: bytes, message: str) -> None:
    assert kubernetes_message(answer) == message


@pytest.mark.parametrize("answer", [
    b"Job raysubmit_x does not exist",  # Ray's 404 of an unknown job: text
    TAKEN, FAILED, b"", b'{"message": "bad runtime_env"}', b'[{"kind": "Status"}]', b'{"kind": "Job"}',
    b'"Status"',
])
def test_the_dashboards_own_answers_are_never_read_as_kubernetes(answer: bytes) -> None:
    assert kubernetes_message(answer) is None


@pytest.mark.parametrize(("submission_id", "suffix", "path"), [
    ("raysubmit_ab12", "", "/api/jobs/raysubmit_ab12"),
    ("..", "/logs", "/api/jobs/%2E%2E/logs"),
    ("a b/c?d#e", "/stop", "/api/jobs/a%20b%2Fc%3Fd%23e/stop"),
    ("é.1", "", "/api/jobs/%C3%A9%2E1"),
])
def test_a_jobs_path_keeps_its_id_one_segment(submission_id: str, suffix: str, path: str) -> None:
    assert job_path(submission_id, suffix) == path


# -- Ray token authentication ---------------------------------------------------------------------

def _token_cluster(name: str, options: Json | None) -> Json:
    spec: Json = {} if options is None else {"authOptions": options}
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


@pytest.mark.parametrize(("name", "options", "secret"), [
    ("rc", None, None),
    ("rc", {"mode": "disabled"}, None),
    ("rc", {"mode": ""}, None),  # the operator turns token mode on for "token" spelled out only
    ("rc", {"mode": "token", "enableK8sTokenAuth": True}, None),  # Kubernetes' tokens: no Secret
    ("rc", {"mode": "token"}, "rc"),
    ("rc", {"mode": "token", "secretName": ""}, "rc"),
    ("rc", {"mode": "token", "secretName": "team-token"}, "team-token"),
    # utils.CheckName: the last 50 characters, and a leading digit or punctuation becomes "r"
    ("a" * 10 + "-" + "b" * 49, {"mode": "token"}, "r" + "b" * 49),
    ("x" * 7 + "1" + "c" * 49, {"mode": "token"}, "r" + "c" * 49),
])
def test_the_token_secret_is_the_operators_or_the_one_named(name: str, options: Json | None, secret: str | None) -> None:
    assert token_secret(_token_cluster(name, options)) == secret


def test_the_token_goes_in_the_header_each_route_lets_through() -> None:
    assert token_headers(DirectDashboard("http://h:8265"), "t0k") == {"Authorization": "Bearer t0k"}
    assert token_headers(ProxiedDashboard("ns", "rc", "rc-head-svc", 8265), "t0k") == {"X-Ray-Authorization": "Bearer t0k"}
    assert token_headers(DirectDashboard("http://h:8265"), "") == {}
