"""The gateway to the Ray dashboards' Jobs REST API: the only module that calls a dashboard.

Job submissions go to the dashboard on the head of a RayCluster, where app/services/job_submissions.py
finds it (`DashboardAt`): at a URL, reached directly, or through the Kubernetes API server's proxy
of the cluster's head Service, sent with the server's own Kubernetes client (`ApiServer`, which
app/k8s is) as the current caller. Each call is bounded alike on either route: in time (a
connect timeout, and one deadline for the whole answer, however slowly it arrives) and in memory
(an answer larger than `ANSWER_LIMIT` is refused; a log is read to its end keeping only its last
`log_limit` bytes). No retries: a submit sent twice would run the job twice. A dashboard that
cannot be reached, or does not answer in time, is `Unavailable` (503, code 14); through the API
server, so is an answer that is Kubernetes' own rather than the dashboard's (a `Status`: the
Service absent or without endpoints), but a refusal of the caller, which is `Forbidden`. A call
that `creates` (a submit) whose request may have arrived but whose answer did not (no answer in
time, the connection broken after sending) has an unknown outcome: `DeadlineExceeded` (504, code 4),
as Kubernetes writes are (app/k8s/gateway.py); only one never sent (no connection) is `Unavailable`. Any
answer of the dashboard's is returned for the service to read, since what a 404 means depends on
the call. Every call is counted in the metrics (`kuberay_api_dashboard_requests`).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from app.errors import ApiError, DeadlineExceeded, Forbidden, Internal, Unavailable
from app.metrics import observe_dashboard_call
from app.settings import DEFAULT_JOB_LOG_LIMIT
from app.translate.job_submissions import (
    DashboardAt,
    DirectDashboard,
    ProxiedDashboard,
    kubernetes_message,
    token_headers,
)
from app.transport import NO_ANSWER, may_have_arrived, transport_cause
from app.types import Json

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds one call may take, answer included
CONNECT_TIMEOUT = 5.0
ANSWER_LIMIT = 32 * 1024 * 1024  # bytes of any answer but a log's: a list of thousands of jobs fits
CHUNK = 64 * 1024
POOL_SIZE = 8  # kept-alive connections per dashboard
PROXY_CALL = "dashboard_proxy"  # the name the Kubernetes API calls through the service proxy are counted by


class ApiServer(Protocol):
    """The Kubernetes API server, as the server's own client reaches it (app/k8s, `K8s.send`)."""

    def send(self, name: str, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float) -> urllib3.BaseHTTPResponse:
        """The answer, unread, whatever its status; `Unavailable` when the API server cannot be
        reached, `DeadlineExceeded` when it does not answer within `timeout`."""


@dataclass(frozen=True)
class Answer:
    """A dashboard's HTTP answer; `cut` bytes were dropped from the start of `body` (tail reads)."""

    status: int
    body: bytes
    cut: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def json(self) -> Any:
        """The decoded body; None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Dashboard:
    """One connection pool for every dashboard the process reaches directly (those reached through
    the API server share its client's pool); thread-safe."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log_limit: int = DEFAULT_JOB_LOG_LIMIT,
                 api_server: ApiServer | None = None) -> None:
        self._timeout = timeout
        self.log_limit = log_limit
        self._api_server = api_server
        self._pool = urllib3.PoolManager(maxsize=POOL_SIZE, retries=urllib3.Retry(total=0, redirect=0))

    def call(self, name: str, where: DashboardAt, method: str, path: str, body: Json | None = None,
             *, tail: bool = False, creates: bool = False, token: str = "") -> Answer:
        """`method path` of the dashboard `where` is, with a JSON body; `tail` keeps only the
        answer's last `log_limit` bytes; `creates`: a failure after sending leaves the outcome unknown;
        `token`: the cluster's Ray token, sent in the header the route lets through (`token_headers`)
        and nowhere else (no log line or message here names a header)."""
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout
        outcome = "unreachable"
        headers = {"Accept": "application/json", **token_headers(where, token)}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        refusal: ApiError | None = None
        try:
            response = self._send(where, method, path, headers, data)
            try:
                answer = self._read(response, deadline, self.log_limit if tail else 0)
            except BaseException:
                response.close()  # never hand a half-read connection back to the pool
                raise
            finally:
                response.release_conn()
            outcome = "ok" if answer.ok else str(answer.status)
            if isinstance(where, ProxiedDashboard) and not answer.ok:
                refusal = _kubernetes_refusal(where, answer)
                if refusal is not None:  # Kubernetes' answer: the dashboard was not reached
                    outcome = "forbidden" if isinstance(refusal, Forbidden) else "unreachable"
        except (urllib3.exceptions.HTTPError, OSError, _TooLate) as exc:
            reason = _reason(exc)
            outcome = "timeout" if reason == NO_ANSWER else "unreachable"
            log.warning("Ray dashboard call %s to the %s failed: %s", name, where.name, exc)
            if creates and (isinstance(exc, _TooLate) or may_have_arrived(exc)):
                raise _unknown_outcome(where, reason) from exc
            raise Unavailable(f"The {where.name} cannot be reached: {reason}.") from exc
        except DeadlineExceeded as exc:  # the API server took the request and did not answer in time
            outcome = "timeout"
            if creates:
                raise _unknown_outcome(where, NO_ANSWER) from exc
            raise Unavailable(f"The {where.name} cannot be reached: {NO_ANSWER}.") from exc
        except Unavailable as exc:  # the API server cannot be reached (and the circuit counted it)
            raise Unavailable(f"The {where.name} cannot be reached: {exc.message}.") from exc
        except _TooLarge:
            outcome = "too_large"
            raise Internal(f"The {where.name} sent an answer larger than {ANSWER_LIMIT} bytes.") from None
        finally:
            observe_dashboard_call(name, outcome, time.perf_counter() - started)
        if refusal is not None:
            raise refusal
        return answer

    def _send(self, where: DashboardAt, method: str, path: str, headers: Mapping[str, str],
              data: bytes | None) -> urllib3.BaseHTTPResponse:
        """The answer's status and headers, its body still to read: straight from the dashboard, or
        through the API server, with the same timeouts."""
        if isinstance(where, DirectDashboard):
            return self._pool.request(
                method, where.url + path, body=data, headers=headers, preload_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, self._timeout), read=self._timeout),
            )
        if self._api_server is None:  # a wiring fault: create_app hands the gateway in
            raise Internal("job submissions through the Kubernetes API server need its client; see the server log")
        return self._api_server.send(PROXY_CALL, method, where.path + path, headers, data, self._timeout)

    @staticmethod
    def _read(response: urllib3.BaseHTTPResponse, deadline: float, keep: int) -> Answer:
        """The body, read in chunks until the deadline: whole (up to ANSWER_LIMIT), or its last `keep` bytes."""
        body = bytearray()
        cut = 0
        while chunk := response.read(CHUNK):
            body += chunk
            if keep and len(body) > keep:
                cut += len(body) - keep
                del body[:len(body) - keep]
            elif not keep and len(body) > ANSWER_LIMIT:
                raise _TooLarge
            if time.monotonic() > deadline:
                raise _TooLate
        return Answer(response.status, bytes(body), cut)


class _TooLarge(Exception):
    """An answer beyond ANSWER_LIMIT."""


class _TooLate(Exception):
    """An answer still arriving at the call's deadline."""


def _unknown_outcome(where: DashboardAt, reason: str) -> DeadlineExceeded:
    """A submit that reached the dashboard, or may have, and got no answer: it may have run."""
    return DeadlineExceeded(f"The {where.name} did not answer the job submission ({reason}): the job may or may "
                            "not have been submitted; list the cluster's job submissions to learn whether it was.")


def _kubernetes_refusal(where: ProxiedDashboard, answer: Answer) -> ApiError | None:
    """The error for an answer through the service proxy that is Kubernetes' own, not the
    dashboard's: never to be read as the dashboard's (a Kubernetes 404 is no unknown job). A refusal
    of the caller is theirs to see; anything else means the dashboard was not reached."""
    message = kubernetes_message(answer.body)
    if message is None:
        return None
    if answer.status == 403:
        return Forbidden(message)
    log.warning("the Kubernetes API server's service proxy answered %s for the %s: %s", answer.status,
                where.name, message)
    return Unavailable(f"The {where.name} cannot be reached: the Kubernetes API server's service proxy "
                       f"answered {answer.status}: {message}.")


def _reason(exc: Exception) -> str:
    """A short cause for the client: the transport's, or that the name of the dashboard's host does
    not resolve (the usual fault of a dashboard address template), or that the answer was too slow."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return "its name does not resolve"
    if isinstance(cause, _TooLate):
        return NO_ANSWER
    return transport_cause(exc)
