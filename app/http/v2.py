"""The V2 API: the Kubernetes API's own routes, which the KubeRay dashboard calls, forwarded to the
Kubernetes API with the server's credentials and answered by it, status, headers and body.

Routes (upstream's `NewMux`, apiserversdk/proxy.go@v1.7.0):
* any method on `/apis/ray.io/v1` and below: KubeRay's resources; a create (POST on
  `namespaces/{ns}/{rayclusters|rayjobs|rayservices|raycronjobs}`) or update (PUT on `…/{name}`)
  first goes through the compute-template step (app/services/v2.py; upstream's
  apiserversdk/util/template.go@v1.7.0, which RayCronJobs postdate: their groups are under
  `spec.jobTemplate.rayClusterSpec`);
* `GET /apis/events.k8s.io/v1/namespaces/{ns}/events`, narrowed to ray.io objects' events
  (`regarding.apiVersion=ray.io/v1` added to the caller's field selectors), a watch too (`?watch=true`);
* `GET /api/v1/namespaces/{ns}/events`, core v1 Events, narrowed the same way
  (`involvedObject.apiVersion=ray.io/v1`), a watch too: the route KubeRay dashboards and clients
  before v1.7 read events through, which upstream v1.7.0 no longer serves (kept here for them);
* any method on `/api/v1/namespaces/{ns}/services/{service}/proxy[/…]`, for KubeRay's Services only.
Every other path under `/api/`, `/apis/ray.io/` and `/apis/events.k8s.io/` is refused. The server's
own refusals are Kubernetes `Status` objects too, so that a Kubernetes client reads every answer alike.

What is forwarded: the path as received (checked: no `.`, `..` or empty segment once decoded),
the query, the body (at most `MAX_BODY`), and only the caller's headers in `PASSED_HEADERS`, never
one that could change who Kubernetes thinks is calling (`Authorization`, `Impersonate-*`). Answers
stream back as they come, without hop-by-hop headers; a watch lasts at most `MAX_WATCH_SECONDS`.
"""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qsl, unquote, urlencode

import anyio
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import (
    INTERNAL,
    ApiError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    TooManyRequests,
    Unavailable,
    error_body,
)
from app.http.access import ROUTE
from app.http.bodies import read_body
from app.k8s import Forwarded
from app.services.v2 import V2Api
from app.translate.v2 import (
    CLUSTER_SPEC,
    RAY_CORE_EVENTS,
    RAY_EVENTS,
    bounded_watch_query,
    is_watch,
    ray_events_query,
)

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # bytes: the Kubernetes API server's own limit for an object
MAX_WATCH_SECONDS = 1800
WATCH_MARGIN = 30.0  # seconds of silence, beyond the watch's end, before its stream counts as broken
MAX_WATCHES = 100  # watches one worker streams at once; each holds a thread while it waits
PASSED_HEADERS = ("accept", "accept-encoding", "content-type", "user-agent")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"})
OWN_HEADERS = frozenset({"date", "server"})  # this server writes its own
VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
RAY = ("apis", "ray.io", "v1")
EVENTS = ("apis", "events.k8s.io", "v1")
CORE_EVENTS = ("api", "v1", "namespaces")  # + {ns}, "events": core v1 Events, the route before KubeRay v1.7
SPACE = ("/api/", "/apis/ray.io/", "/apis/events.k8s.io/")  # every path below is the V2 API's to answer
SPACE_ROOTS = ("/api", "/apis/ray.io", "/apis/events.k8s.io")
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 413: "RequestEntityTooLarge", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(frozen=True)
class Route:
    """A request the V2 API serves: its name and template (for metrics and logs) and what the checks need."""

    name: str
    template: str
    namespace: str = ""
    plural: str = ""  # a create's or update's kind, when the compute-template step applies
    service: str = ""  # the proxied Service's path segment
    selector: str = ""  # the field selector always added to the caller's (events)
    watch: bool = False


@dataclass
class Outgoing:
    """What will be sent to Kubernetes."""

    method: str
    route: Route
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    watch_seconds: int = 0


def is_v2_path(path: str) -> bool:
    return path.startswith(SPACE) or path in SPACE_ROOTS


def route(method: str, raw_path: str) -> Route:
    """The route of a V2 request, or the refusal (`NotFound`, `MethodNotAllowed`, `InvalidInput`)."""
    segments = _segments(raw_path)
    if tuple(segments[:3]) == RAY:
        _allow(method, VERBS)
        rest = segments[3:]
        templated = len(rest) == 3 and method == "POST" or len(rest) == 4 and method == "PUT"
        if templated and rest[0] == "namespaces" and rest[2] in CLUSTER_SPEC:
            return Route("v2.ray", "/apis/ray.io/v1/{path}", namespace=rest[1], plural=rest[2])
        return Route("v2.ray", "/apis/ray.io/v1/{path}", watch=len(rest) > 0 and rest[0] == "watch")
    if tuple(segments[:3]) == EVENTS and len(segments) == 6 and segments[3] == "namespaces" \
            and segments[5] == "events":
        _allow(method, ("GET",))
        return Route("v2.events", "/apis/events.k8s.io/v1/namespaces/{namespace}/events", namespace=segments[4],
                     selector=RAY_EVENTS)
    if tuple(segments[:3]) == CORE_EVENTS and len(segments) == 5 and segments[4] == "events":
        _allow(method, ("GET",))
        return Route("v2.core_events", "/api/v1/namespaces/{namespace}/events", namespace=segments[3],
                     selector=RAY_CORE_EVENTS)
    if segments[:3] == ["api", "v1", "namespaces"] and len(segments) >= 7 and segments[4] == "services" \
            and segments[6] == "proxy":  # /api/v1/namespaces/{ns}/services/{service}/proxy[/...]
        _allow(method, VERBS)
        return Route("v2.proxy", "/api/v1/namespaces/{namespace}/services/{service}/proxy/{path}",
                     namespace=segments[3], service=segments[5])
    raise NotFound(f"The V2 API does not serve {raw_path}: it serves /apis/ray.io/v1/..., "
                   "/apis/events.k8s.io/v1/namespaces/{namespace}/events, /api/v1/namespaces/{namespace}/events and "
                   "/api/v1/namespaces/{namespace}/services/{service}/proxy/... (KubeRay services only).")


class V2Middleware:
    """Answers every path of the V2 API (`is_v2_path`); the rest goes on to the V1 API."""

    def __init__(self, app: ASGIApp, api: V2Api,
                 request_scope: Callable[[], AbstractContextManager[None]]) -> None:
        self.app = app
        self._api = api
        self._request_scope = request_scope
        self._threads: anyio.CapacityLimiter | None = None  # made in the event loop, on first use
        self._watches = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_v2_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(MAX_WATCHES + 40)
        extensions = scope.setdefault("extensions", {})
        extensions[ROUTE] = ("v2", scope["path"])
        watching = False
        try:
            outgoing = to_send(scope)
            extensions[ROUTE] = (outgoing.route.name, outgoing.route.template)
            outgoing.body = await _body(scope, receive)
            if outgoing.watch_seconds:
                if self._watches >= MAX_WATCHES:
                    raise Unavailable(f"This server streams {MAX_WATCHES} watches at once already; try again later.")
                self._watches += 1
                watching = True
            forwarded = await anyio.to_thread.run_sync(self._open, outgoing, limiter=self._threads)
        except Exception as exc:  # every failure is answered as a Status
            if watching:
                self._watches -= 1
            await refusal(exc)(scope, receive, send)
            return
        response = StreamingResponse(self._stream(forwarded), status_code=forwarded.status)
        response.raw_headers = _passed_back(forwarded.headers)
        try:
            await response(scope, receive, send)
        finally:  # (also when the caller went away before the body was begun)
            forwarded.close()
            if watching:
                self._watches -= 1

    def _open(self, outgoing: Outgoing) -> Forwarded:
        """Checks, the compute-template step and the request's start, under the request's deadline;
        a watch then waits as long as it lasts."""
        route = outgoing.route
        with self._request_scope():
            if route.service:
                self._api.check_service(route.namespace, route.service)
            if route.plural and outgoing.body is not None:
                outgoing.body, content_type = self._api.with_compute_templates(
                    route.namespace, route.plural, outgoing.body, outgoing.headers.get("content-type", ""))
                if content_type:
                    outgoing.headers["content-type"] = content_type
            if not outgoing.watch_seconds:
                return self._api.forward(outgoing.method, outgoing.target, outgoing.headers, outgoing.body)
        return self._api.forward(outgoing.method, outgoing.target, outgoing.headers, outgoing.body,
                                 read_timeout=outgoing.watch_seconds + WATCH_MARGIN)

    async def _stream(self, forwarded: Forwarded) -> AsyncIterator[bytes]:
        """The body as it comes. If the caller goes away, the wait for the next chunk is abandoned;
        closing the answer (`__call__`) then ends that wait too."""
        chunks = forwarded.chunks()
        try:
            while chunk := await anyio.to_thread.run_sync(partial(next, chunks, b""), abandon_on_cancel=True,
                                                          limiter=self._threads):
                yield chunk
        except Unavailable as exc:
            log.warning("a forwarded answer broke off: %s", exc.message)


def to_send(scope: Scope) -> Outgoing:
    """What a request will send to Kubernetes: its path as received, its query (rewritten for the
    events' selector and a watch's limit) and the headers passed on; or the route's refusal."""
    method: str = scope["method"]
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    route_ = route(method, raw_path)
    query_string = scope.get("query_string", b"").decode("latin-1")
    query = parse_qsl(query_string, keep_blank_values=True)
    watch_seconds = 0
    if route_.selector:
        query = ray_events_query(query, route_.selector)
    if route_.watch or is_watch(query):
        query, watch_seconds = bounded_watch_query(query, MAX_WATCH_SECONDS)
    rewritten = bool(route_.selector) or watch_seconds > 0
    query_string = urlencode(query) if rewritten else query_string
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", ())
               if name.decode("latin-1") in PASSED_HEADERS}
    target = f"{raw_path}?{query_string}" if query_string else raw_path
    return Outgoing(method, route_, target, headers, watch_seconds=watch_seconds)


async def _body(scope: Scope, receive: Receive) -> bytes | None:
    """The whole body (None if empty); `TooLarge` beyond `MAX_BODY`, said or sent."""
    return await read_body(scope, receive, MAX_BODY) or None


def _segments(raw_path: str) -> list[str]:
    """The segments of the path as Kubernetes reads it (decoded, then split: an encoded slash
    separates too), else `InvalidInput` for one it could read as another path."""
    segments = unquote(raw_path).split("/")[1:]
    for index, segment in enumerate(segments):
        if segment in (".", "..") or (not segment and index < len(segments) - 1):
            raise InvalidInput(f"The path {raw_path} has an empty, '.' or '..' segment.")
    return segments


class _WrongMethod(MethodNotAllowed):
    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"Method {method} is not allowed here (allowed: {', '.join(allowed)}).")
        self.allowed = allowed


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise _WrongMethod(method, allowed)


def _passed_back(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Kubernetes' headers but the hop-by-hop ones, those its `Connection` header names, and those
    this server writes itself."""
    dropped = HOP_BY_HOP | OWN_HEADERS | {token.strip().lower() for name, value in headers
                                          if name.lower() == "connection" for token in value.split(",")}
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            if name.lower() not in dropped]


def refusal(exc: Exception) -> Response:
    """A failure as the Kubernetes API words one: a `Status` object."""
    if not isinstance(exc, ApiError):
        log.error("a V2 request failed unexpectedly", exc_info=exc)
        exc = ApiError(INTERNAL)
    elif exc.status >= 500:
        log.warning("a V2 request failed: %s", exc.message)
    status = exc.status
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": exc.message,
            "reason": _REASONS.get(status, "InternalError" if status >= 500 else "BadRequest"), "code": status}
    if isinstance(exc, TooManyRequests):  # as Kubernetes' own 429 says it, beside the `Retry-After` header
        body["details"] = {"retryAfterSeconds": exc.retry_after}
    headers = {"Allow": ", ".join(exc.allowed)} if isinstance(exc, _WrongMethod) else None
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json",
                    headers=headers)


def early_refusal(exc: ApiError, path: str, v2: bool) -> Response:
    """A refusal by a middleware before either API sees the request: a `Status` on the V2 API's
    paths (when it is served), else the V1 API's error body."""
    if v2 and is_v2_path(path):
        return refusal(exc)
    return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)
