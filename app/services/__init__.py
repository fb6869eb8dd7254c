"""The service layer: API dicts in and out, Kubernetes behind `app.k8s`, never HTTP.

`Services.build` makes every service once over one gateway; `create_app` hands the result to
the HTTP handlers, and any other front (gRPC) can use the same object without Flask.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.k8s import K8s
from app.services.clusters import RayClusters
from app.services.compute_templates import ComputeTemplates
from app.services.jobs import RayJobs
from app.services.rayservices import RayServices


@dataclass(frozen=True)
class Services:
    """Everything a front may call, sharing one Kubernetes gateway."""

    compute_templates: ComputeTemplates
    clusters: RayClusters
    jobs: RayJobs
    rayservices: RayServices

    @classmethod
    def build(cls, k8s: K8s) -> Services:
        templates = ComputeTemplates(k8s)
        return cls(
            compute_templates=templates,
            clusters=RayClusters(k8s, templates),
            jobs=RayJobs(k8s, templates),
            rayservices=RayServices(k8s, templates),
        )


__all__ = ["ComputeTemplates", "RayClusters", "RayJobs", "RayServices", "Services"]
