"""ClusterService: unpack, one service call, (dict, 200).

With `pythonic_params`, the `continue` query parameter arrives as `continue_`.
"""
from __future__ import annotations

from app.services import ManagedResource
from app.types import Cluster, Json


class ClusterHandlers:
    def __init__(self, clusters: ManagedResource[Cluster]) -> None:
        self._clusters = clusters

    def create_cluster(self, namespace: str, body: Cluster) -> tuple[Cluster, int]:
        return self._clusters.create(namespace, body), 200

    def get_cluster(self, namespace: str, name: str) -> tuple[Cluster, int]:
        return self._clusters.get(namespace, name), 200

    def list_clusters(self, namespace: str, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._clusters.list(namespace, limit, continue_), 200

    def list_all_clusters(self, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._clusters.list(None, limit, continue_), 200

    def delete_cluster(self, namespace: str, name: str) -> tuple[Json, int]:
        return self._clusters.delete(namespace, name), 200
