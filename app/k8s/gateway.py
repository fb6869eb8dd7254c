"""The gateway's face: `K8s`, one method per question the application asks of Kubernetes.

Each method names its call, builds its path, and reads the outcome of its one exchange
(app/k8s/exchange.py) its own way: a plain call (`_call`) decodes the answer and turns a refusal
into an `ApiError` (app/k8s/status.py); `watch` and `forward` hand back the answer still being
read (app/k8s/streams.py); `send` hands back the urllib3 answer itself (app/dashboard.py reads it).
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3

from app import auth
from app.circuit import Circuit
from app.constants import CustomResource
from app.errors import DeadlineExceeded, Unavailable
from app.k8s import deadline
from app.k8s.connection import Configure, Connection, configured_in_cluster, from_environment, from_kubeconfig
from app.k8s.exchange import CALLS, FORWARDS, SENDS, WATCHES, Exchanged, Outcome, exchange
from app.k8s.paths import EVENTS, Collection, core_path, custom_path, discovery_path, resource_path
from app.k8s.status import error, json_object, json_value
from app.k8s.streams import Forwarded, Refused, Watch
from app.settings import Settings
from app.types import Json

log = logging.getLogger("app.k8s")  # the package's one logger, whichever module logs

DEFAULT_TIMEOUT = 5.0  # seconds of silence on a read before a call is given up
DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds all the calls of one request may take together
READY_TIMEOUT = 3.0  # readiness questions: a probe must not wait longer than the kubelet does
WRITES = ("POST", "PUT", "PATCH", "DELETE")
POD_REFUSALS = frozenset({400, 422})  # a dry run's answers that say the pod is invalid


@dataclass(frozen=True)
class _Read:
    """A plain call's answer, read whole."""

    status: int
    data: bytes


class K8s:
    """Thin, thread-safe facade over the one connection to the API server; build it once per process.

    The connection is made on first use (`connect`), the one lazy point of the application: an app
    that only validates requests needs no cluster, and a server calls `connect` at start-up so
    that a configuration it cannot use stops it there.
    """

    def __init__(self, configure: Configure, timeout: float = DEFAULT_TIMEOUT,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT, circuit: Circuit | None = None,
                 in_cluster: bool = False) -> None:
        self._configure = configure
        # Whether `configure` reads the pod's own service account: the server runs in the cluster,
        # whose DNS names it can resolve (the route to the Ray dashboards follows, app/__init__.py).
        self.in_cluster = in_cluster
        self._timeout = timeout
        self._request_timeout = request_timeout
        self._circuit = circuit or Circuit()
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> K8s:
        """`KUBERAY_API_KUBECONFIG` when set, else as upstream finds its cluster (`from_environment`)."""
        if settings.kubeconfig:
            return cls.from_kubeconfig(settings.kubeconfig, settings.k8s_timeout, settings.request_timeout)
        return cls.from_environment(env, settings.k8s_timeout, settings.request_timeout)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                         request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> K8s:
        """In-cluster unless KUBECONFIG is set, else the kubeconfig file (upstream's order)."""
        env = dict(os.environ if env is None else env)
        return cls(from_environment(env), timeout, request_timeout, in_cluster=configured_in_cluster(env))

    @classmethod
    def from_kubeconfig(cls, path: str, timeout: float = DEFAULT_TIMEOUT,
                        request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> K8s:
        """For tests and tools that point at one cluster explicitly."""
        return cls(from_kubeconfig(path), timeout, request_timeout)

    @contextmanager
    def request_scope(self, within: float | None = None) -> Iterator[None]:
        """The calls made inside share one deadline, `request_timeout` from now: a front opens one
        around each operation, so that no request waits longer, however many calls it makes.
        `within`: the seconds the caller itself still waits (a gRPC deadline), if sooner."""
        seconds = self._request_timeout if within is None else max(0.0, min(within, self._request_timeout))
        with deadline.scope(seconds):
            yield

    def connect(self) -> None:
        """Make the connection now: `Unavailable` for a configuration it cannot use."""
        self._connect()

    def _connect(self) -> Connection:
        connection = self._connection
        if connection is None:
            with self._lock:
                if self._connection is None:
                    try:
                        self._connection = Connection(self._configure())
                    except Exception as exc:  # the client's own errors: a missing or bad kubeconfig
                        log.error("cannot configure the Kubernetes client", exc_info=exc)
                        raise Unavailable(
                            f"no Kubernetes client ({type(exc).__name__}); see the server log"
                        ) from exc
                connection = self._connection
        return connection

    # -- ConfigMaps -----------------------------------------------------------------------

    def get_configmap(self, ns: str, name: str) -> Json:
        return self._call("get_configmap", "GET", core_path(ns, "configmaps", name))

    def create_configmap(self, ns: str, body: Json) -> Json:
        return self._call("create_configmap", "POST", core_path(ns, "configmaps"), body=body)

    def delete_configmap(self, ns: str, name: str) -> Json:
        return self._call("delete_configmap", "DELETE", core_path(ns, "configmaps", name))

    def list_configmaps(self, ns: str | None, label_selector: str) -> list[Json]:
        """Items only: compute templates are not paginated."""
        query = [("labelSelector", label_selector)]
        result = self._call("list_configmaps", "GET", core_path(ns, "configmaps"), query)
        return result.get("items") or []

    # -- pods: Kubernetes' own validation, before a write (app/services/pods.py) -----------

    def check_pod(self, ns: str, pod: Json) -> Json | None:
        """Whether Kubernetes would create `pod`: None if so, else its refusal, the Status of a
        400 or 422 (whose causes name the Pod's fields). A create with `dryRun=All`: validation and
        admission run, nothing is stored. Made with the server's own rights (the pods are the
        operator's to make, not the caller's), through the same exchange and circuit as any call;
        any other refusal raises (403: the identity may not create pods).
        """
        answer = self._call("check_pod", "POST", core_path(ns, "pods"), body=pod,
                            as_server=True, dry_run=True, refusals=POD_REFUSALS)
        return answer or None

    # -- custom resources -----------------------------------------------------------------

    def get_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        return self._call("get_object", "GET", custom_path(kind, ns, name))

    def create_object(self, kind: CustomResource, ns: str, body: Json) -> Json:
        return self._call("create_object", "POST", custom_path(kind, ns), body=body)

    def replace_object(self, kind: CustomResource, ns: str, name: str, body: Json) -> Json:
        return self._call("replace_object", "PUT", custom_path(kind, ns, name), body=body)

    def patch_object(self, kind: CustomResource, ns: str, name: str, patch: Json) -> Json:
        """A JSON merge patch (RFC 7386): the fields it names change in one step on the server, with
        no read-modify-write race against the operator's writes."""
        return self._call("patch_object", "PATCH", custom_path(kind, ns, name), body=patch,
                          content_type="application/merge-patch+json")

    def delete_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        """Default options, as upstream: background cascading through owner references."""
        return self._call("delete_object", "DELETE", custom_path(kind, ns, name))

    def list_objects(self, kind: CustomResource, ns: str | None, label_selector: str, limit: int = 0,
                     continue_token: str = "") -> Json:
        """The whole list object, so that callers can read `metadata.continue`."""
        query: list[tuple[str, Any]] = [("labelSelector", label_selector)]
        if limit:
            query.append(("limit", limit))
        if continue_token:
            query.append(("continue", continue_token))
        return self._call("list_objects", "GET", custom_path(kind, ns), query)

    # -- events ---------------------------------------------------------------------------

    def list_events(self, ns: str | None, field_selector: str = "") -> list[Json]:
        """events.k8s.io/v1 Events, as upstream v1.7.0 reads them."""
        query = [("fieldSelector", field_selector)] if field_selector else []
        result = self._call("list_events", "GET", resource_path(EVENTS, ns, "events"), query)
        return result.get("items") or []

    # -- watch caches ---------------------------------------------------------------------

    def list_page(self, collection: Collection, limit: int, continue_token: str = "",
                  timeout: float = 60.0) -> Json:
        """One page of a cache's LIST: the pages of one list share one snapshot."""
        query = [*collection.query(), ("limit", limit)]
        if continue_token:
            query.append(("continue", continue_token))
        return self._call("list_page", "GET", collection.path(), query, timeout=timeout, as_server=True)

    def get_member(self, collection: Collection, ns: str, name: str, timeout: float = 60.0) -> Json:
        """One object of a cache's collection, as Kubernetes holds it now (a GET is read from etcd:
        cheaper than a consistent list, which waits for the API server's own cache)."""
        path = resource_path(collection.prefix, ns, collection.plural, name)
        return self._call("get_member", "GET", path, timeout=timeout, as_server=True)

    def watch(self, collection: Collection, resource_version: str, timeout_seconds: int,
              read_timeout: float) -> Watch:
        """A watch from `resource_version`, with bookmarks, which the server ends after
        `timeout_seconds`; `read_timeout` bounds a silence (bookmarks come about every minute).

        410 Gone at the start (the version is too old: list again) is answered as the stream
        would say it, one ERROR event, so that the cache reads both alike; any other refusal raises.
        Watches are long and expected to end: they are neither counted against the circuit nor
        under a request's deadline; the cache counts their restarts. The metrics count the time
        to open one: its events come over minutes.
        """
        connection = self._connect()
        query = [*collection.query(), ("watch", "true"), ("allowWatchBookmarks", "true"),
                 ("resourceVersion", resource_version), ("timeoutSeconds", timeout_seconds)]
        result = exchange("watch", lambda: connection.open(
            "GET", collection.path(), query=query, headers={"Accept": "application/json"}, body=None,
            caller=None, wait=read_timeout), WATCHES, self._circuit)
        response = result.answer
        if response is None:
            raise Unavailable(f"Kubernetes API server unavailable: {result.cause}") from result.error
        if 200 <= response.status <= 299:
            return Watch(response)
        try:
            data = response.read()
        finally:
            response.release_conn()
        if response.status == 410:  # as the stream says it: one ERROR event
            status = json_value(data, {})
            message = status.get("message", "Gone") if isinstance(status, dict) else "Gone"
            return Refused({"kind": "Status", "code": 410, "message": str(message)})
        raise error("watch", response.status, data)

    # -- Secrets: a Ray cluster's token (job submissions, app/services/job_submissions.py) ---

    def get_secret(self, ns: str, name: str) -> Json:
        """One Secret, read with the server's own rights (not the caller's): the token of a Ray
        cluster whose dashboard the caller may already reach through its head Service's proxy. Its
        data goes to no log, metric or message here: a refusal carries Kubernetes' Status alone."""
        return self._call("get_secret", "GET", core_path(ns, "secrets", name), as_server=True)

    # -- the V2 API: requests forwarded as they came --------------------------------------

    def get_service(self, ns: str, name: str) -> Json:
        return self._call("get_service", "GET", core_path(ns, "services", name))

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                read_timeout: float | None = None) -> Forwarded:
        """Send a request with the server's credentials, as the current caller; the answer is
        Kubernetes' own, whatever its status. `target` is the path and query as Kubernetes serves
        them (the caller has checked them), `headers` the caller's to pass on. `read_timeout` bounds
        each silence (a watch's); by default the call timeout does, cut to the request's deadline.

        Only a failure to get an answer raises (`Unavailable`, `DeadlineExceeded`), and only such a
        failure counts against the circuit: a 503 may be a proxied Service's, not the API server's.
        """
        connection = self._connect()
        own = self._timeout if read_timeout is None else read_timeout
        wait = deadline.wait_for("forward", own)
        caller = auth.current()
        result = exchange("forward", lambda: connection.open(
            method, target, headers=headers, body=body, caller=caller, wait=wait), FORWARDS, self._circuit,
            cut_short=wait < own)
        if result.answer is not None:
            return Forwarded(result.answer)
        if result.outcome is Outcome.UNREACHABLE:
            raise Unavailable(f"Kubernetes API server unavailable: {result.cause}") from result.error
        unknown = " (a write: it may or may not have been carried out)" if method not in ("GET", "HEAD") else ""
        raise DeadlineExceeded(f"The Kubernetes API server did not answer in time{unknown}.") from result.error

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
        connection = self._connect()
        caller = auth.current()
        result = exchange(name, lambda: connection.open(
            method, target, headers=headers, body=body, caller=caller, wait=timeout), SENDS, self._circuit)
        if result.answer is not None:
            return result.answer
        if result.outcome is Outcome.TIMED_OUT:
            raise DeadlineExceeded(
                f"The Kubernetes API server did not answer in time ({timeout:.3g} s).") from result.error
        raise Unavailable(f"Kubernetes API server unavailable: {result.cause}") from result.error

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
        result = self._call("served_resources", "GET", discovery_path(group_version), timeout=READY_TIMEOUT,
                            as_server=True)
        return [str(item.get("name", "")) for item in result.get("resources") or []]

    # -- the plain calls ------------------------------------------------------------------

    def _call(self, name: str, method: str, path: str, query: list[tuple[str, Any]] | None = None,
              body: Json | None = None, *, timeout: float | None = None, decode: bool = True,
              as_server: bool = False, dry_run: bool = False, refusals: frozenset[int] = frozenset(),
              content_type: str = "application/json") -> Json:
        """One call, its answer read whole and decoded, a refusal raised as an `ApiError`.

        The call is the current caller's (it impersonates them, `auth.impersonation`) unless `as_server`:
        the server's own business (reviews, readiness, its caches). `timeout` replaces the gateway's
        for this call; `decode=False` is for plain-text answers (`/readyz`): a success then returns `{}`.
        A `dry_run` write (`dryRun=All`) changes nothing, so its outcome is never unknown; a success then returns `{}`,
        and an answer whose status is in `refusals` returns its body (a Status) instead of raising.
        """
        connection = self._connect()
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = orjson.dumps(body)
        caller = None if as_server else auth.current()
        own = self._timeout if timeout is None else timeout
        wait = deadline.wait_for(name, own)
        query = list(query or [])
        if dry_run:
            query.append(("dryRun", "All"))
        elif method in WRITES:
            query.append(("timeout", deadline.server_timeout(name, wait)))

        def send() -> _Read:
            response = connection.open(method, path, query=query, headers=headers, body=payload, caller=caller,
                                       wait=wait)
            try:
                return _Read(response.status, response.read())
            finally:
                response.release_conn()

        result = exchange(name, send, CALLS, self._circuit, cut_short=wait < own)
        answer = result.answer
        if answer is None:
            raise _no_answer(name, method, wait, result, not dry_run) from result.error
        if answer.status in refusals:
            return json_object(name, answer.data)
        if not 200 <= answer.status <= 299:
            raise error(name, answer.status, answer.data)
        return json_object(name, answer.data) if decode and not dry_run else {}


def _no_answer(name: str, method: str, wait: float, result: Exchanged[Any], writes: bool) -> Exception:
    """A write that may have arrived has an unknown outcome; a wait that the request's deadline cut
    short ran out of the caller's time; anything else, the server is unavailable."""
    if writes and method in WRITES and result.sent:
        return DeadlineExceeded(
            f"The Kubernetes API server did not answer the write ({result.cause}): it may or may not have "
            "been carried out; read the object to learn its state.")
    if result.outcome is Outcome.CUT:
        return DeadlineExceeded(f"The request ran out of time waiting for the Kubernetes API call {name} "
                                f"({wait:.3g} s were left of its deadline).")
    return Unavailable(f"Kubernetes API server unavailable: {result.cause}")
