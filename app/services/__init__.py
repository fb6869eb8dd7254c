"""The service layer: API dicts in and out, Kubernetes behind `app.k8s`, never HTTP.

`Services.build` makes every service once over one gateway; `create_app` hands the result to
the HTTP handlers, and any other front (gRPC) can use the same object without Flask.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.dashboard import Dashboard
from app.k8s import K8s
from app.services.clusters import CLUSTERS
from app.services.compute_templates import ComputeTemplates
from app.services.job_submissions import JobSubmissions
from app.services.jobs import JOBS
from app.services.rayservices import RAYSERVICES, RayServices
from app.services.resource import ManagedResource
from app.settings import DEFAULT_DASHBOARD_URL
from app.types import Cluster, RayJob
from app.validation import Limits


@dataclass(frozen=True)
class Services:
    """Everything a front may call, sharing one Kubernetes gateway."""

    compute_templates: ComputeTemplates
    clusters: ManagedResource[Cluster]
    jobs: ManagedResource[RayJob]
    rayservices: RayServices
    job_submissions: JobSubmissions

    @classmethod
    def build(cls, k8s: K8s, limits: Limits, dashboard: Dashboard | None = None,
              dashboard_url: str = DEFAULT_DASHBOARD_URL) -> Services:
        """`limits` are the administrator's ceilings (settings), applied to every request;
        `dashboard_url` is where a cluster's Ray dashboard answers (settings, a template)."""
        templates = ComputeTemplates(k8s)
        clusters = ManagedResource(k8s, templates, CLUSTERS, limits)
        return cls(
            compute_templates=templates,
            clusters=clusters,
            jobs=ManagedResource(k8s, templates, JOBS, limits),
            rayservices=RayServices(k8s, templates, RAYSERVICES, limits),
            job_submissions=JobSubmissions(clusters, dashboard or Dashboard(), dashboard_url),
        )


__all__ = ["ComputeTemplates", "JobSubmissions", "ManagedResource", "RayServices", "Services"]
