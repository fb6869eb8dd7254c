"""The gateway to the Kubernetes API: the only module that imports `kubernetes`.

It builds the one client of the process, speaks plain JSON dicts (objects exactly as the API
server sends them: camelCase keys, RFC 3339 strings; no client models), counts every call in
the Prometheus metrics (app/observability.py), and turns every client, HTTP
and transport failure into an `app.errors.ApiError` in one place (`_call`). It knows nothing
about the API's resources beyond their coordinates. Two calls hand back the API server's answer
unread, whatever its status, for their callers to read: `forward` (the V2 API) and `send` (a Ray
dashboard through its head Service's proxy, which app/dashboard.py reads).

Outages are bounded in time (docs/architecture.md, "Faults"): each call waits at most the call
timeout for an answer, and within a request scope (`request_scope`, which the fronts open around
each operation) all the calls of one request share one deadline; a write also tells the API
server to give up before we do (`timeout=`), so that a write we answer as failed did not
happen. A circuit breaker (app/circuit.py) makes calls fail at once while the server is known
not to answer, and lets one call probe it again.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from app import auth
from app.circuit import Circuit, CircuitOpen
from app.constants import CustomResource
from app.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    DeadlineExceeded,
    Forbidden,
    Internal,
    InvalidInput,
    NotFound,
    Unavailable,
)
from app.metrics import observe_kubernetes_call
from app.settings import Settings
from app.transport import NO_ANSWER, may_have_arrived, transport_cause
from app.types import Json

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0  # seconds of silence on a read before a call is given up
DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds all the calls of one request may take together
CONNECT_TIMEOUT = 5.0  # an unreachable API server costs at most this much
READY_TIMEOUT = 3.0  # readiness questions: a probe must not wait longer than the kubelet does
WRITE_MARGIN = 1.0  # a write's server-side timeout is this much shorter than our wait for it
WRITES = ("POST", "PUT", "DELETE")
CORE = "/api/v1"  # the prefixes of the API groups the server reads
EVENTS = "/apis/events.k8s.io/v1"
# Answers that mean the API server cannot serve now (an overloaded or storage-less server):
# they count against the circuit, like no answer at all.
OUTAGE_STATUSES = frozenset({502, 503, 504})

_deadline: ContextVar[float | None] = ContextVar("kubernetes_deadline", default=None)
# A call whose wait the request's deadline cut short got no answer in that time: the caller ran
# out of time, which tells nothing of the server, so it neither counts against the circuit nor
# closes it (a client's short gRPC deadline would otherwise open it for everyone).
_OUT_OF_TIME = "the request's deadline came first"

# 400 and 422: Kubernetes refused the object (its message names the field); 410: a `continue`
# token that has expired, which is the client's to fix like a malformed one. 401 means our own
# credentials are not accepted: nothing the caller can change, and usually transient (a rotated
# token), so the server is unavailable rather than the caller forbidden.
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    403: Forbidden,
    404: NotFound,
    409: AlreadyExists,
    410: InvalidInput,
    422: InvalidInput,
    429: Unavailable,
}


@dataclass(frozen=True)
class Collection:
    """A collection in one namespace or all (None), narrowed by selectors: what one watch cache holds."""

    prefix: str  # "/api/v1", "/apis/ray.io/v1"
    plural: str
    label_selector: str = ""
    field_selector: str = ""
    namespace: str | None = None

    @classmethod
    def custom(cls, kind: CustomResource, label_selector: str, namespace: str | None = None) -> Collection:
        return cls(_group(kind), kind.plural, label_selector, namespace=namespace)

    @classmethod
    def configmaps(cls, label_selector: str, namespace: str | None = None) -> Collection:
        return cls(CORE, "configmaps", label_selector, namespace=namespace)

    @classmethod
    def events(cls, field_selector: str, namespace: str | None = None) -> Collection:
        """events.k8s.io/v1 Events, as `K8s.list_events` reads them."""
        return cls(EVENTS, "events", field_selector=field_selector, namespace=namespace)

    def path(self) -> str:
        return _path(self.prefix, self.namespace, self.plural)

    @property
    def group(self) -> str:
        """The API group, as RBAC names it: "" for the core group."""
        parts = self.prefix.strip("/").split("/")
        return parts[1] if parts[0] == "apis" else ""

    def query(self) -> list[tuple[str, Any]]:
        return [(key, value) for key, value in (("labelSelector", self.label_selector),
                                                ("fieldSelector", self.field_selector)) if value]


class _Open:
    """An answer whose body is still being read; `close()` may be called from another thread, to
    end a read blocked on a quiet stream."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._closed = False
        self._read = False  # to its end: the connection may then serve another call
        self._lock = threading.Lock()

    def close(self) -> None:
        """Idempotent. A connection left mid-body is closed, never pooled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._read:
            # shutdown (urllib3 >= 2.3) wakes a read blocked in another thread; closing alone may not
            with contextlib.suppress(AttributeError, OSError, ValueError, RuntimeError):
                self._response.shutdown()
            with contextlib.suppress(OSError):
                self._response.close()
        self._response.release_conn()


class Watch(_Open):
    """One open watch: `events()` yields each decoded event as it arrives."""

    def events(self) -> Iterator[Json]:
        """Ends when the server ends the watch; a broken stream raises `Unavailable`."""
        buffered = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=True):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"the watch broke: {transport_cause(exc)}") from exc


class Forwarded(_Open):
    """The Kubernetes API's own answer to a forwarded request (the V2 API): its status, its headers
    and its body as sent (still compressed, if it was), read as it arrives."""

    def __init__(self, response: Any) -> None:
        super().__init__(response)
        self.status: int = response.status
        self.headers: list[tuple[str, str]] = list(response.headers.items())

    def chunks(self) -> Iterator[bytes]:
        """A watch's events as the server flushes them; a broken stream raises `Unavailable`."""
        try:
            yield from self._response.stream(64 * 1024, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"the Kubernetes API's answer broke off: {transport_cause(exc)}") from exc
        self._read = True


class K8s:
    """Thin, thread-safe facade over one `kubernetes.client.ApiClient`; build it once per process.

    The client is made on first use (`connect`), the one lazy point of the application: an app
    that only validates requests needs no cluster, and a server calls `connect` at start-up so
    that a configuration it cannot use stops it there.
    Requests go through the client's documented raw interface (`param_serialize`, `call_api`):
    it supplies TLS, authentication and token refresh, and we skip the typed layer, whose
    argument validation and model conversions cost time and could alter the objects.
    """

    def __init__(self, configure: Callable[[], client.Configuration],
                 timeout: float = DEFAULT_TIMEOUT, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 circuit: Circuit | None = None, in_cluster: bool = False) -> None:
        self._configure = configure
        # Whether `configure` reads the pod's own service account: the server runs in the cluster,
        # whose DNS names it can resolve (the route to the Ray dashboards follows, app/__init__.py).
        self.in_cluster = in_cluster
        self._timeout = timeout
        self._request_timeout = request_timeout
        self._circuit = circuit or Circuit()
        self._client: client.ApiClient | None = None
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> K8s:
        """`KUBERAY_API_KUBECONFIG` when set, else as upstream finds its cluster (`from_environment`)."""
        timeouts = {"timeout": settings.k8s_timeout, "request_timeout": settings.request_timeout}
        if settings.kubeconfig:
            return cls.from_kubeconfig(settings.kubeconfig, **timeouts)
        return cls.from_environment(env, **timeouts)

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> K8s:
        """In-cluster unless KUBECONFIG is set, else the kubeconfig file (upstream's order)."""
        env = dict(os.environ if env is None else env)
        inside = configured_in_cluster(env)

        def configure() -> client.Configuration:
            configuration = client.Configuration()
            if inside:
                config.load_incluster_config(client_configuration=configuration)
            else:
                path = env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
                _load_kubeconfig(path, configuration)
            return configuration

        return cls(configure, timeout, request_timeout, in_cluster=inside)

    @classmethod
    def from_kubeconfig(cls, path: str, timeout: float = DEFAULT_TIMEOUT,
                        request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> K8s:
        """For tests and tools that point at one cluster explicitly."""

        def configure() -> client.Configuration:
            configuration = client.Configuration()
            _load_kubeconfig(path, configuration)
            return configuration

        return cls(configure, timeout, request_timeout)

    @contextmanager
    def request_scope(self, within: float | None = None) -> Iterator[None]:
        """The calls made inside share one deadline, `request_timeout` from now: a front opens one
        around each operation, so that no request waits longer, however many calls it makes.
        `within`: the seconds the caller itself still waits (a gRPC deadline), if sooner."""
        seconds = self._request_timeout if within is None else max(0.0, min(within, self._request_timeout))
        token = _deadline.set(time.monotonic() + seconds)
        try:
            yield
        finally:
            _deadline.reset(token)

    def connect(self) -> None:
        """Build the client now: `Unavailable` for a configuration it cannot use."""
        self._api()

    def _api(self) -> client.ApiClient:
        api = self._client
        if api is None:
            with self._lock:
                if self._client is None:
                    try:
                        configuration = self._configure()
                    except Exception as exc:  # the client's own errors: a missing or bad kubeconfig
                        log.error("cannot configure the Kubernetes client", exc_info=exc)
                        raise Unavailable(
                            f"no Kubernetes client ({type(exc).__name__}); see the server log"
                        ) from exc
                    # No retries: a retry would double the wait on a hung server and could send a
                    # write twice; the circuit and the caller decide when to try again.
                    configuration.retries = urllib3.Retry(total=0, redirect=0)
                    self._client = client.ApiClient(configuration)
                api = self._client
        return api

    # -- ConfigMaps -----------------------------------------------------------------------

    def get_configmap(self, ns: str, name: str) -> Json:
        return self._call("get_configmap", "GET", _core(ns, "configmaps", name))

    def create_configmap(self, ns: str, body: Json) -> Json:
        return self._call("create_configmap", "POST", _core(ns, "configmaps"), body=body)

    def delete_configmap(self, ns: str, name: str) -> Json:
        return self._call("delete_configmap", "DELETE", _core(ns, "configmaps", name))

    def list_configmaps(self, ns: str | None, label_selector: str) -> list[Json]:
        """Items only: compute templates are not paginated."""
        query = [("labelSelector", label_selector)]
        result = self._call("list_configmaps", "GET", _core(ns, "configmaps"), query)
        return result.get("items") or []

    # -- custom resources -----------------------------------------------------------------

    def get_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        return self._call("get_object", "GET", _custom(kind, ns, name))

    def create_object(self, kind: CustomResource, ns: str, body: Json) -> Json:
        return self._call("create_object", "POST", _custom(kind, ns), body=body)

    def replace_object(self, kind: CustomResource, ns: str, name: str, body: Json) -> Json:
        return self._call("replace_object", "PUT", _custom(kind, ns, name), body=body)

    def delete_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        """Default options, as upstream: background cascading through owner references."""
        return self._call("delete_object", "DELETE", _custom(kind, ns, name))

    def list_objects(
        self,
        kind: CustomResource,
        ns: str | None,
        label_selector: str,
        limit: int = 0,
        continue_token: str = "",
    ) -> Json:
        """The whole list object, so that callers can read `metadata.continue`."""
        query: list[tuple[str, Any]] = [("labelSelector", label_selector)]
        if limit:
            query.append(("limit", limit))
        if continue_token:
            query.append(("continue", continue_token))
        return self._call("list_objects", "GET", _custom(kind, ns), query)

    # -- events ---------------------------------------------------------------------------

    def list_events(self, ns: str | None, field_selector: str = "") -> list[Json]:
        """events.k8s.io/v1 Events, as upstream v1.7.0 reads them."""
        query = [("fieldSelector", field_selector)] if field_selector else []
        path = _path(EVENTS, ns, "events")
        result = self._call("list_events", "GET", path, query)
        return result.get("items") or []

    # -- watch caches ---------------------------------------------------------------------

    def list_page(self, collection: Collection, limit: int, continue_token: str = "",
                  timeout: float = 60.0) -> Json:
        """One page of a cache's LIST: the pages of one list share one snapshot."""
        query = collection.query() + [("limit", limit)]
        if continue_token:
            query.append(("continue", continue_token))
        return self._call("list_page", "GET", collection.path(), query, timeout=timeout, as_server=True)

    def watch(self, collection: Collection, resource_version: str, timeout_seconds: int,
              read_timeout: float) -> Watch:
        """A watch from `resource_version`, with bookmarks, which the server ends after
        `timeout_seconds`; `read_timeout` bounds a silence (bookmarks come about every minute).

        410 Gone at the start (the version is too old: list again) is answered as the stream
        would say it, one ERROR event, so that the cache reads both alike; any other refusal raises.
        Watches are long and expected to end: they are neither counted against the circuit nor
        under a request's deadline; the cache counts their restarts.
        """
        api = self._api()
        query = collection.query() + [("watch", "true"), ("allowWatchBookmarks", "true"),
                                      ("resourceVersion", resource_version),
                                      ("timeoutSeconds", timeout_seconds)]
        request = api.param_serialize("GET", collection.path(), query_params=query,
                                      header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        started = time.perf_counter()
        outcome = "unreachable"
        try:
            response = api.call_api(*request, _request_timeout=(CONNECT_TIMEOUT, read_timeout))
            outcome = "ok" if 200 <= response.status <= 299 else str(response.status)
        except ApiException as exc:
            raise Unavailable(f"Kubernetes API server unavailable: {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"Kubernetes API server unavailable: {transport_cause(exc)}") from exc
        finally:  # (the time to open it: its events come over minutes)
            observe_kubernetes_call("watch", outcome, time.perf_counter() - started)
        if 200 <= response.status <= 299:
            return Watch(response.response)
        try:
            status = _decode(response.read(), {})
        finally:
            response.response.release_conn()
        if response.status == 410:  # as the stream says it: one ERROR event
            message = status.get("message", "Gone") if isinstance(status, dict) else "Gone"
            return _Refused({"kind": "Status", "code": 410, "message": str(message)})
        raise _error("watch", response.status, status)

    # -- the V2 API: requests forwarded as they came --------------------------------------

    def get_service(self, ns: str, name: str) -> Json:
        return self._call("get_service", "GET", _core(ns, "services", name))

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                read_timeout: float | None = None) -> Forwarded:
        """Send a request with the server's credentials, as the current caller; the answer is
        Kubernetes' own, whatever its status. `target` is the path and query as Kubernetes serves
        them (the caller has checked them), `headers` the caller's to pass on. `read_timeout` bounds
        each silence (a watch's); by default the call timeout does, cut to the request's deadline.

        Only a failure to get an answer raises (`Unavailable`, `DeadlineExceeded`), and only such a
        failure counts against the circuit: a 503 may be a proxied Service's, not the API server's.
        """
        api = self._api()
        own = self._timeout if read_timeout is None else read_timeout
        wait = self._wait("forward", own)
        started = time.perf_counter()
        outcome = "unreachable"
        probe = self._before_call("forward")
        try:
            response = _unread(api, method, target, headers, body, wait)
            outcome = "ok" if 200 <= response.status <= 299 else str(response.status)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = transport_cause(exc)
            log.warning("Kubernetes API unreachable in forward: %s", exc)
            if cause != NO_ANSWER:
                self._circuit.failed(probe, cause)
                raise Unavailable(f"Kubernetes API server unavailable: {cause}") from exc
            outcome = "timeout"
            if wait < own:  # the request's deadline cut the wait short: nothing learnt of the server
                self._circuit.released(probe)
            else:
                self._circuit.failed(probe, cause)
            unknown = " (a write: it may or may not have been carried out)" if method not in ("GET", "HEAD") else ""
            raise DeadlineExceeded(f"The Kubernetes API server did not answer in time{unknown}.") from exc
        finally:
            observe_kubernetes_call("forward", outcome, time.perf_counter() - started)
        self._circuit.answered(probe)
        return Forwarded(response)

    # -- job submissions: a Ray dashboard through a Service's proxy (app/dashboard.py) --------

    def send(self, name: str, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float) -> urllib3.BaseHTTPResponse:
        """Send a request with the server's client, as the current caller, and hand back its answer
        unread, whatever its status: the caller reads it, bounds the whole of it, and releases it.
        `target` is the path as Kubernetes serves it (the caller has built it). `timeout` bounds the
        connection and each wait for data; the request's deadline does not cut it (the caller's own
        bound is the one that counts, as for its calls that do not go through Kubernetes).

        A failure to reach the API server raises `Unavailable` and counts against the circuit. No
        answer in time once the request was sent raises `DeadlineExceeded` and leaves the circuit
        as it was: the proxied Service may be the slow one. Any answer closes the circuit, a 502 or
        503 too (it may be the Service's).
        """
        api = self._api()
        started = time.perf_counter()
        outcome = "unreachable"
        probe = self._before_call(name)
        try:
            response = _unread(api, method, target, headers, body, timeout)
            outcome = "ok" if 200 <= response.status <= 299 else str(response.status)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = transport_cause(exc)
            log.warning("Kubernetes API unreachable in %s: %s", name, exc)
            if cause == NO_ANSWER and may_have_arrived(exc):
                outcome = "timeout"
                self._circuit.released(probe)
                raise DeadlineExceeded(f"The Kubernetes API server did not answer in time ({timeout:.3g} s).") from exc
            self._circuit.failed(probe, cause)
            raise Unavailable(f"Kubernetes API server unavailable: {cause}") from exc
        finally:
            observe_kubernetes_call(name, outcome, time.perf_counter() - started)
        self._circuit.answered(probe)
        return response

    # -- who is calling (app/auth.py): asked with the server's own rights --------------------

    def review_token(self, token: str) -> Json:
        """A TokenReview's `status`: whether Kubernetes authenticates `token`, and as whom."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        answer = self._call("review_token", "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=body,
                            as_server=True)
        return answer.get("status") or {}

    def review_access(self, spec: Json) -> Json:
        """A SubjectAccessReview's `status`: whether Kubernetes allows `spec` (a user, a resource, a verb)."""
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        answer = self._call("review_access", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                            body=body, as_server=True)
        return answer.get("status") or {}

    # -- readiness ------------------------------------------------------------------------

    def check_ready(self) -> None:
        """The API server's own readiness (etcd reached, caches synced); raises if not ready.

        `/readyz` is open to every client (the default `system:public-info-viewer` role).
        """
        self._call("check_ready", "GET", "/readyz", timeout=READY_TIMEOUT, decode=False, as_server=True)

    def served_resources(self, group_version: str) -> list[str]:
        """The resource names discovery lists for `group/version` (NotFound if none is served).

        Discovery is open to every authenticated client (the default `system:discovery` role).
        """
        path = "/apis/" + "/".join(quote(part, safe="") for part in group_version.split("/", 1))
        result = self._call("served_resources", "GET", path, timeout=READY_TIMEOUT, as_server=True)
        return [str(item.get("name", "")) for item in result.get("resources") or []]

    # -- the one wrapper --------------------------------------------------------------------

    def _call(
        self,
        name: str,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Json | None = None,
        *,
        timeout: float | None = None,
        decode: bool = True,
        as_server: bool = False,
    ) -> Json:
        """Count, time, time-limit, decode and translate failures of one Kubernetes API call.

        The call is the current caller's (it impersonates them, `auth.impersonation`) unless `as_server`:
        the server's own business (reviews, readiness, its caches). `timeout` replaces the client's
        for this call; `decode=False` is for plain-text answers (`/readyz`): a success then returns `{}`.
        """
        api = self._api()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        caller = None if as_server else auth.current()
        own = self._timeout if timeout is None else timeout
        wait = self._wait(name, own)
        cut_short = wait < own  # by the request's deadline: a wait too short says nothing of the server
        query = list(query or [])
        if method in WRITES:
            query.append(("timeout", _server_timeout(name, wait)))
        started = time.perf_counter()
        outcome = "unreachable"  # no HTTP answer, unless one arrives
        probe = self._before_call(name)
        outage: str | None = "the call failed"  # why the server failed us; None once it answers
        try:
            method, url, serialized, sent, post = api.param_serialize(
                method, path, query_params=query or None, header_params=headers, body=body,
                auth_settings=["BearerToken"],
            )
            response = api.call_api(method, url, _as(caller, serialized), sent, post,
                                    _request_timeout=(min(CONNECT_TIMEOUT, wait), wait))
            try:
                data = response.read()
            finally:
                response.response.release_conn()
            outcome = "ok" if 200 <= response.status <= 299 else str(response.status)
            outage = f"it answered {response.status}" if response.status in OUTAGE_STATUSES else None
        except ApiException as exc:  # the client's own failures, e.g. a TLS handshake
            log.warning("Kubernetes API call %s failed: %s", name, exc.reason)
            outage = str(exc.reason)
            raise Unavailable(f"Kubernetes API server unavailable: {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("Kubernetes API unreachable in %s: %s", name, exc)
            cause = transport_cause(exc)
            outcome = "timeout" if cause == NO_ANSWER else outcome
            outage = _OUT_OF_TIME if cause == NO_ANSWER and cut_short else cause
            if method in WRITES and may_have_arrived(exc):
                raise DeadlineExceeded(
                    f"The Kubernetes API server did not answer the write ({cause}): it may or may not have "
                    "been carried out; read the object to learn its state.") from exc
            if outage is _OUT_OF_TIME:
                raise DeadlineExceeded(f"The request ran out of time waiting for the Kubernetes API call {name} "
                                       f"({wait:.3g} s were left of its deadline).") from exc
            raise Unavailable(f"Kubernetes API server unavailable: {cause}") from exc
        finally:
            observe_kubernetes_call(name, outcome, time.perf_counter() - started)
            if outage is None:  # every call, a probe included, settles the circuit here
                self._circuit.answered(probe)
            elif outage is _OUT_OF_TIME:  # the caller's deadline, not the server's failure
                self._circuit.released(probe)
            else:
                self._circuit.failed(probe, outage)
        if not 200 <= response.status <= 299:
            raise _error(name, response.status, _decode(data, {}))
        if not decode:
            return {}
        decoded = _decode(data, None)
        if not isinstance(decoded, dict):  # not the API server we expect (a proxy's page?)
            raise Internal(f"unreadable response from the Kubernetes API in {name}")
        return decoded

    def _before_call(self, name: str) -> bool:
        """Whether the call is the circuit's probe; `Unavailable` at once while the circuit is open."""
        try:
            return self._circuit.before_call()
        except CircuitOpen as exc:
            observe_kubernetes_call(name, "circuit_open", 0.0)
            raise Unavailable(f"Kubernetes API server unavailable: {exc.cause} "
                              f"(calls fail at once until it answers again)") from None

    def _wait(self, name: str, timeout: float) -> float:
        """How long this call may wait: its timeout, cut to what is left of the request's deadline."""
        deadline = _deadline.get()
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"The request ran out of time before the Kubernetes API call {name}: "
                                   "the Kubernetes API server is answering slowly.")
        return min(timeout, left)


class _Refused(Watch):
    """A watch the server refused at its start: its one event is the refusal."""

    def __init__(self, status: Json) -> None:
        self._status = status

    def events(self) -> Iterator[Json]:
        yield {"type": "ERROR", "object": self._status}

    def close(self) -> None:
        pass


def configured_in_cluster(env: Mapping[str, str]) -> bool:
    """Whether `from_environment` configures the client in-cluster: no KUBECONFIG, and the variables
    Kubernetes sets in every pod."""
    return not env.get("KUBECONFIG") and bool(env.get("KUBERNETES_SERVICE_HOST"))


def _unread(api: client.ApiClient, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
            wait: float) -> urllib3.BaseHTTPResponse:
    """One request of `forward` and `send`: through the client's pool, with its credentials, as
    the current caller, no retry or redirect, `wait` bounding the connection and each silence; the
    answer's body still to read."""
    _, url, own_headers, _, _ = api.param_serialize(method, target, header_params={}, auth_settings=["BearerToken"])
    return api.rest_client.pool_manager.request(
        method, url, body=body, headers=_as(auth.current(), {**own_headers, **headers}), preload_content=False,
        timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, wait), read=wait), redirect=False, retries=False)


def _as(caller: auth.Caller | None, headers: Mapping[str, str]) -> Mapping[str, str]:
    """A call's headers, plus the caller's impersonation if any (a header may repeat: groups)."""
    impersonation = auth.impersonation(caller)
    if not impersonation:
        return headers
    combined = urllib3.HTTPHeaderDict(headers)
    for name, value in impersonation:
        combined.add(name, value)
    return combined


def _server_timeout(name: str, wait: float) -> str:
    """The `timeout` a write asks of the API server: shorter than our wait by `WRITE_MARGIN`, so that
    the server has given up on a write (and says so) before we stop waiting for its answer."""
    seconds = math.floor(wait - WRITE_MARGIN)
    if seconds < 1:
        raise DeadlineExceeded(f"The request ran out of time before the Kubernetes API call {name}: "
                               "too little was left to make a write and learn its outcome.")
    return f"{seconds}s"


def _load_kubeconfig(path: str, configuration: client.Configuration) -> None:
    config.load_kube_config(config_file=path, client_configuration=configuration, persist_config=False)


def _decode(data: bytes | None, default: Any) -> Any:
    try:
        with _gc_paused():
            return json.loads(data) if data else {}
    except ValueError:
        return default


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a response is decoded.

    Decoding a list of 1000 RayClusters (4 MB) creates about a million containers, none of
    them garbage, and the collector rescans them again and again as they pile up: json.loads
    took 875 ms with it and 185 ms without. The pause is counted across threads, so the
    collector resumes when the last concurrent decode ends (and only if it was on before).
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _path(prefix: str, ns: str | None, plural: str, name: str = "") -> str:
    """Every name is quoted as one segment: a name can never reach another path."""
    scope = "" if ns is None else f"/namespaces/{quote(ns, safe='')}"
    path = f"{prefix}{scope}/{plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


def _core(ns: str | None, plural: str, name: str = "") -> str:
    return _path(CORE, ns, plural, name)


def _group(kind: CustomResource) -> str:
    return f"/apis/{kind.group}/{kind.version}"


def _custom(kind: CustomResource, ns: str | None, name: str = "") -> str:
    return _path(_group(kind), ns, kind.plural, name)


def _error(name: str, status: int, body: Any) -> ApiError:
    """Kubernetes' own Status message says best what went wrong (it names the field)."""
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    message = message or f"HTTP {status}"
    if status == 409 and isinstance(body, dict) and body.get("reason") == "Conflict":
        return Conflict(message)  # a write based on a resourceVersion that is no longer current
    error = _BY_STATUS.get(status)
    if error is not None:
        return error(message)
    if status == 401:
        log.error("Kubernetes API rejected our credentials in %s: %s", name, message)
        return Unavailable("Kubernetes API server rejected the server's credentials")
    if status >= 500:
        log.warning("Kubernetes API call %s failed (%s): %s", name, status, message)
        return Unavailable(f"Kubernetes API server unavailable: {message}")
    log.error("Kubernetes API call %s failed with %s: %s", name, status, message)
    return Internal(f"Kubernetes API call failed: {message}")
