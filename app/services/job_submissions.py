"""Job submissions: jobs run through the Ray dashboard of a cluster this server manages.

Nothing is written to Kubernetes. Each call reads the RayCluster (absent or not managed: 404),
requires it to be ready (409, code 9: its head runs the dashboard), and, when callers are
authorised by Kubernetes (app/auth.py), requires the caller to hold the right the same call would
need through Kubernetes' own way to the dashboard, the head Service's proxy (`services/proxy`:
get for reads, create for a submit or stop, delete for a delete); then it makes the matching call
of the dashboard's Jobs REST API (app/dashboard.py), where the server's route finds it (a URL
template, or the Kubernetes API server's service proxy: app/translate/job_submissions.py). What
the dashboard answers is mapped here: an unknown submission 404, its own refusals 400 with its
message, its failures 503; a submit whose answer never came 504 (app/dashboard.py: it may have run).

A cluster with Ray token authentication (`spec.authOptions.mode: token`, KubeRay 1.6) runs a
dashboard that refuses every request without its token: each call then reads the token from the
Secret the cluster names (or the one the operator makes for it), key `auth_token`, and sends it
(app/translate/job_submissions.py, `token_headers`). The Secret is read with the server's own
rights, not the caller's: the caller has already been checked for the head Service's proxy, which
reaches the same dashboard; nothing of the Secret's value reaches an answer or a log. A Secret the
server cannot read (absent, without the key, or forbidden to it) is 503 naming it or the missing
permission; a dashboard that refuses the token, or asks for one the cluster does not declare, is
503 naming that cause, never 400 (the request was not at fault).
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import TypeVar

from app.auth import Access, Attributes
from app.dashboard import Answer, Dashboard
from app.errors import FailedPrecondition, Forbidden, Internal, InvalidInput, NotFound, Unavailable
from app.services.gateway import Gateway
from app.services.resource import ManagedResource
from app.translate.cluster.auth import TOKEN_KEY, token_secret
from app.translate.job_submissions import (
    JOBS,
    DashboardAt,
    DashboardRoute,
    dashboard_at,
    dashboard_message,
    head_service,
    is_refusal,
    is_terminal,
    job_path,
    log_text,
    submission_info,
    submission_list,
    to_dashboard,
)
from app.types import Cluster, Json
from app.validation.job_submissions import check_submission

CUT_NOTE = ("[kuberay-api: the beginning of this log is not shown: the log is longer than the server "
            "keeps for one answer ({limit} bytes, KUBERAY_API_JOB_LOG_LIMIT)]\n")


@dataclass(frozen=True)
class _Dashboard:
    """The dashboard of one managed, ready cluster."""

    namespace: str
    cluster: str
    where: DashboardAt
    secret: str | None = None  # the Secret holding the cluster's Ray token; None: Ray runs without one
    token: str = field(default="", repr=False)  # its value: never shown

    def unknown(self, submission_id: str) -> NotFound:
        return NotFound(f"Job submission {submission_id} not found in cluster {self.cluster} "
                        f"of namespace {self.namespace}")


class JobSubmissions:
    """The six calls of upstream's RayJobSubmissionService."""

    def __init__(self, clusters: ManagedResource[Cluster], dashboard: Dashboard, route: DashboardRoute,
                 access: Access | None = None, secrets: Gateway | None = None) -> None:
        """`secrets` reads the Ray tokens of clusters with token authentication (None: such a
        cluster's calls are 503, saying the server has no way to read its token)."""
        self._clusters = clusters
        self._dashboard = dashboard
        self._route = route
        self._access = access
        self._secrets = secrets

    def submit(self, namespace: str, cluster: str, submission: Json) -> Json:
        """Checked before anything is sent; the dashboard's id comes back, or the one asked for."""
        check_submission(submission)
        target = self._target(namespace, cluster, "create")
        answer = self._call(target, "submit", "POST", JOBS, to_dashboard(submission), creates=True)
        if not answer.ok:
            raise _refusal(answer, target, f"The Ray dashboard refused the job: {dashboard_message(answer.body)}")
        decoded = _decoded(answer, target, dict)
        submission_id = decoded.get("submission_id") or decoded.get("job_id") or ""
        return {"submissionId": str(submission_id)} if submission_id else {}

    def get(self, namespace: str, cluster: str, submission_id: str) -> Json:
        target = self._target(namespace, cluster, "get")
        return submission_info(self._record(target, submission_id))

    def list(self, namespace: str, cluster: str) -> Json:
        """Every job the dashboard knows, in any state; a dashboard without the jobs API has none."""
        target = self._target(namespace, cluster, "get")
        answer = self._call(target, "list_jobs", "GET", JOBS)
        if answer.status == 404:
            return {}
        if not answer.ok:
            raise _refusal(answer, target, f"The Ray dashboard refused to list jobs: {dashboard_message(answer.body)}")
        return submission_list(_decoded(answer, target, list))

    def log(self, namespace: str, cluster: str, submission_id: str) -> Json:
        """The whole log, or its end when longer than the server keeps (with a note saying so)."""
        target = self._target(namespace, cluster, "get")
        answer = self._job_call(target, "job_logs", submission_id, "GET", "/logs", tail=True)
        text = log_text(answer.body, answer.cut)
        if text is None:
            raise _unreadable(answer, target)
        if answer.cut:
            text = CUT_NOTE.format(limit=self._dashboard.log_limit) + text
        return {"log": text} if text else {}

    def stop(self, namespace: str, cluster: str, submission_id: str) -> Json:
        """Done when the dashboard stopped the job, or when it had already finished."""
        target = self._target(namespace, cluster, "create")
        answer = self._job_call(target, "stop_job", submission_id, "POST", "/stop")
        if _decoded(answer, target, dict).get("stopped") is True:
            return {}
        record = self._record(target, submission_id)
        if is_terminal(record):
            return {}
        raise Unavailable(f"The Ray dashboard did not stop job submission {submission_id} "
                          f"(status {record.get('status') or 'unknown'}); try again.")

    def delete(self, namespace: str, cluster: str, submission_id: str) -> Json:
        """The dashboard deletes only finished jobs: stop a running one first."""
        self._job_call(self._target(namespace, cluster, "delete"), "delete_job", submission_id, "DELETE", "")
        return {}

    def _record(self, target: _Dashboard, submission_id: str) -> Json:
        return _decoded(self._job_call(target, "get_job", submission_id, "GET", ""), target, dict)

    def _job_call(self, target: _Dashboard, name: str, submission_id: str, method: str, suffix: str,
                  *, tail: bool = False) -> Answer:
        """A call about one job: 404 names the submission, other refusals carry the dashboard's message.
        An id the route cannot carry as one segment of the path names no job there."""
        if not target.where.carries(submission_id):
            raise target.unknown(submission_id)
        answer = self._call(target, name, method, job_path(submission_id, suffix), tail=tail)
        if answer.status == 404:
            raise target.unknown(submission_id)
        if not answer.ok:
            raise _refusal(answer, target, f"The Ray dashboard refused: {dashboard_message(answer.body)}")
        return answer

    def _call(self, target: _Dashboard, name: str, method: str, path: str, body: Json | None = None,
              *, tail: bool = False, creates: bool = False) -> Answer:
        """One call of the dashboard, with the cluster's token when it has one; a refusal for want of
        the right token (401, 403: Ray's token authentication) is the server's to explain, not the caller's."""
        answer = self._dashboard.call(name, target.where, method, path, body, tail=tail, creates=creates,
                                      token=target.token)
        if answer.status in (401, 403):
            raise _token_refusal(answer, target)
        return answer

    def _target(self, namespace: str, cluster: str, verb: str) -> _Dashboard:
        """The dashboard of a managed, ready cluster, which the caller may `verb` through its head
        Service's proxy."""
        obj = self._clusters.read(namespace, cluster)
        if self._access is not None:
            self._access.check(Attributes(namespace, "", "services", verb, "proxy", head_service(obj)))
        state = str((obj.get("status") or {}).get("state") or "")
        if state.lower() != "ready":
            raise FailedPrecondition(
                f"Cluster {cluster} in namespace {namespace} is not ready (state: {state or 'none yet'}): "
                "jobs are submitted to the Ray dashboard on its head, which serves once the cluster is ready.")
        secret = token_secret(obj)
        token = self._token(namespace, cluster, secret) if secret else ""
        return _Dashboard(namespace, cluster, dashboard_at(obj, self._route), secret, token)

    def _token(self, namespace: str, cluster: str, secret: str) -> str:
        """The cluster's Ray token, from key `auth_token` of its Secret, read as the server itself."""
        cannot = f"Cannot read the Ray token of cluster {cluster} (it runs with Ray token authentication)"
        if self._secrets is None:  # a wiring fault: Services.build hands the gateway in
            raise Unavailable(f"{cannot}: this server was built without a way to read Secrets.")
        try:
            found = self._secrets.get_secret(namespace, secret)
        except NotFound:
            raise Unavailable(f"{cannot}: Secret {secret} in namespace {namespace} does not exist (the KubeRay "
                              "operator makes it for a cluster that names no secretName; a cluster that "
                              "names one needs its user to make it).") from None
        except Forbidden:
            raise Unavailable(f"{cannot}: this server may not read Secret {secret}: it needs `get` on `secrets` "
                              f"in namespace {namespace} (the chart's value rayTokenAuth grants it).") from None
        encoded = (found.get("data") or {}).get(TOKEN_KEY)
        try:
            token = base64.b64decode(str(encoded or ""), validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            token = ""
        if not token:
            raise Unavailable(f"{cannot}: Secret {secret} in namespace {namespace} has no key {TOKEN_KEY} "
                              "holding a token.")
        if not _HEADER_SAFE.fullmatch(token):
            raise Unavailable(f"{cannot}: the token in key {TOKEN_KEY} of Secret {secret} in namespace {namespace} "
                              "holds characters an HTTP header cannot carry (a line break?).")
        return token


Decoded = TypeVar("Decoded", dict, list)  # type: ignore[type-arg]
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a header value carries as it is


def _token_refusal(answer: Answer, target: _Dashboard) -> Unavailable:
    """A dashboard that refuses the request for its token: the cluster's token is not Ray's (or Ray
    wants one the cluster does not declare). Ray's own text is passed on, any echo of the token cut."""
    said = dashboard_message(answer.body)
    if target.token:
        said = said.replace(target.token, "[the token]")
    if target.secret is not None:
        return Unavailable(f"The Ray dashboard refused the cluster's token: the {target.where.name} answered "
                           f"{answer.status} ({said}) to the token in key {TOKEN_KEY} of Secret {target.secret} "
                           f"in namespace {target.namespace}; is it the token the cluster's Ray was started with?")
    return Unavailable(f"The Ray dashboard requires a token: the {target.where.name} answered {answer.status} "
                       f"({said}), and cluster {target.cluster} does not run with Ray token authentication as far as "
                       "its RayCluster says (spec.authOptions.mode is not token), so this server sends none.")


def _decoded(answer: Answer, target: _Dashboard, kind: type[Decoded]) -> Decoded:
    """A successful answer's JSON, of the kind the call answers; anything else is not Ray's answer."""
    decoded = answer.json()
    if not isinstance(decoded, kind):
        raise _unreadable(answer, target)
    return decoded


def _unreadable(answer: Answer, target: _Dashboard) -> Internal:
    return Internal(f"The {target.where.name} answered {answer.status} with a body this server "
                    "cannot read (is it a Ray dashboard?).")


def _refusal(answer: Answer, target: _Dashboard, message: str) -> Exception:
    """The dashboard's refusal of the request is 400 with its message; its own failure is 503."""
    if is_refusal(answer.status, answer.body):
        return InvalidInput(message)
    return Unavailable(f"The {target.where.name} failed ({answer.status}): "
                       f"{dashboard_message(answer.body)}")
