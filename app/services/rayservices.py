"""Ray services: RayService custom resources managed by this server.

Their events are the RayService's own, followed by those of its active RayCluster.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from app.constants import RAYCLUSTER, RAYSERVICE
from app.errors import Conflict, InvalidInput
from app.services.resource import EventSource, ManagedResource, ResourceKind
from app.translate.common import in_namespace
from app.translate.pods import rayservice_checks
from app.translate.rayservices import to_api_service, to_rayservice, to_rayservice_update
from app.types import ComputeTemplate, Json, RayService
from app.validation import check_service


def active_cluster(rayservice: Json) -> str:
    return str(((rayservice.get("status") or {}).get("activeServiceStatus") or {}).get("rayClusterName", ""))


RAYSERVICES: ResourceKind[RayService] = ResourceKind(
    resource=RAYSERVICE, noun="Service", items_key="services",
    token_key="nextPageToken",  # noqa: S106  (the answer's field for the next page token: a name, no secret)
    check=check_service, to_kubernetes=to_rayservice, to_api=to_api_service, pods=rayservice_checks,
    events=(EventSource.own(RAYSERVICE.kind), EventSource(RAYCLUSTER.kind, active_cluster)),
)


# As client-go's RetryOnConflict: the operator writes a RayService's status often, and the API
# carries no resourceVersion, so a conflict between our read and our write is not the caller's.
# Jittered, growing waits let concurrent replacements of one service (each retried) all land.
UPDATE_ATTEMPTS = 10


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
        templates = self._templates_for(namespace, service["clusterSpec"])
        retrying = Retrying(stop=stop_after_attempt(UPDATE_ATTEMPTS), wait=wait_random_exponential(0.01, max=0.5),
                            retry=retry_if_exception_type(Conflict), reraise=True)
        try:
            return retrying(self._replace_current, namespace, name, service, templates)
        except Conflict as exc:
            raise Conflict(f"Service {name} in namespace {namespace} kept being changed by others while it was "
                           f"being replaced ({UPDATE_ATTEMPTS} attempts); try again.") from exc

    def _replace_current(self, namespace: str, name: str, service: RayService,
                         templates: Mapping[str, ComputeTemplate]) -> RayService:
        """One read-modify-write: the replacement carries the resourceVersion just read."""
        existing = self.read(namespace, name)
        replacement = to_rayservice_update(service, templates, existing, datetime.now(UTC))
        self.check_pods(namespace, replacement)  # remembered: a retry does not ask again
        return self._replace(namespace, name, replacement)
