"""The process's Prometheus metrics and the calls that record them: prometheus_client alone, no
web framework, so that the gateways and the caches can report without reaching the HTTP edge.

They are module-level: one set per process, however many apps are built. Several processes
(gunicorn workers) serve one address and a scrape reaches one of them: with
PROMETHEUS_MULTIPROC_DIR set in their environment before prometheus_client is first imported,
it keeps every process's values in files there, and `/metrics` serves the sum
(app/http/access.py).
"""
from __future__ import annotations

import os
import time

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "kuberay_api_requests", "HTTP requests answered, by operation, method and status code.",
    ("operation", "method", "status"))
REQUEST_SECONDS = Histogram(
    "kuberay_api_request_duration_seconds", "Time to answer an HTTP request, in seconds.",
    ("operation", "method", "status"))  # default buckets, 5 ms to 10 s: upstream's gRPC histogram's
KUBERNETES_REQUESTS = Counter(
    "kuberay_api_kubernetes_requests",
    "Calls to the Kubernetes API, by call (app.k8s.K8s method) and outcome: ok, the HTTP status of "
    "a refusal, timeout, or unreachable.",
    ("call", "outcome"))
KUBERNETES_SECONDS = Histogram(
    "kuberay_api_kubernetes_request_duration_seconds",
    "Time of one call to the Kubernetes API, answered or not, in seconds.", ("call",))

DASHBOARD_REQUESTS = Counter(
    "kuberay_api_dashboard_requests",
    "Calls to the Jobs REST API of Ray dashboards (job submissions), by call (app/dashboard.py) and "
    "outcome: ok, the HTTP status of a refusal, timeout, or unreachable.",
    ("call", "outcome"))
DASHBOARD_SECONDS = Histogram(
    "kuberay_api_dashboard_request_duration_seconds",
    "Time of one call to a Ray dashboard, answered or not, in seconds.", ("call",))

# Each worker holds caches of its own: their gauges are per process (a `pid` label when several).
CACHE_OBJECTS = Gauge(
    "kuberay_api_cache_objects", "Objects a watch cache holds, by cache.", ("cache",),
    multiprocess_mode="liveall")
CACHE_LAST_SEEN = Gauge(
    "kuberay_api_cache_last_event_timestamp_seconds",
    "When a watch cache last heard from Kubernetes (its list, an event or a bookmark), as a Unix "
    "time: the age of the last event seen is time() minus this.", ("cache",), multiprocess_mode="liveall")
CACHE_RESTARTS = Counter(
    "kuberay_api_cache_watch_restarts",
    "Watches of a cache begun again, by cache and reason: ended (by the server, as it does every few "
    "minutes), expired (410 Gone: listed again), behind (a write not seen in time: listed again), failed.",
    ("cache", "reason"))
CACHE_READS = Counter(
    "kuberay_api_cache_reads",
    "GETs and lists, by cache and where they were answered from: cache, or kubernetes (the cache "
    "not synced yet, switched off, or behind a write answered).", ("cache", "source"))

# The gRPC front's, with upstream's names and labels (go-grpc-prometheus), so that its dashboards work.
RPCS_STARTED = Counter(
    "grpc_server_started", "gRPC calls started, by type, service and method.",
    ("grpc_type", "grpc_service", "grpc_method"))
RPCS_HANDLED = Counter(
    "grpc_server_handled", "gRPC calls answered, by type, service, method and status code name.",
    ("grpc_type", "grpc_service", "grpc_method", "grpc_code"))
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time to answer a gRPC call, in seconds.",
    ("grpc_type", "grpc_service", "grpc_method"))


def observe_kubernetes_call(call: str, outcome: str, seconds: float) -> None:
    """For app/k8s/exchange.py, which every Kubernetes call goes through."""
    KUBERNETES_REQUESTS.labels(call, outcome).inc()
    KUBERNETES_SECONDS.labels(call).observe(seconds)


def observe_dashboard_call(call: str, outcome: str, seconds: float) -> None:
    """For app/dashboard.py's one wrapper around every call."""
    DASHBOARD_REQUESTS.labels(call, outcome).inc()
    DASHBOARD_SECONDS.labels(call).observe(seconds)


def observe_cache_state(cache: str, held: int) -> None:
    """A cache heard from Kubernetes and now holds `held` objects."""
    CACHE_OBJECTS.labels(cache).set(held)
    CACHE_LAST_SEEN.labels(cache).set(time.time())


def observe_cache_restart(cache: str, reason: str) -> None:
    CACHE_RESTARTS.labels(cache, reason).inc()


def observe_cache_read(cache: str, source: str) -> None:
    CACHE_READS.labels(cache, source).inc()


def prepare_metrics_dir(path: str) -> None:
    """Empty (or create) the multiprocess folder: for gunicorn's `on_starting`, before any worker.

    The files of a previous run would otherwise add to the new counts.
    """
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
