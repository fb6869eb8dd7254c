"""Job submissions: the API's messages to and from the Jobs REST API of a cluster's Ray dashboard.

The API's `RayJobSubmission` becomes the body of the dashboard's `POST /api/jobs/`; the
dashboard's job records become `JobSubmissionInfo`, as upstream writes them (its proto maps
`runtimeEnv` to strings, each value rendered as Go's `%v` renders it). Where the dashboard of a
RayCluster is, from the cluster object and the server's route to the dashboards, is decided here
too, and so is whether an answer through Kubernetes' service proxy is Kubernetes' own.
Pure: no I/O, no clock, no logging.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from app.translate.common import object_key, omit_zero, positive, yaml_mapping
from app.types import Json

JOBS = "/api/jobs/"  # the dashboard's Jobs REST API
DEFAULT_DASHBOARD_PORT = 8265  # Ray's own default, and upstream's fixed port
# The head Service KubeRay creates for a cluster, when its status does not name it yet.
HEAD_SERVICE = "{name}-head-svc"
TERMINAL = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})  # a job in these states runs no more
MESSAGE_LIMIT = 1000  # characters of a dashboard's refusal passed on to the client


# -- where the dashboard is --------------------------------------------------------------------

# The head Service by its cluster DNS name: what a server running in a pod of the cluster reaches.
IN_CLUSTER_URL = "http://{service}.{namespace}.svc.cluster.local:{port}"
# The Kubernetes API server's proxy of a Service's port: what any client of the API server reaches.
SERVICE_PROXY = "/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"
# Path segments that are steps: Kubernetes' service proxy removes them from the paths it forwards.
DOT_SEGMENTS = (".", "..")


@dataclass(frozen=True)
class DashboardRoute:
    """How job submissions reach a cluster's dashboard: at the URL `template` makes of the cluster
    (`{name}`, `{namespace}`, `{service}`, `{port}`), or, without a template, through the
    Kubernetes API server's proxy of its head Service, with the server's own Kubernetes client."""

    template: str = ""  # empty: the service proxy
    reason: str = ""  # why this route, for the start-up log

    def __str__(self) -> str:
        where = (f"at {shown_url(self.template)}" if self.template
                 else f"through the Kubernetes API server's service proxy ({SERVICE_PROXY})")
        return f"{where} ({self.reason})" if self.reason else where


def dashboard_route(template: str, in_cluster: bool) -> DashboardRoute:
    """The administrator's template when set; else, for a server whose Kubernetes client is
    configured in-cluster (it runs in a pod), the head Service's cluster DNS name; else the
    Kubernetes API server's service proxy: a server outside the cluster cannot resolve those names,
    and the proxy needs nothing but the client it already has."""
    if template:
        return DashboardRoute(template, "set by KUBERAY_API_DASHBOARD_URL")
    if in_cluster:
        return DashboardRoute(IN_CLUSTER_URL, "the head Service's cluster DNS name: the server runs in a pod")
    return DashboardRoute("", "the server runs outside the cluster: its Kubernetes client is not configured in-cluster")


@dataclass(frozen=True)
class DirectDashboard:
    """A cluster's dashboard at a URL: the route's template, filled in."""

    url: str

    @property
    def name(self) -> str:
        """How messages name it: its URL, without credentials."""
        return f"Ray dashboard at {shown_url(self.url)}"

    def carries(self, submission_id: str) -> bool:
        """Every id reaches the dashboard as one path segment (`job_path`)."""
        return True


@dataclass(frozen=True)
class ProxiedDashboard:
    """A cluster's dashboard through the Kubernetes API server's proxy of its head Service."""

    namespace: str
    cluster: str
    service: str
    port: int

    @property
    def path(self) -> str:
        """The proxy's path on the API server; a path of the dashboard follows it. Names are DNS
        labels, quoted all the same: a name can never reach another path."""
        return SERVICE_PROXY.format(namespace=quote(self.namespace, safe=""), service=quote(self.service, safe=""),
                                    port=self.port)

    @property
    def name(self) -> str:
        return (f"Ray dashboard of cluster {self.cluster} (service {self.service}:{self.port} "
                "through the Kubernetes API server)")

    def carries(self, submission_id: str) -> bool:
        """Whether the id reaches the dashboard as one path segment. Kubernetes decodes the path it
        proxies, then removes its dot segments: an id holding `/`, or `.` or `..` itself, would
        reach another path of the dashboard (`../serve/applications/`)."""
        return "/" not in submission_id and submission_id not in DOT_SEGMENTS


DashboardAt = DirectDashboard | ProxiedDashboard


def dashboard_at(cluster: Mapping[str, Any], route: DashboardRoute) -> DashboardAt:
    """Where the cluster's dashboard answers, by the server's route."""
    if route.template:
        return DirectDashboard(dashboard_url(cluster, route.template))
    namespace, name = object_key(cluster)
    return ProxiedDashboard(namespace, name, head_service(cluster), dashboard_port(cluster))


def token_headers(where: DashboardAt, token: str) -> dict[str, str]:
    """The header that carries a cluster's Ray token to its dashboard (none without a token).

    Ray's dashboard (2.60, `ray/_private/authentication/http_token_authentication.py`) reads
    `Authorization: Bearer <token>` first, then `X-Ray-Authorization` ("for proxies and KubeRay"),
    then the cookie `ray-authentication-token`. Straight to the dashboard the standard header goes;
    through the Kubernetes API server's service proxy `Authorization` is the API server's own (it
    takes it as the server's credentials and never passes it on), so the token goes in
    `X-Ray-Authorization`, as the operator's dashboard client sends it on either route
    (ray-operator/controllers/ray/utils/dashboardclient/dashboard_httpclient.go@v1.6.2)."""
    if not token:
        return {}
    header = "X-Ray-Authorization" if isinstance(where, ProxiedDashboard) else "Authorization"
    return {header: f"Bearer {token}"}


def dashboard_url(cluster: Mapping[str, Any], template: str) -> str:
    """The base URL of the cluster's dashboard: `template` with `{name}`, `{namespace}`, `{service}`
    (the head Service) and `{port}` (the dashboard's) filled in from the RayCluster."""
    namespace, name = object_key(cluster)
    return template.format(
        name=name,
        namespace=namespace,
        service=head_service(cluster),
        port=dashboard_port(cluster),
    ).rstrip("/")


def shown_url(url: str) -> str:
    """A URL as messages and logs show it: without the user and password it may hold."""
    scheme, separator, rest = url.partition("://")
    end = min((at for at in (rest.find(mark) for mark in "/?#") if at >= 0), default=len(rest))
    authority = rest[:end]
    if not separator or "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{rest[end:]}"


def head_service(cluster: Mapping[str, Any]) -> str:
    """The name of the cluster's head Service: the operator's record, else its naming rule."""
    head = (cluster.get("status") or {}).get("head") or {}
    return str(head.get("serviceName") or HEAD_SERVICE.format(name=object_key(cluster)[1]))


def dashboard_port(cluster: Mapping[str, Any]) -> int:
    """The head Service's dashboard port: the operator's record of it (`status.endpoints`), else the
    head container's port named `dashboard`, else the head's `dashboard-port` start parameter, else
    Ray's default. The record counts for a ClusterIP Service only: for a NodePort or LoadBalancer one
    the operator records the node port there, which neither the Service's name nor its proxy serves."""
    head = (cluster.get("spec") or {}).get("headGroupSpec") or {}
    cluster_ip = str(head.get("serviceType") or "ClusterIP") == "ClusterIP"
    endpoints = ((cluster.get("status") or {}).get("endpoints") or {}) if cluster_ip else {}
    containers = ((head.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    ports = {port.get("name"): port.get("containerPort") for port in containers[0].get("ports") or []}
    for candidate in (endpoints.get("dashboard"), ports.get("dashboard"),
                      (head.get("rayStartParams") or {}).get("dashboard-port")):
        port = _port(candidate)
        if port:
            return port
    return DEFAULT_DASHBOARD_PORT


def _port(value: Any) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        return 0
    return port if 0 < port < 65536 else 0


def job_path(submission_id: str, suffix: str = "") -> str:
    """The dashboard's path of one job. Every character but letters, digits and `_-~` is quoted: an
    id of `..` must stay a name and never become a step up the dashboard's paths (URL clients
    remove dot segments)."""
    return JOBS + quote(submission_id, safe="").replace(".", "%2E") + suffix


# -- requests ----------------------------------------------------------------------------------

def to_dashboard(submission: Mapping[str, Any]) -> Json:
    """The dashboard's submit body, with only what the request sets (a zero count is none, as
    upstream sends it). The request has been checked (app/validation/job_submissions.py)."""
    body: Json = {"entrypoint": submission["entrypoint"]}
    optional = {
        "submission_id": submission.get("submissionId", ""),
        "metadata": dict(submission.get("metadata") or {}),
        "runtime_env": json_safe(yaml_mapping(submission.get("runtimeEnv", ""))),
        "entrypoint_num_cpus": positive(submission.get("entrypointNumCpus")),
        "entrypoint_num_gpus": positive(submission.get("entrypointNumGpus")),
        "entrypoint_resources": {str(key): float(value)
                                 for key, value in (submission.get("entrypointResources") or {}).items()},
    }
    body.update(omit_zero(optional))
    return body


def json_safe(value: Any) -> Any:
    """A YAML value as JSON can carry it: YAML's dates and other scalars become their text.

    Raises ValueError for what JSON cannot hold at all (NaN and the infinities).
    """
    return json.loads(json.dumps(value, default=str, allow_nan=False))


# -- answers -----------------------------------------------------------------------------------

def submission_info(record: Mapping[str, Any]) -> Json:
    """A dashboard job record (`JobDetails`) as the API's `JobSubmissionInfo`."""
    return omit_zero({
        "entrypoint": _text(record.get("entrypoint")),
        "jobId": _text(record.get("job_id")),
        "submissionId": _text(record.get("submission_id")),
        "status": _text(record.get("status")),
        "message": _text(record.get("message")),
        "errorType": _text(record.get("error_type")),
        "startTime": _millis(record.get("start_time")),
        "endTime": _millis(record.get("end_time")),
        "metadata": {str(key): _text(value) for key, value in _mapping(record.get("metadata")).items()},
        "runtimeEnv": {str(key): go_value(value) for key, value in _mapping(record.get("runtime_env")).items()},
    })


def submission_list(records: Any) -> Json:
    """The dashboard's list of job records; `{}` when it holds none, as upstream writes it."""
    infos = [submission_info(record) for record in records if isinstance(record, Mapping)] \
        if isinstance(records, list) else []
    return {"submissions": infos} if infos else {}


def is_terminal(record: Mapping[str, Any]) -> bool:
    return str(record.get("status", "")) in TERMINAL


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _millis(value: Any) -> str:
    """A uint64 time in milliseconds, written as protobuf JSON writes 64-bit integers: a string."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return ""
    return str(int(value))


def go_value(value: Any) -> str:
    """`value` (decoded JSON) as Go's `fmt` prints it with `%v` after `encoding/json` decoded it:
    what upstream's map<string, string> `runtimeEnv` holds. Numbers are float64 there."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(float(value))
    if isinstance(value, list):
        return "[" + " ".join(go_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{key}:{go_value(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def go_float(number: float) -> str:
    """Go's `%v` of a float64 (`strconv` 'g', shortest): plain notation for decimal exponents -4 to 5,
    else scientific with at least two exponent digits (`1e+06`, `1.5e-05`)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    decimal = Decimal(repr(number)).normalize()
    sign, digits, _ = decimal.as_tuple()
    text = "".join(map(str, digits))
    shown = decimal.adjusted()  # the exponent in scientific notation
    point = shown + 1  # where the decimal point falls in `text`
    minus = "-" if sign else ""
    if shown < -4 or shown >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if shown >= 0 else '-'}{abs(shown):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


# -- logs ----------------------------------------------------------------------------------------

def log_text(answer: bytes, cut: int) -> str | None:
    """The log in a dashboard's `GET /api/jobs/<id>/logs` answer (`{"logs": "..."}`); None when the
    answer is not that.

    `cut` is how many bytes of the answer were dropped from its start to keep the server's memory
    bounded: then only the lines after the first whole line break of what is left are shown.
    """
    if cut:
        return _string_tail(answer)
    try:
        decoded = json.loads(answer)
    except ValueError:
        return None
    if not isinstance(decoded, Mapping) or not isinstance(decoded.get("logs") or "", str):
        return None
    return str(decoded.get("logs") or "")


def _string_tail(answer: bytes) -> str:
    """The end of the answer's one JSON string, from just after an escaped line break whose
    backslash is known to start an escape (its run of backslashes begins inside `answer`)."""
    end = answer.rfind(b'"')
    if end < 0:
        return ""
    content = answer[:end]
    search = 0
    while (found := content.find(b"\\n", search)) >= 0:
        first = found
        while first > 0 and content[first - 1] == ord("\\"):
            first -= 1
        if first > 0 and (found - first) % 2 == 0:  # an odd run: the last backslash escapes the n
            try:
                return str(json.loads(b'"' + content[found + 2:] + b'"'))
            except ValueError:
                return ""
        search = found + 1
    return ""


# Ray's dashboard answers some refusals with 500: the head relays its agent's refusal ("Request
# failed with status code 400: ..."), and the agent itself refuses these with 500.
_RELAYED_REFUSAL = re.compile(r"Request failed with status code 4[0-9][0-9]\b")
_REFUSALS = ("Please use a different submission_id", "in a non-terminal state")
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>\S.*)$")


def is_refusal(status: int, answer: bytes) -> bool:
    """Whether a dashboard's failed answer refuses the request (the caller's to fix), rather than
    reports the dashboard's own failure."""
    if 400 <= status <= 499:
        return True
    text = answer.decode("utf-8", errors="replace")
    return bool(_RELAYED_REFUSAL.search(text)) or any(phrase in text for phrase in _REFUSALS)


def kubernetes_message(answer: bytes) -> str | None:
    """Kubernetes' message when a failed answer through its service proxy is Kubernetes' own, a
    `Status` object (the Service absent or without endpoints, its pods unreachable, the caller
    refused), not the dashboard's; None when it is the dashboard's (Ray never answers a `Status`)."""
    try:
        decoded = json.loads(answer)
    except ValueError:
        return None
    if not isinstance(decoded, Mapping) or decoded.get("kind") != "Status":
        return None
    return _short(" ".join(str(decoded.get("message") or decoded.get("reason") or "no message").split()))


def dashboard_message(answer: bytes) -> str:
    """What a dashboard's failed answer says, on one line of at most MESSAGE_LIMIT characters.

    Ray answers with a Python traceback, the agent's nested in the head's: the message is that of
    the last exception line (`ValueError: Job with submission_id s already exists. ...`), without
    the exception's name. A JSON `message`, or a short text, is taken whole.
    """
    text = answer.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping) and isinstance(decoded.get("message") or decoded.get("msg"), str):
        text = str(decoded.get("message") or decoded.get("msg"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [found["message"] for line in lines if (found := _ERROR_LINE.match(line))]
    return _short(errors[-1] if errors else lines[-1] if lines else "no message")


def _short(message: str) -> str:
    """At most MESSAGE_LIMIT characters."""
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + "…"
