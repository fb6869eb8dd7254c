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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from app.auth import Access, Attributes
from app.dashboard import Answer, Dashboard
from app.errors import FailedPrecondition, Internal, InvalidInput, NotFound, Unavailable
from app.services.resource import ManagedResource
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

    def unknown(self, submission_id: str) -> NotFound:
        return NotFound(f"Job submission {submission_id} not found in cluster {self.cluster} "
                        f"of namespace {self.namespace}")


class JobSubmissions:
    """The six calls of upstream's RayJobSubmissionService."""

    def __init__(self, clusters: ManagedResource[Cluster], dashboard: Dashboard, route: DashboardRoute,
                 access: Access | None = None) -> None:
        self._clusters = clusters
        self._dashboard = dashboard
        self._route = route
        self._access = access

    def submit(self, namespace: str, cluster: str, submission: Json) -> Json:
        """Checked before anything is sent; the dashboard's id comes back, or the one asked for."""
        check_submission(submission)
        target = self._target(namespace, cluster, "create")
        answer = self._dashboard.call("submit", target.where, "POST", JOBS, to_dashboard(submission), creates=True)
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
        answer = self._dashboard.call("list_jobs", target.where, "GET", JOBS)
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
        answer = self._dashboard.call(name, target.where, method, job_path(submission_id, suffix), tail=tail)
        if answer.status == 404:
            raise target.unknown(submission_id)
        if not answer.ok:
            raise _refusal(answer, target, f"The Ray dashboard refused: {dashboard_message(answer.body)}")
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
        return _Dashboard(namespace, cluster, dashboard_at(obj, self._route))


Decoded = TypeVar("Decoded", dict, list)  # type: ignore[type-arg]


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
