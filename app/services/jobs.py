"""Ray jobs: RayJob custom resources managed by this server, answered without events (as upstream)."""
from __future__ import annotations

from app.constants import RAYJOB
from app.k8s import K8s
from app.services.compute_templates import ComputeTemplates
from app.services.resource import ManagedResource, ResourceKind, in_namespace
from app.translate.cluster import referenced_templates
from app.translate.jobs import to_api_job, to_rayjob
from app.types import Json
from app.validation import check_job


def _to_api(rayjob: Json, _events: list[Json]) -> Json:
    return to_api_job(rayjob)


JOBS = ResourceKind(resource=RAYJOB, noun="Job", items_key="jobs", token_key="continue", to_api=_to_api)


class RayJobs(ManagedResource):
    def __init__(self, k8s: K8s, templates: ComputeTemplates) -> None:
        super().__init__(k8s, JOBS)
        self._templates = templates

    def create(self, namespace: str, job: Json) -> Json:
        """Templates are read only for a job that brings its own cluster (not for a selector).
        The operator removes the job's own cluster and submitter when the job is deleted."""
        job = in_namespace(job, namespace)
        check_job(job, namespace)
        templates = self._templates.referenced(namespace, referenced_templates(job.get("clusterSpec")))
        return self._create(namespace, to_rayjob(job, templates))
