"""What the services need of Kubernetes: the calls they make, and nothing else.

The services take a `Gateway`, so that anything that answers these calls as the Kubernetes API
server would can stand behind them: `app.k8s.K8s` in the server, an in-memory fake in the
service-layer tests (tests/support/fake_gateway.py). The watch caches list and watch through
`K8s` itself (app/cache/). Signatures are `K8s`'s, which mypy checks wherever a `K8s` is
passed as a `Gateway` (create_app).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from app.constants import CustomResource
from app.dashboard import ApiServer
from app.k8s import Forwarded
from app.types import Json


class Gateway(ApiServer, Protocol):
    """Kubernetes' answers as JSON objects; its refusals as `app.errors.ApiError`s (`NotFound`,
    `AlreadyExists`, `Conflict` on a stale resourceVersion, ...). `send` (from `ApiServer`) is how
    job submissions reach a Ray dashboard through a Service's proxy (app/dashboard.py)."""

    def get_configmap(self, ns: str, name: str) -> Json: ...

    def create_configmap(self, ns: str, body: Json) -> Json: ...

    def delete_configmap(self, ns: str, name: str) -> Json: ...

    def list_configmaps(self, ns: str | None, label_selector: str) -> list[Json]:
        """The items of the ConfigMaps of `ns` (None: all namespaces) that `label_selector` selects."""
        ...

    def check_pod(self, ns: str, pod: Json) -> Json | None:
        """None if Kubernetes would create `pod` (a dry run), else its refusal: a Status with causes."""
        ...

    def get_object(self, kind: CustomResource, ns: str, name: str) -> Json: ...

    def create_object(self, kind: CustomResource, ns: str, body: Json) -> Json: ...

    def replace_object(self, kind: CustomResource, ns: str, name: str, body: Json) -> Json: ...

    def patch_object(self, kind: CustomResource, ns: str, name: str, patch: Json) -> Json:
        """A JSON merge patch of the object: the fields `patch` names, changed in one step."""
        ...

    def delete_object(self, kind: CustomResource, ns: str, name: str) -> Json: ...

    def list_objects(self, kind: CustomResource, ns: str | None, label_selector: str, limit: int = 0,
                     continue_token: str = "") -> Json:
        """The whole list object (one page of at most `limit` items, 0: all), so that callers can
        read `metadata.continue`."""
        ...

    def list_events(self, ns: str | None, field_selector: str = "") -> list[Json]:
        """The items of the events.k8s.io/v1 Events that `field_selector` selects."""
        ...

    def get_service(self, ns: str, name: str) -> Json: ...

    def get_secret(self, ns: str, name: str) -> Json:
        """A Secret, read with the server's own rights (a Ray cluster's token for its dashboard)."""
        ...

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                read_timeout: float | None = None) -> Forwarded:
        """A request sent on as it came (the V2 API); Kubernetes' answer, whatever its status."""
        ...
