"""Ray clusters: RayCluster custom resources managed by this server, answered with their events."""
from __future__ import annotations

from datetime import UTC, datetime

from app.constants import RAYCLUSTER
from app.k8s import K8s
from app.services.compute_templates import ComputeTemplates
from app.services.resource import EventSource, ManagedResource, ResourceKind, in_namespace, own_name
from app.translate.cluster import referenced_templates, to_api_cluster, to_raycluster
from app.types import Json
from app.validation import check_cluster

CLUSTERS = ResourceKind(
    resource=RAYCLUSTER, noun="Cluster", items_key="clusters", token_key="continue",
    to_api=to_api_cluster, events=(EventSource(RAYCLUSTER.kind, own_name),),
)


class RayClusters(ManagedResource):
    def __init__(self, k8s: K8s, templates: ComputeTemplates) -> None:
        super().__init__(k8s, CLUSTERS)
        self._templates = templates

    def create(self, namespace: str, cluster: Json) -> Json:
        """Everything that can refuse the request runs before the single write."""
        cluster = in_namespace(cluster, namespace)
        check_cluster(cluster, namespace)
        templates = self._templates.referenced(namespace, referenced_templates(cluster["clusterSpec"]))
        return self._create(namespace, to_raycluster(cluster, templates, datetime.now(UTC)))
