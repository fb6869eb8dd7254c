"""Where the gateway's calls go: the API groups' prefixes and the paths of collections and objects.

Every name is quoted as one path segment, so that a name can never reach another path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.constants import CustomResource

CORE = "/api/v1"  # the prefixes of the API groups the server reads
EVENTS = "/apis/events.k8s.io/v1"


@dataclass(frozen=True)
class Collection:
    """A collection in one namespace or all (None), narrowed by selectors: what one watch cache holds."""

    prefix: str  # "/api/v1", "/apis/ray.io/v1"
    plural: str
    label_selector: str = ""
    field_selector: str = ""
    namespace: str | None = None

    @classmethod
    def custom(cls, kind: CustomResource, label_selector: str, namespace: str | None = None) -> Collection:
        return cls(group_prefix(kind), kind.plural, label_selector, namespace=namespace)

    @classmethod
    def configmaps(cls, label_selector: str, namespace: str | None = None) -> Collection:
        return cls(CORE, "configmaps", label_selector, namespace=namespace)

    @classmethod
    def events(cls, field_selector: str, namespace: str | None = None) -> Collection:
        """events.k8s.io/v1 Events, as `K8s.list_events` reads them."""
        return cls(EVENTS, "events", field_selector=field_selector, namespace=namespace)

    def path(self) -> str:
        return resource_path(self.prefix, self.namespace, self.plural)

    @property
    def group(self) -> str:
        """The API group, as RBAC names it: "" for the core group."""
        parts = self.prefix.strip("/").split("/")
        return parts[1] if parts[0] == "apis" else ""

    def query(self) -> list[tuple[str, Any]]:
        return [(key, value) for key, value in (("labelSelector", self.label_selector),
                                                ("fieldSelector", self.field_selector)) if value]


def resource_path(prefix: str, ns: str | None, plural: str, name: str = "") -> str:
    """A collection's path (in namespace `ns`, or all namespaces), or one object's in it."""
    scope = "" if ns is None else f"/namespaces/{quote(ns, safe='')}"
    path = f"{prefix}{scope}/{plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


def core_path(ns: str | None, plural: str, name: str = "") -> str:
    return resource_path(CORE, ns, plural, name)


def group_prefix(kind: CustomResource) -> str:
    return f"/apis/{kind.group}/{kind.version}"


def custom_path(kind: CustomResource, ns: str | None, name: str = "") -> str:
    return resource_path(group_prefix(kind), ns, kind.plural, name)


def discovery_path(group_version: str) -> str:
    """Discovery of `group/version`: what resources it serves."""
    return "/apis/" + "/".join(quote(part, safe="") for part in group_version.split("/", 1))
