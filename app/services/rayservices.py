"""Ray services: RayService custom resources managed by this server.

Their events are the RayService's own, followed by those of its active RayCluster.
"""
from __future__ import annotations

from datetime import UTC, datetime

from app.constants import RAYCLUSTER, RAYSERVICE
from app.errors import InvalidInput
from app.services.resource import EventSource, ManagedResource, ResourceKind, in_namespace, own_name
from app.translate.rayservices import to_api_service, to_rayservice, to_rayservice_update
from app.types import Json, RayService
from app.validation import check_service


def active_cluster(rayservice: Json) -> str:
    return str(((rayservice.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName", ""))


RAYSERVICES: ResourceKind[RayService] = ResourceKind(
    resource=RAYSERVICE, noun="Service", items_key="services", token_key="nextPageToken",
    check=check_service, to_kubernetes=to_rayservice, to_api=to_api_service,
    events=(EventSource(RAYSERVICE.kind, own_name), EventSource(RAYCLUSTER.kind, active_cluster)),
)


class RayServices(ManagedResource[RayService]):
    """RayServices also take a full replacement (PUT)."""

    def update(self, namespace: str, name: str, service: RayService) -> RayService:
        """Full replacement, as upstream: annotations, labels and spec all come from the request.

        Upstream silently updates the service named in the body; we refuse a body that names
        another service than the path, so that a PUT only changes the resource it addresses.
        """
        service = in_namespace(service, namespace)
        check_service(service, namespace, self._limits, update=True)
        if service["name"] != name:
            raise InvalidInput(
                f"The name in the request ({service['name']}) is different from the name in the path ({name})."
            )
        existing = self._read(namespace, name)
        templates = self._templates_for(namespace, service["clusterSpec"])
        replacement = to_rayservice_update(service, templates, existing, datetime.now(UTC))
        return self._replace(namespace, name, replacement)
