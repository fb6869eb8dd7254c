"""Ray jobs: RayJob custom resources labelled as managed by kuberay-apiserver.

Unlike clusters and services, jobs are answered without events (as upstream).
"""
from __future__ import annotations

from app.constants import MANAGED_SELECTOR, RAYJOB
from app.errors import AlreadyExists
from app.k8s import K8s
from app.services.common import Json, in_namespace, page, read_managed, read_templates
from app.translate.jobs import to_api_job, to_rayjob
from app.validation import check_job, referenced_templates


class JobService:
    """RayJob operations in API terms; knows Kubernetes, never HTTP."""

    def __init__(self, k8s: K8s) -> None:
        self._k8s = k8s

    def create(self, namespace: str, job: Json) -> Json:
        """Templates are read only for a job that brings its own cluster (not for a selector)."""
        job = in_namespace(job, namespace)
        check_job(job, namespace)
        spec = job.get("clusterSpec")
        names = referenced_templates(spec) if spec else []
        rayjob = to_rayjob(job, read_templates(self._k8s, namespace, names))
        try:
            created = self._k8s.create_object(RAYJOB, namespace, rayjob)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"Job {job['name']} already exists in namespace {namespace}"
            ) from exc
        return to_api_job(created)

    def get(self, namespace: str, name: str) -> Json:
        return to_api_job(read_managed(self._k8s, RAYJOB, namespace, name, "Job"))

    def list(self, namespace: str, limit: int = 0, continue_token: str = "") -> Json:
        return self._list(namespace, limit, continue_token)

    def list_all(self, limit: int = 0, continue_token: str = "") -> Json:
        return self._list(None, limit, continue_token)

    def delete(self, namespace: str, name: str) -> Json:
        """The operator then removes the job's own cluster and submitter."""
        read_managed(self._k8s, RAYJOB, namespace, name, "Job")
        self._k8s.delete_object(RAYJOB, namespace, name)
        return {}

    def _list(self, namespace: str | None, limit: int, continue_token: str) -> Json:
        result = self._k8s.list_objects(RAYJOB, namespace, MANAGED_SELECTOR, limit, continue_token)
        jobs = [to_api_job(item) for item in result.get("items") or []]
        return page("jobs", jobs, "continue", result.get("metadata", {}).get("continue", ""))
