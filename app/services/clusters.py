"""Ray clusters: RayCluster custom resources labelled as managed by kuberay-apiserver."""
from __future__ import annotations

from datetime import datetime, timezone

from app.constants import MANAGED_SELECTOR, RAYCLUSTER
from app.errors import AlreadyExists
from app.k8s import K8s
from app.services.common import (
    Json,
    events_for,
    in_namespace,
    index_events,
    key,
    page,
    read_managed,
    read_templates,
)
from app.translate.clusters import to_api_cluster, to_raycluster
from app.validation import check_cluster, referenced_templates


class ClusterService:
    """RayCluster operations in API terms; knows Kubernetes, never HTTP."""

    def __init__(self, k8s: K8s) -> None:
        self._k8s = k8s

    def create(self, namespace: str, cluster: Json) -> Json:
        """Everything that can refuse the request runs before the single write."""
        cluster = in_namespace(cluster, namespace)
        check_cluster(cluster, namespace)
        spec = cluster["clusterSpec"]
        templates = read_templates(self._k8s, namespace, referenced_templates(spec))
        raycluster = to_raycluster(cluster, templates, datetime.now(timezone.utc))
        try:
            created = self._k8s.create_object(RAYCLUSTER, namespace, raycluster)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"Cluster {cluster['name']} already exists in namespace {namespace}"
            ) from exc
        return self._with_events(created)

    def get(self, namespace: str, name: str) -> Json:
        return self._with_events(read_managed(self._k8s, RAYCLUSTER, namespace, name, "Cluster"))

    def list(self, namespace: str, limit: int = 0, continue_token: str = "") -> Json:
        return self._list(namespace, limit, continue_token)

    def list_all(self, limit: int = 0, continue_token: str = "") -> Json:
        return self._list(None, limit, continue_token)

    def delete(self, namespace: str, name: str) -> Json:
        """No wait: Kubernetes collects the pods and services through owner references."""
        read_managed(self._k8s, RAYCLUSTER, namespace, name, "Cluster")
        self._k8s.delete_object(RAYCLUSTER, namespace, name)
        return {}

    def _with_events(self, raycluster: Json) -> Json:
        namespace, name = key(raycluster)
        return to_api_cluster(raycluster, events_for(self._k8s, namespace, RAYCLUSTER.kind, name))

    def _list(self, namespace: str | None, limit: int, continue_token: str) -> Json:
        """Two calls whatever the page size: the clusters, then their events in one read."""
        result = self._k8s.list_objects(
            RAYCLUSTER, namespace, MANAGED_SELECTOR, limit, continue_token
        )
        items = result.get("items") or []
        events = index_events(events_for(self._k8s, namespace, RAYCLUSTER.kind) if items else [])
        clusters = [to_api_cluster(item, events.get(key(item), [])) for item in items]
        token = result.get("metadata", {}).get("continue", "")
        return page("clusters", clusters, "continue", token)
