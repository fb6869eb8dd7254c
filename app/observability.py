"""What the server tells its operators: Prometheus metrics, one log line per request, request ids.

It owns the process's metrics (module-level, so one set per process however many apps are
built), the ASGI middleware that times, counts and logs every request, the `/metrics` view and
the log format. Label values are bounded: a request is named by its operationId, or by its
route for the few routes outside the spec, never by its raw path; methods outside HTTP's own
list count as `other`. It imports nothing from the rest of the application: app/k8s.py
imports it, to report its calls.

Several processes (gunicorn workers) serve one address, and a scrape reaches one of them: with
PROMETHEUS_MULTIPROC_DIR set in their environment before they start, prometheus_client keeps
every process's values in files there and `/metrics` serves the sum (`metrics_dir`).
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import flask
from connexion.http_facts import METHODS
from connexion.middleware.abstract import ROUTING_CONTEXT
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from app.metrics import REQUEST_SECONDS, REQUESTS, RPC_SECONDS, RPCS_HANDLED, RPCS_STARTED

if TYPE_CHECKING:
    import connexion

    from app.http.routes import SpecRoutes

access_log = logging.getLogger("app.access")

UNMATCHED = "unmatched"  # the operation of a request that no route serves (a 404 or 405)
# In `scope["extensions"]`: (operation, path template) of a request a middleware answers itself (V2).
ROUTE = "kuberay_api.route"
# In `scope["extensions"]`: the name of the authenticated caller (app/http/authn.py), for the access line.
CALLER = "kuberay_api.caller"
_METHODS = frozenset(method.upper() for method in METHODS)


def rpc_started(full_method: str, kind: str) -> None:
    service, _, method = full_method.lstrip("/").partition("/")
    RPCS_STARTED.labels(kind, service, method).inc()


def rpc_handled(full_method: str, kind: str, code: str, seconds: float, peer: str, quiet: bool = False,
                caller: str | None = None) -> None:
    """A gRPC call ended with status `code` (its name): one count, one latency sample, one access
    line (at DEBUG for a `quiet` call, a probe, that succeeded), naming the authenticated caller if any."""
    service, _, method = full_method.lstrip("/").partition("/")
    RPCS_HANDLED.labels(kind, service, method, code).inc()
    RPC_SECONDS.labels(kind, service, method).observe(seconds)
    level = logging.DEBUG if quiet and code == "OK" else logging.INFO
    if access_log.isEnabledFor(level):
        duration_ms = round(seconds * 1000, 3)
        fields: dict[str, Any] = {"rpc": full_method, "service": service, "method": method, "code": code,
                                  "duration_ms": duration_ms, "peer": peer}
        if caller is not None:
            fields["caller"] = caller
        access_log.log(level, "RPC %s %s %.1fms", full_method, code, duration_ms, extra=fields)


def metrics(metrics_dir: str = "") -> flask.Response:
    """`GET /metrics`: this process's registry, or the sum of all processes' files in `metrics_dir`.

    The format follows the `Accept` header (Prometheus text, or OpenMetrics), as prometheus_client's
    own handlers do.
    """
    registry: CollectorRegistry = REGISTRY
    if metrics_dir:  # a fresh registry per scrape, as prometheus_client documents for this mode
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics_dir)
    encode, content_type = choose_encoder(flask.request.headers.get("Accept", ""))
    return flask.Response(encode(registry), status=200, content_type=content_type)


def prepare_metrics_dir(path: str) -> None:
    """Empty (or create) the multiprocess folder: for gunicorn's `on_starting`, before any worker.

    The files of a previous run would otherwise add to the new counts.
    """
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


# -- naming a request ---------------------------------------------------------------------

class Routes:
    """Names a request by the route that served it: (operation label, path template).

    Connexion's routing writes the operationId and the API's base path into
    `scope["extensions"]`; the templates come from the spec's route index. A middleware that answers
    requests itself (the V2 API) names them under `ROUTE`. Requests outside the
    specs are named by their Flask rule (`/healthz`), or as documentation under an API's base
    path (`/apis/v1/swagger-ui/{file}`), else `unmatched` with their raw path (for the log only).
    """

    def __init__(self, app: connexion.FlaskApp, spec_routes: SpecRoutes, docs: Collection[str]) -> None:
        self._app = app
        self._spec = spec_routes
        self._docs = tuple(docs)

    def name(self, scope: Scope) -> tuple[str, str]:
        named = scope.get("extensions", {}).get(ROUTE)
        if named:
            return named
        routing = scope.get("extensions", {}).get(ROUTING_CONTEXT) or {}
        operation = routing.get("operation_id")
        if operation:
            base = routing.get("api_base_path", "")
            return operation, self._spec.template(base, operation)
        path: str = scope.get("path", "")
        rule = self._flask_rule(path, scope.get("method", "GET"))
        if rule:
            return rule, rule
        for base in self._spec.bases:
            for doc in self._docs:
                if path == f"{base}{doc}":
                    return path, path
                if path.startswith(f"{base}{doc}/"):
                    return f"{base}{doc}/{{file}}", f"{base}{doc}/{{file}}"
        return UNMATCHED, path

    def _flask_rule(self, path: str, method: str) -> str:
        try:
            rule, _ = self._app.app.url_map.bind("localhost").match(path, method, return_rule=True)
        except RequestRedirect:  # e.g. `/swagger-ui` -> `/swagger-ui/`
            return ""
        except HTTPException:
            return ""
        return str(rule.rule)


# -- the request middleware ---------------------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # a caller's id is kept if it looks sane


def request_id(given: str | None) -> str:
    """The id of a request: the caller's (a header, gRPC metadata) if it looks sane, else a new one."""
    text = (given or "").strip()
    return text if _REQUEST_ID_SHAPE.fullmatch(text) else uuid.uuid4().hex


class RequestMiddleware:
    """Outermost but for Starlette's last-resort handler: it sees every answer, errors included.

    Per request: a request id (the caller's, else a new one) in `REQUEST_ID` for the log and in
    the response header; then one count and one latency sample, and one access line. Answers of
    `quiet` routes (probes, scrapes) are logged at DEBUG while they succeed.
    """

    def __init__(self, app: ASGIApp, routes: Routes, header: str = "X-Request-ID",
                 quiet: Collection[str] = ()) -> None:
        self.app = app
        self._routes = routes
        self._header = header.lower().encode("latin-1")
        self._quiet = frozenset(quiet)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self._request_id(scope)
        token = REQUEST_ID.set(request_id)
        # Routing works on copies of the scope, but shallow ones: it writes into this same dict.
        scope.setdefault("extensions", {})
        status = 500  # unless an answer starts: an exception escaping to Starlette's handler
        id_header = (self._header, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name == self._header:
                return request_id(value.decode("latin-1"))
        return request_id(None)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        operation, path = self._routes.name(scope)
        method = scope.get("method", "")
        label = method if method in _METHODS else "other"
        REQUESTS.labels(operation, label, str(status)).inc()
        REQUEST_SECONDS.labels(operation, label, str(status)).observe(seconds)
        level = logging.DEBUG if operation in self._quiet and status < 400 else logging.INFO
        if access_log.isEnabledFor(level):
            duration_ms = round(seconds * 1000, 3)
            fields: dict[str, Any] = {"method": method, "path": path, "operation": operation, "status": status,
                                      "duration_ms": duration_ms}
            caller = scope.get("extensions", {}).get(CALLER)
            if caller is not None:
                fields["caller"] = caller
            access_log.log(level, "%s %s %s %.1fms", method, path, status, duration_ms, extra=fields)


# -- logging ------------------------------------------------------------------------------

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "color_message"}  # the last: uvicorn's, with ANSI colours


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, pid, the request id if any,
    whatever the call passed as `extra` (the access line's fields), and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Give every log record the request id; without handlers yet, log to stdout at `level`.

    Handlers someone else configured are left alone, as `logging.basicConfig` does: gunicorn's
    `logconfig_dict` (gunicorn.conf.py), or pytest's.
    """
    _stamp_request_ids()
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def _stamp_request_ids() -> None:
    """A record factory, not a handler filter: it works with whatever handlers are configured."""
    base: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(base, "stamps_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        return record

    factory.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
