"""Ray services: RayService custom resources labelled as managed by kuberay-apiserver.

Their events are the RayService's own, followed by those of its active RayCluster.
"""
from __future__ import annotations

from datetime import datetime, timezone

from app.constants import MANAGED_SELECTOR, RAYCLUSTER, RAYSERVICE
from app.errors import AlreadyExists, InvalidInput
from app.k8s import K8s
from app.services.common import (
    EventIndex,
    Json,
    events_for,
    in_namespace,
    index_events,
    key,
    page,
    read_managed,
    read_templates,
)
from app.translate.services import to_api_service, to_rayservice, to_rayservice_update
from app.validation import check_service, referenced_templates


def _active_cluster(rayservice: Json) -> str:
    return (rayservice.get("status") or {}).get("activeServiceStatus", {}).get("rayClusterName", "")


class RayServiceService:
    """RayService operations in API terms; knows Kubernetes, never HTTP."""

    def __init__(self, k8s: K8s) -> None:
        self._k8s = k8s

    def create(self, namespace: str, service: Json) -> Json:
        """Everything that can refuse the request runs before the single write."""
        service = in_namespace(service, namespace)
        check_service(service, namespace)
        templates = self._templates(namespace, service)
        rayservice = to_rayservice(service, templates, datetime.now(timezone.utc))
        try:
            created = self._k8s.create_object(RAYSERVICE, namespace, rayservice)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"Service {service['name']} already exists in namespace {namespace}"
            ) from exc
        return self._with_events(created)

    def update(self, namespace: str, name: str, service: Json) -> Json:
        """Full replacement, as upstream: annotations, labels and spec all come from the request.

        Upstream silently updates the service named in the body; we refuse a body that names
        another service than the path, so that a PUT only changes the resource it addresses.
        """
        service = in_namespace(service, namespace)
        check_service(service, namespace, update=True)
        if service["name"] != name:
            raise InvalidInput(
                f"The name in the request ({service['name']}) is different "
                f"from the name in the path ({name})."
            )
        existing = read_managed(self._k8s, RAYSERVICE, namespace, name, "Service")
        rayservice = to_rayservice_update(
            service, self._templates(namespace, service), existing, datetime.now(timezone.utc))
        return self._with_events(self._k8s.replace_object(RAYSERVICE, namespace, name, rayservice))

    def get(self, namespace: str, name: str) -> Json:
        return self._with_events(read_managed(self._k8s, RAYSERVICE, namespace, name, "Service"))

    def list(self, namespace: str, page_size: int = 0, page_token: str = "") -> Json:
        return self._list(namespace, page_size, page_token)

    def list_all(self, page_size: int = 0, page_token: str = "") -> Json:
        return self._list(None, page_size, page_token)

    def delete(self, namespace: str, name: str) -> Json:
        """Kubernetes then collects the service's clusters through owner references."""
        read_managed(self._k8s, RAYSERVICE, namespace, name, "Service")
        self._k8s.delete_object(RAYSERVICE, namespace, name)
        return {}

    def _templates(self, namespace: str, service: Json) -> dict[str, Json]:
        """Read before any write: a missing template refuses the request."""
        return read_templates(self._k8s, namespace, referenced_templates(service["clusterSpec"]))

    def _with_events(self, rayservice: Json) -> Json:
        namespace, name = key(rayservice)
        events = events_for(self._k8s, namespace, RAYSERVICE.kind, name)
        if cluster := _active_cluster(rayservice):
            events += events_for(self._k8s, namespace, RAYCLUSTER.kind, cluster)
        return to_api_service(rayservice, events)

    def _list(self, namespace: str | None, page_size: int, page_token: str) -> Json:
        """At most three calls whatever the page size: services, their events, their clusters'."""
        result = self._k8s.list_objects(
            RAYSERVICE, namespace, MANAGED_SELECTOR, page_size, page_token
        )
        items = result.get("items") or []
        own = index_events(events_for(self._k8s, namespace, RAYSERVICE.kind) if items else [])
        active = any(_active_cluster(item) for item in items)
        clusters = index_events(events_for(self._k8s, namespace, RAYCLUSTER.kind) if active else [])
        services = [to_api_service(item, _events(item, own, clusters)) for item in items]
        token = result.get("metadata", {}).get("continue", "")
        return page("services", services, "nextPageToken", token)


def _events(rayservice: Json, own: EventIndex, clusters: EventIndex) -> list[Json]:
    namespace, name = key(rayservice)
    active = clusters.get((namespace, _active_cluster(rayservice)), [])
    return own.get((namespace, name), []) + active
