"""Ray clusters: RayCluster custom resources managed by this server, answered with their events."""
from __future__ import annotations

from app.constants import RAYCLUSTER
from app.services.resource import EventSource, ResourceKind
from app.translate.cluster import to_api_cluster, to_raycluster
from app.translate.pods import raycluster_checks
from app.types import Cluster
from app.validation import check_cluster

CLUSTERS: ResourceKind[Cluster] = ResourceKind(
    resource=RAYCLUSTER, noun="Cluster", items_key="clusters",
    token_key="continue",  # noqa: S106  (the answer's field for the next page token: a name, no secret)
    check=check_cluster, to_kubernetes=to_raycluster, to_api=to_api_cluster, pods=raycluster_checks,
    events=(EventSource.own(RAYCLUSTER.kind),),
)
