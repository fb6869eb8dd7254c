"""The gRPC server: upstream's services on their own port, served by the HTTP front's handlers.

`RpcServer` registers one generic handler per RPC of `rpc_routes` (app/rpc/routes.py), plus the
standard health service (`grpc.health.v1.Health`, whose answer is `/readyz`'s) and server
reflection, so that `grpcurl` needs no .proto files. Every call, whichever service, goes through
`_Observed`: a request id (the caller's `x-request-id` metadata, else a new one) for the log and
sent back as initial metadata, one count and latency sample (upstream's `grpc_server_*` metrics)
and one access line (app/rpc/access.py). Errors become gRPC statuses here, in one place: an
`ApiError`'s code and message, as the HTTP front's error body carries them; anything else is
Internal with the HTTP front's text, the cause logged.

The server runs in the process that serves HTTP (each gunicorn worker; see gunicorn.conf.py), so
both fronts share its caches and Kubernetes client. Its port is bound with SO_REUSEPORT, which is
gRPC's default on Linux: every worker listens on it and the kernel spreads connections over them.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import unquote

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from app import auth, logs
from app.errors import INTERNAL, ApiError, TooManyRequests
from app.ratelimit import client_key
from app.rpc import access
from app.rpc.routes import RpcRoute

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
Scope = Callable[[float | None], AbstractContextManager[None]]

THREADS = 16  # RPCs one process answers at once; more wait in gRPC's queue ...
MAX_CONCURRENT = 128  # ... up to this many in all: past them a call is refused at once (RESOURCE_EXHAUSTED)
MAX_MESSAGE = 4 * 1024 * 1024  # bytes of one request message: gRPC's default, and plenty for a cluster
# A connection lives 5 minutes at most (its calls get 30 s more to finish), then the client opens
# another: so long-lived clients spread over the workers (and pods) again as they come and go.
OPTIONS = [
    ("grpc.so_reuseport", 1),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
]
HEALTH = health.SERVICE_NAME
REFLECTION = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
QUIET = frozenset({f"/{HEALTH}/Check"})  # probes: logged at DEBUG while they succeed
OPEN = (f"/{HEALTH}/", f"/{REFLECTION}/", f"/{REFLECTION_V1}/")  # served without credentials: no data
AUTHORIZATION = "authorization"  # the metadata key of credentials, as HTTP's header
RETRY_AFTER = "retry-after"  # the trailing metadata key of a refusal's wait, as HTTP's header
_STATUS_BY_CODE = {status.value[0]: status for status in grpc.StatusCode}


class RpcServer:
    """One gRPC server over the given handlers (operationId -> handler, `handlers.operations`).

    `scope(seconds)` opens the deadline of an operation's Kubernetes calls (`K8s.request_scope`),
    cut to what the caller still waits; `not_ready()` says why the server is not ready, or None
    (app/health.py), for the health service.
    """

    def __init__(self, routes: list[RpcRoute], handlers: Mapping[str, Handler], scope: Scope,
                 not_ready: Callable[[], str | None], request_id_header: str = "X-Request-ID",
                 authenticator: auth.Authenticator | None = None) -> None:
        self._routes = routes
        self._handlers = handlers
        self._scope = scope
        self._not_ready = not_ready
        self._health: _Health | None = None
        self._request_id_header = request_id_header.lower()
        self._authenticator = authenticator or auth.Open()
        self._server: grpc.Server | None = None
        self._users = 0
        self._lock = threading.Lock()
        self.port = 0

    def start(self, address: str) -> int:
        """Listen on `address` (host:port; port 0 picks one) and serve; the port is returned.
        Starts and stops pair up: a lifespan entered again while running (test clients do) shares
        the running server, which stops at the last `stop`; started after that, it serves again."""
        with self._lock:
            self._users += 1
            if self._server is None:
                try:
                    self._server = self._listen(address)
                except BaseException:
                    self._users -= 1
                    raise
            return self.port

    def _listen(self, address: str) -> grpc.Server:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="grpc"),
            interceptors=[_Observed(self._request_id_header, self._authenticator)],
            options=OPTIONS,
            maximum_concurrent_rpcs=MAX_CONCURRENT,
        )
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for route in self._routes:
            by_service.setdefault(route.service, {})[route.method] = grpc.unary_unary_rpc_method_handler(
                self._serve(route, self._handlers[route.operation_id]),
                request_deserializer=route.request.FromString,
                response_serializer=route.response.SerializeToString,
            )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(name, methods) for name, methods in by_service.items()])
        self._health = _Health(self._not_ready, list(by_service))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        served = [*by_service, HEALTH, REFLECTION, REFLECTION_V1]  # what reflection lists, in both versions
        reflection.enable_server_reflection(served, server)
        server.add_generic_rpc_handlers([_reflection_v1(served)])
        self.port = server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"the gRPC server cannot listen on {address}")
        server.start()
        log.info("gRPC server listening on %s", address.rsplit(":", 1)[0] + f":{self.port}")
        return server

    def stop(self, grace: float) -> None:
        """Refuse new calls, let those in flight finish for up to `grace` seconds, then end them."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users:
                return
            server, self._server = self._server, None
            health_service, self._health = self._health, None
        if health_service is not None:
            health_service.enter_graceful_shutdown()
        if server is not None:
            server.stop(grace).wait()

    def _serve(self, route: RpcRoute, handler: Handler) -> Callable[[Any, grpc.ServicerContext], Any]:
        scope = self._scope

        def serve(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                kwargs = route.arguments(request)
                with scope(_time_left(context)):
                    answer, _status = handler(**kwargs)
                return route.answer(answer)
            except ApiError as exc:
                if exc.status >= 500:  # as the HTTP front logs them
                    log.error("%s failed: %s", route.path, exc.message, exc_info=exc.__cause__)
                context.abort(_STATUS_BY_CODE.get(exc.code, grpc.StatusCode.UNKNOWN), exc.message)
            except Exception as exc:  # a bug or an unforeseen failure: the log gets everything
                log.error("%s failed unexpectedly", route.path, exc_info=exc)
                context.abort(grpc.StatusCode.INTERNAL, INTERNAL)

        return serve


def _reflection_v1(services: list[str]) -> grpc.GenericRpcHandler:
    """Reflection's v1 service too, as upstream serves both: grpcio-reflection ships v1alpha only,
    whose messages v1 kept field for field, so the same servicer answers it."""
    servicer = reflection.ReflectionServicer(services)
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": method})


def _time_left(context: grpc.ServicerContext) -> float | None:
    """Seconds the caller still waits, or None without a deadline."""
    left = context.time_remaining()
    return None if left is None or left > 1e9 else max(0.0, left)


class _Health(health.HealthServicer):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    """`grpc.health.v1.Health/Check`: SERVING when `/readyz` would answer 200, else NOT_SERVING,
    for the server ("") and each of its services; NOT_SERVING from the start of a shutdown.
    `Watch` streams the statuses set here: SERVING while up, NOT_SERVING once shutting down."""

    def __init__(self, not_ready: Callable[[], str | None], services: list[str]) -> None:
        super().__init__(experimental_non_blocking=True)
        self._not_ready = not_ready
        self._names = frozenset(["", *services])
        self._stopping = threading.Event()
        for name in self._names:
            self.set(name, health_pb2.HealthCheckResponse.SERVING)

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.service not in self._names:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Unknown service {request.service!r}.")
        serving = not self._stopping.is_set() and self._not_ready() is None
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)

    def enter_graceful_shutdown(self) -> None:
        self._stopping.set()
        super().enter_graceful_shutdown()


class _Observed(grpc.ServerInterceptor):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    """Around every call: the request id, the metrics and the access line; and, but for the open
    services (health, reflection), the caller's credentials (metadata `authorization`, as HTTP's
    header): the call runs as its caller (app/auth.py), or ends UNAUTHENTICATED."""

    def __init__(self, request_id_header: str, authenticator: auth.Authenticator) -> None:
        self._header = request_id_header
        self._authenticator = authenticator

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED itself
            return None
        full = details.method
        request_id = logs.request_id(self._metadata(details.invocation_metadata, self._header))
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._unary(full, request_id, handler.unary_unary, "unary"))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._stream(full, request_id, handler.unary_stream, "server_stream"))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=self._stream(full, request_id, handler.stream_stream, "bidi_stream"))
        return handler._replace(stream_unary=self._unary(full, request_id, handler.stream_unary, "client_stream"))

    @staticmethod
    def _metadata(metadata: Any, key: str) -> str | None:
        """The first text value of `key`."""
        return next((value for name, value in metadata or () if name == key and isinstance(value, str)), None)

    def _unary(self, full: str, request_id: str, behavior: Handler, kind: str) -> Handler:
        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            with self._observing(full, kind, request_id, context):
                return behavior(request, context)

        return observed

    def _stream(self, full: str, request_id: str, behavior: Handler, kind: str) -> Handler:
        def observed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._observing(full, kind, request_id, context):
                yield from behavior(request, context)

        return observed

    @contextmanager
    def _observing(self, full: str, kind: str, request_id: str, context: grpc.ServicerContext) -> Iterator[None]:
        """One call, from its start to its status: the request id for its log lines and its caller,
        the start counted, then the status counted and timed, and the access line."""
        token = logs.REQUEST_ID.set(request_id)
        started = time.perf_counter()
        access.started(full, kind)
        context.send_initial_metadata(((self._header, request_id),))
        failed = True
        caller = None
        try:
            if not full.startswith(OPEN):
                caller = self._authenticate(context)
            with auth.acting_as(caller):
                yield
            failed = False
        finally:
            access.handled(full, kind, _code_name(context, failed), time.perf_counter() - started,
                           context.peer(), quiet=full in QUIET, caller=caller.name if caller else None)
            logs.REQUEST_ID.reset(token)

    def _authenticate(self, context: grpc.ServicerContext) -> auth.Caller | None:
        """The caller, or the call ends: UNAUTHENTICATED, or RESOURCE_EXHAUSTED for an address past its
        rate of refused tokens, with `retry-after` (seconds) in the trailing metadata, as HTTP's header."""
        try:
            return self._authenticator.authenticate(self._metadata(context.invocation_metadata(), AUTHORIZATION),
                                                    client=client_key(peer_host(context.peer())))
        except ApiError as exc:
            if isinstance(exc, TooManyRequests):
                context.set_trailing_metadata(((RETRY_AFTER, str(exc.retry_after)),))
            context.abort(_STATUS_BY_CODE.get(exc.code, grpc.StatusCode.UNKNOWN), exc.message)
            raise  # (abort raises)


def peer_host(peer: str) -> str | None:
    """The address of a gRPC peer (`ipv4:10.0.0.1:5000`, `ipv6:[::1]:5000`, percent-encoded or not);
    None for another kind (`unix:`)."""
    kind, _, rest = unquote(peer).partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = rest.rpartition(":")[0]
    return host.strip("[]") or None


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    """The status the call ended with, named as upstream's metrics name it (Go's names)."""
    code = context.code()
    if code is None:
        code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    return CODE_NAMES[code.value[0]]


# google.rpc.Code's names as Go spells them, which upstream's `grpc_code` label values are.
CODE_NAMES = dict(enumerate((
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated")))
