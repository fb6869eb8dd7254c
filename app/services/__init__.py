"""The service layer: one class per resource, API dicts in and out, Kubernetes behind `app.k8s`.

Services hold the rules and the order of Kubernetes calls; they never see HTTP (handlers do)
and never build a client (`create_app` hands one in through `Services.build`).
"""
from __future__ import annotations

from dataclasses import dataclass

from app.k8s import K8s
from app.services.clusters import ClusterService
from app.services.compute_templates import ComputeTemplateService
from app.services.jobs import JobService
from app.services.services import RayServiceService


@dataclass(frozen=True)
class Services:
    """Everything the handlers may call, sharing one Kubernetes gateway."""

    compute_templates: ComputeTemplateService
    clusters: ClusterService
    jobs: JobService
    services: RayServiceService

    @classmethod
    def build(cls, k8s: K8s) -> Services:
        return cls(
            compute_templates=ComputeTemplateService(k8s),
            clusters=ClusterService(k8s),
            jobs=JobService(k8s),
            services=RayServiceService(k8s),
        )


__all__ = [
    "ClusterService",
    "ComputeTemplateService",
    "JobService",
    "RayServiceService",
    "Services",
]
