"""Server settings, read once from the environment.

Every environment variable the server reads is named here (and in the Helm chart), nowhere
else. The Kubernetes client also honours the usual `KUBECONFIG` and in-cluster variables on its
own (app/k8s); `KUBERAY_API_KUBECONFIG` overrides them, like upstream's `-kubeconfig` flag.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.ratelimit import DEFAULT_BURST, DEFAULT_RATE

PORT = "KUBERAY_API_PORT"
LOG_LEVEL = "KUBERAY_API_LOG_LEVEL"
VALIDATE_RESPONSES = "KUBERAY_API_VALIDATE_RESPONSES"
KUBECONFIG = "KUBERAY_API_KUBECONFIG"
K8S_TIMEOUT = "KUBERAY_API_K8S_TIMEOUT"
K8S_REQUEST_TIMEOUT = "KUBERAY_API_K8S_REQUEST_TIMEOUT"
LOG_FORMAT = "KUBERAY_API_LOG_FORMAT"
REQUEST_ID_HEADER = "KUBERAY_API_REQUEST_ID_HEADER"
MAX_WORKERS_PER_CLUSTER = "KUBERAY_API_MAX_WORKERS_PER_CLUSTER"
DEFAULT_MAX_WORKERS = 1000  # pods one cluster request may let the operator start; see app/validation
DASHBOARD_URL = "KUBERAY_API_DASHBOARD_URL"
DASHBOARD_TIMEOUT = "KUBERAY_API_DASHBOARD_TIMEOUT"
JOB_LOG_LIMIT = "KUBERAY_API_JOB_LOG_LIMIT"
CACHE = "KUBERAY_API_CACHE"
CACHE_NAMESPACE = "KUBERAY_API_CACHE_NAMESPACE"
CONSISTENT_READS = "KUBERAY_API_CONSISTENT_READS"
# Set by gunicorn.conf.py for its workers, not by people: the file through which the workers tell
# each other the writes they answered (app/cache/marks.py, WriteMarks).
WRITE_MARKS = "KUBERAY_API_WRITE_MARKS"
GRPC_BIND = "KUBERAY_API_GRPC_BIND"
GRPC_GRACE = "KUBERAY_API_GRPC_GRACE"
DEFAULT_GRPC_BIND = "0.0.0.0:8887"  # upstream's gRPC port
V2 = "KUBERAY_API_V2"
CORS_ALLOW_ORIGIN = "KUBERAY_API_CORS_ALLOW_ORIGIN"
POD_CHECK = "KUBERAY_API_POD_CHECK"
AUTH_MODE = "KUBERAY_API_AUTH_MODE"
AUTH_TOKEN = "KUBERAY_API_AUTH_TOKEN"  # noqa: S105  (the variable's name, not its value)
AUTH_METRICS = "KUBERAY_API_AUTH_METRICS"
AUTH_REVIEW_RATE = "KUBERAY_API_AUTH_REVIEW_RATE"
AUTH_REVIEW_BURST = "KUBERAY_API_AUTH_REVIEW_BURST"
AUTH_MODES = ("none", "token", "kubernetes")  # app/auth.py
# A dashboard URL template's placeholders, with example values: a template set is checked with them.
DASHBOARD_FIELDS = {"name": "c", "namespace": "ns", "service": "c-head-svc", "port": 8265}
DEFAULT_JOB_LOG_LIMIT = 8 * 1024 * 1024  # bytes of a job's log one answer holds: the end is kept
MIN_JOB_LOG_LIMIT = 1024
BODY_LIMIT = "KUBERAY_API_BODY_LIMIT"
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024  # bytes of a V1 request body: gRPC's default for a message, as its front has
MIN_BODY_LIMIT = 64 * 1024  # below, a cluster with a few groups would no longer fit
# prometheus_client's own name, which it reads once, when first imported: when set, the metrics
# of every process of one server (gunicorn's workers) are kept in files there and served summed.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS = ("text", "json")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")  # an HTTP token, short
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")  # scheme://host[:port], no path
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    """Defaults are upstream's where it has one (HTTP port 8888)."""

    port: int = 8888
    log_level: str = "INFO"
    validate_responses: bool = False  # checks every response against the spec: for tests, costs time
    kubeconfig: str = ""  # empty: in-cluster, else $KUBECONFIG, else ~/.kube/config
    k8s_timeout: float = 5.0  # seconds a Kubernetes API call may wait for an answer before it fails
    request_timeout: float = 10.0  # seconds all the Kubernetes calls of one request may take together
    log_format: str = "text"  # or "json": one object per line, with the request's fields
    request_id_header: str = "X-Request-ID"  # taken from the request if valid, else made; echoed
    metrics_dir: str = ""  # empty: this process's metrics only (one worker)
    max_workers_per_cluster: int = DEFAULT_MAX_WORKERS  # the sum of a cluster's maxReplicas; 0: no limit
    # Where a cluster's Ray dashboard answers, for job submissions: a URL template ({name} {namespace}
    # {service} {port}); empty: found by where the server runs (translate.job_submissions.dashboard_route)
    dashboard_url: str = ""
    dashboard_timeout: float = 10.0  # seconds one call to a Ray dashboard may take
    job_log_limit: int = DEFAULT_JOB_LOG_LIMIT  # bytes of a job log's answer kept; the rest is cut
    body_limit: int = DEFAULT_BODY_LIMIT  # bytes of a V1 request body; a larger one is refused (413)
    cache: bool = True  # GET and list answer from watch caches (app/cache/); off: every read asks Kubernetes
    cache_namespace: str = ""  # the one namespace the caches hold (a single-namespace install); empty: all
    write_marks: str = ""  # empty: this process's writes only (one worker)
    # Each cached answer is first checked against Kubernetes (a GET of the object, a list's scope), so that
    # a write another server answered shows too: for several replicas (the chart's default then)
    consistent_reads: bool = False
    grpc_bind: str = ""  # host:port of the gRPC front (port 0: any free one); empty: none (from_env: 0.0.0.0:8887)
    grpc_grace: float = 15.0  # seconds gRPC calls in flight may finish in at shutdown
    v2: bool = True  # the V2 routes: the Kubernetes API's own, forwarded (app/http/v2.py), as upstream v1.7.0
    cors_origins: tuple[str, ...] = ()  # origins a browser may call the APIs from ("*": any); none: no CORS
    pod_check: bool = True  # Kubernetes validates a write's pods first (a dry run: app/services/pods.py)
    auth_mode: str = "none"  # or "token" (one shared token) or "kubernetes" (TokenReview, impersonation): app/auth.py
    auth_token: str = ""  # the token of the "token" mode
    auth_metrics: bool = False  # /metrics asks for credentials too (the probes never do)
    # `kubernetes` mode: TokenReviews of refused tokens per client address (app/ratelimit.py), a second and at once
    auth_review_rate: float = DEFAULT_RATE
    auth_review_burst: int = DEFAULT_BURST

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Fail at start-up, naming the variable, rather than serve with a setting misread."""
        return cls(
            port=_port(env.get(PORT, "8888")),
            log_level=_log_level(env.get(LOG_LEVEL, "INFO")),
            validate_responses=_flag(VALIDATE_RESPONSES, env.get(VALIDATE_RESPONSES, "false")),
            kubeconfig=env.get(KUBECONFIG, ""),
            k8s_timeout=_positive(K8S_TIMEOUT, env.get(K8S_TIMEOUT, "5")),
            request_timeout=_positive(K8S_REQUEST_TIMEOUT, env.get(K8S_REQUEST_TIMEOUT, "10")),
            log_format=_choice(LOG_FORMAT, env.get(LOG_FORMAT, "text"), _LOG_FORMATS),
            request_id_header=_header(env.get(REQUEST_ID_HEADER, "X-Request-ID")),
            metrics_dir=_metrics_dir(env),
            max_workers_per_cluster=_count(MAX_WORKERS_PER_CLUSTER,
                                           env.get(MAX_WORKERS_PER_CLUSTER, str(DEFAULT_MAX_WORKERS))),
            dashboard_url=_url_template(env.get(DASHBOARD_URL, "")),
            dashboard_timeout=_positive(DASHBOARD_TIMEOUT, env.get(DASHBOARD_TIMEOUT, "10")),
            job_log_limit=_bytes(JOB_LOG_LIMIT, env.get(JOB_LOG_LIMIT, str(DEFAULT_JOB_LOG_LIMIT)),
                                 MIN_JOB_LOG_LIMIT),
            body_limit=_bytes(BODY_LIMIT, env.get(BODY_LIMIT, str(DEFAULT_BODY_LIMIT)), MIN_BODY_LIMIT),
            cache=_flag(CACHE, env.get(CACHE, "true")),
            cache_namespace=env.get(CACHE_NAMESPACE, "").strip(),
            write_marks=env.get(WRITE_MARKS, ""),
            consistent_reads=_flag(CONSISTENT_READS, env.get(CONSISTENT_READS, "false")),
            grpc_bind=_bind(env.get(GRPC_BIND, DEFAULT_GRPC_BIND)),
            grpc_grace=_positive(GRPC_GRACE, env.get(GRPC_GRACE, "15")),
            v2=_flag(V2, env.get(V2, "true")),
            cors_origins=_origins(env.get(CORS_ALLOW_ORIGIN, "")),
            pod_check=_flag(POD_CHECK, env.get(POD_CHECK, "true")),
            **_auth(env),
        )


def _auth(env: Mapping[str, str]) -> dict[str, Any]:
    """The mode, and its token in `token` mode (required there, and ignored in the others)."""
    mode = _choice(AUTH_MODE, env.get(AUTH_MODE, "none").strip().lower(), AUTH_MODES)
    token = env.get(AUTH_TOKEN, "")
    if mode == "token" and not token.strip():
        raise ValueError(f"{AUTH_MODE}=token needs the token in {AUTH_TOKEN}")
    if token != token.strip():
        raise ValueError(f"{AUTH_TOKEN} must not begin or end with white space")
    return {"auth_mode": mode, "auth_token": token if mode == "token" else "",
            "auth_metrics": _flag(AUTH_METRICS, env.get(AUTH_METRICS, "false")),
            "auth_review_rate": _positive(AUTH_REVIEW_RATE, env.get(AUTH_REVIEW_RATE, str(DEFAULT_RATE)),
                                         "(per second)"),
            "auth_review_burst": _bytes(AUTH_REVIEW_BURST, env.get(AUTH_REVIEW_BURST, str(DEFAULT_BURST)), 1, "tokens")}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"{PORT} must be a TCP port number (1-65535), not {text!r}")
    return port


def _bind(text: str) -> str:
    """`host:port` (IPv6 hosts in brackets), or empty or `off` for none."""
    value = text.strip()
    if value.lower() in ("", "off"):
        return ""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{GRPC_BIND} must be host:port (such as {DEFAULT_GRPC_BIND}), or off, not {text!r}")
    return value


def _origins(text: str) -> tuple[str, ...]:
    """Comma-separated origins as browsers send them (`https://ui.example.com:8080`), or `*`."""
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{CORS_ALLOW_ORIGIN} must be origins such as https://ui.example.com (scheme, host and "
                             f"port if any, no path), separated by commas, or *, not {text!r}")
    return origins


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"{LOG_LEVEL} must be one of {', '.join(_LOG_LEVELS)}, not {text!r}")
    return level


def _choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    value = text.strip().lower() or choices[0]
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {text!r}")
    return value


def _header(text: str) -> str:
    name = text.strip()
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{REQUEST_ID_HEADER} must be an HTTP header name (letters, digits, '-'), "
                         f"not {text!r}")
    return name


def _metrics_dir(env: Mapping[str, str]) -> str:
    """Set at all, even empty, the variable turns prometheus_client's multiprocess mode on."""
    if METRICS_DIR not in env:
        return ""
    path = env[METRICS_DIR]
    if not path.strip():
        raise ValueError(f"{METRICS_DIR} must name a folder, or be unset: set empty, prometheus_client "
                         "would still write its files, into the working directory")
    return path


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name} must be true or false, not {text!r}")
    return value in _TRUE


def _count(name: str, text: str) -> int:
    try:
        count = int(text.strip())
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more (0 means no limit), not {text!r}")
    return count


def _url_template(text: str) -> str:
    """An http(s) URL, with placeholders among DASHBOARD_FIELDS only; empty (or blank) for none."""
    template = text.strip()
    if not template:
        return ""
    try:
        example = template.format(**DASHBOARD_FIELDS)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{DASHBOARD_URL} may use the placeholders {{name}}, {{namespace}}, {{service}} and "
                         f"{{port}} only ({exc!r} in {text!r})") from None
    if not example.startswith(("http://", "https://")):
        raise ValueError(f"{DASHBOARD_URL} must be an http:// or https:// URL, not {text!r}")
    return template


def _bytes(name: str, text: str, minimum: int, unit: str = "bytes") -> int:
    try:
        count = int(text.strip())
    except ValueError:
        count = -1
    if count < minimum:
        raise ValueError(f"{name} must be a whole number of {unit}, at least {minimum}, not {text!r}")
    return count


def _positive(name: str, text: str, what: str = "of seconds") -> float:
    """A positive, finite number: seconds, or (`what` = "(per second)") a rate."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number {what}, not {text!r}")
    return value
