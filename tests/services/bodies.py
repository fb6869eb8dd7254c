"""The requests the service-layer tests send, and the kinds they send them to."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.services import ManagedResource, Services
from app.types import Cluster, ClusterSpec, ComputeTemplate, RayCronJob, RayJob, RayService

NS = "team"  # the namespaces the fake API server holds
OTHER = "elsewhere"
TEMPLATE = "small"  # the compute template of NS
IMAGE = "rayproject/ray:2.9.0"


def template(name: str = TEMPLATE) -> ComputeTemplate:
    return {"name": name, "cpu": 1, "memory": 2}


def _spec() -> ClusterSpec:
    """One head, one worker group, both of the compute template `TEMPLATE`."""
    return {
        "headGroupSpec": {"computeTemplate": TEMPLATE, "image": IMAGE, "rayStartParams": {"dashboard-host": "0.0.0.0"}},
        "workerGroupSpec": [{"groupName": "workers", "computeTemplate": TEMPLATE, "image": IMAGE, "replicas": 1,
                             "minReplicas": 0, "maxReplicas": 2, "rayStartParams": {}}],
    }


def cluster(name: str) -> Cluster:
    return {"name": name, "user": "ada", "clusterSpec": _spec()}


def job(name: str) -> RayJob:
    return {"name": name, "user": "ada", "entrypoint": "python -c 'print(1)'", "clusterSpec": _spec()}


def cronjob(name: str) -> RayCronJob:
    return {"name": name, "user": "ada", "entrypoint": "python -c 'print(1)'", "clusterSpec": _spec(),
            "schedule": "*/10 * * * *", "timeZone": "Europe/Paris"}


def service(name: str, serve_config: str = "applications: []\n") -> RayService:
    return {"name": name, "user": "ada", "serveConfigV2": serve_config, "clusterSpec": _spec()}


@dataclass(frozen=True)
class Kind:
    """One managed custom resource, as the tests reach it."""

    attribute: str  # of Services
    body: Callable[[str], Any]  # the request creating an object of this name (Cluster, RayJob, RayService)

    def of(self, services: Services) -> ManagedResource[Any]:
        resource: ManagedResource[Any] = getattr(services, self.attribute)
        return resource


KINDS = [Kind("clusters", cluster), Kind("jobs", job), Kind("rayservices", service), Kind("cronjobs", cronjob)]
