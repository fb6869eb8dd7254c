"""The gateway to the Ray dashboards' Jobs REST API: the only module that calls a dashboard.

Job submissions go to the dashboard on the head of a RayCluster (app/services/job_submissions.py
finds its address). Each call is bounded: in time (a connect timeout, and one deadline for the
whole answer, however slowly it arrives) and in memory (an answer larger than `ANSWER_LIMIT` is
refused; a log is read to its end keeping only its last `log_limit` bytes). No retries: a submit
sent twice would run the job twice. A dashboard that cannot be reached, or does not answer in
time, is `Unavailable` (503, code 14); any HTTP answer is returned for the service to read, since
what a 404 means depends on the call. Every call is counted in the metrics
(`kuberay_api_dashboard_requests`).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import urllib3

from app.errors import Internal, Unavailable
from app.observability import observe_dashboard_call
from app.settings import DEFAULT_JOB_LOG_LIMIT
from app.transport import NO_ANSWER, transport_cause
from app.types import Json

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0  # seconds one call may take, answer included
CONNECT_TIMEOUT = 5.0
ANSWER_LIMIT = 32 * 1024 * 1024  # bytes of any answer but a log's: a list of thousands of jobs fits
CHUNK = 64 * 1024
POOL_SIZE = 8  # kept-alive connections per dashboard


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
    """One connection pool for every dashboard the process calls; thread-safe."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log_limit: int = DEFAULT_JOB_LOG_LIMIT) -> None:
        self._timeout = timeout
        self.log_limit = log_limit
        self._pool = urllib3.PoolManager(maxsize=POOL_SIZE, retries=urllib3.Retry(total=0, redirect=0))

    def call(self, name: str, base: str, method: str, path: str, body: Json | None = None,
             *, tail: bool = False) -> Answer:
        """`method base+path` with a JSON body; `tail` keeps only the answer's last `log_limit` bytes."""
        url = base + path
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout
        outcome = "unreachable"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        try:
            response = self._pool.request(
                method, url, body=data, headers=headers, preload_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, self._timeout), read=self._timeout),
            )
            try:
                answer = self._read(response, deadline, self.log_limit if tail else 0)
            except BaseException:
                response.close()  # never hand a half-read connection back to the pool
                raise
            finally:
                response.release_conn()
            outcome = "ok" if answer.ok else str(answer.status)
        except (urllib3.exceptions.HTTPError, OSError, _TooLate) as exc:
            reason = _reason(exc)
            outcome = "timeout" if reason == NO_ANSWER else "unreachable"
            log.warning("Ray dashboard call %s to %s failed: %s", name, url, exc)
            raise Unavailable(f"The Ray dashboard at {base} cannot be reached: {reason}.") from exc
        except _TooLarge:
            outcome = "too_large"
            raise Internal(f"The Ray dashboard at {base} sent an answer larger than {ANSWER_LIMIT} bytes.") from None
        finally:
            observe_dashboard_call(name, outcome, time.perf_counter() - started)
        return answer

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


def _reason(exc: Exception) -> str:
    """A short cause for the client: the transport's, or that the name of the dashboard's host does
    not resolve (the usual fault of a dashboard address template), or that the answer was too slow."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return "its name does not resolve"
    if isinstance(cause, _TooLate):
        return NO_ANSWER
    return transport_cause(exc)
