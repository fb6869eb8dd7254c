"""What the HTTP edge tells its operators: one count, one latency sample and one access line per
request, the request id, and the `/metrics` scrape.

Label values are bounded: a request is named by its operationId, or by its route for the few
routes outside the spec, never by its raw path; methods outside HTTP's own list count as `other`.
The metrics themselves are app/metrics.py's, the log format and request ids app/logs.py's.

Several processes (gunicorn workers) serve one address, and a scrape reaches one of them: with
PROMETHEUS_MULTIPROC_DIR set in their environment before they start, prometheus_client keeps
every process's values in files there and `/metrics` serves the sum (`metrics_dir`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Collection
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

from app.logs import REQUEST_ID, access_log, request_id
from app.metrics import REQUEST_SECONDS, REQUESTS

if TYPE_CHECKING:
    import connexion

    from app.http.routes import SpecRoutes

UNMATCHED = "unmatched"  # the operation of a request that no route serves (a 404 or 405)
# In `scope["extensions"]`: (operation, path template) of a request a middleware answers itself (V2).
ROUTE = "kuberay_api.route"
# In `scope["extensions"]`: the name of the authenticated caller (app/http/authn.py), for the access line.
CALLER = "kuberay_api.caller"
_METHODS = frozenset(method.upper() for method in METHODS)


def metrics(metrics_dir: str = "") -> flask.Response:
    """`GET /metrics`: this process's registry, or the sum of all processes' files in `metrics_dir`.

    The format follows the `Accept` header (Prometheus text, or OpenMetrics), as prometheus_client's
    own handlers do.
    """
    registry: CollectorRegistry = REGISTRY
    if metrics_dir:  # a fresh registry per scrape, as prometheus_client documents for this mode
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call, unused-ignore]
    encode, content_type = choose_encoder(flask.request.headers.get("Accept", ""))
    return flask.Response(encode(registry), status=200, content_type=content_type)


# -- naming a request ---------------------------------------------------------------------

class Routes:
    """Names a request by the route that served it: (operation label, path template).

    Connexion's routing writes the operationId and the API's base path into
    `scope["extensions"]`; the templates come from the spec's route index. A middleware that answers
    requests itself (the V2 API) names them under `ROUTE`. A request refused before routing (401,
    429, 413, a bad path) is named by the operation its method and path were meant for, from the
    same index, when they name one. Requests outside the specs are named by their Flask rule
    (`/healthz`), or as documentation under an API's base path (`/apis/v1/swagger-ui/{file}`), else
    `unmatched` with their raw path (for the log only).
    """

    def __init__(self, app: connexion.FlaskApp, spec_routes: SpecRoutes, docs: Collection[str]) -> None:
        self._app = app
        self._spec = spec_routes
        self._docs = tuple(docs)

    def name(self, scope: Scope) -> tuple[str, str]:
        named: tuple[str, str] | None = scope.get("extensions", {}).get(ROUTE)
        if named:
            return named
        routing = scope.get("extensions", {}).get(ROUTING_CONTEXT) or {}
        operation = routing.get("operation_id")
        if operation:
            base = routing.get("api_base_path", "")
            return operation, self._spec.template(base, operation)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        meant = self._spec.operation(path, method) if self._spec.base_of(path) else None
        if meant is not None:  # refused before routing
            return meant.operation_id, meant.template
        rule = self._flask_rule(path, method)
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
