"""What every managed custom resource shares: get, list (one namespace or all), delete,
create-with-409 and the events of its answers, written once and parameterised by `ResourceKind`.

A custom resource is managed when it carries the label `app.kubernetes.io/managed-by:
kuberay-apiserver`; any other object of the kind is answered exactly like an absent one.
Like every service, this knows Kubernetes (through `app.k8s.K8s`) and never HTTP.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from app.constants import COMPONENT, MANAGED_BY, MANAGED_SELECTOR, CustomResource
from app.errors import AlreadyExists, ApiError, NotFound
from app.k8s import K8s
from app.translate.cluster import referenced_templates
from app.types import ComputeTemplate, Json
from app.validation import Limits

if TYPE_CHECKING:  # (compute_templates uses this module's helpers)
    from app.services.compute_templates import ComputeTemplates

log = logging.getLogger(__name__)

Api = TypeVar("Api", bound=Mapping[str, Any])  # the API's object of a kind: Cluster, RayJob, RayService
EventIndex = Mapping[tuple[str, str], list[Json]]
Items = list[Json]  # (inside ManagedResource, `list` is its method)


@dataclass(frozen=True)
class EventSource:
    """Events about one object related to an answer: of `kind`, named `name_of(the object)`.

    An empty name means the object has no such relative (a RayService without an active cluster).
    """

    kind: str
    name_of: Callable[[Json], str]


def own_name(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass(frozen=True)
class ResourceKind(Generic[Api]):
    """What differs between the managed resources in what they share."""

    resource: CustomResource
    noun: str  # in messages: "Cluster rc not found in namespace ns"
    items_key: str  # the list answer's key for the items
    token_key: str  # the list answer's key for the next page's token
    check: Callable[[Api, str, Limits], None]  # the request's rules, given the path's namespace
    to_kubernetes: Callable[[Api, Mapping[str, ComputeTemplate], datetime], Json]  # request, templates, now
    to_api: Callable[[Json, list[Json]], Json]  # a Kubernetes object and its events -> API form
    events: Sequence[EventSource] = field(default_factory=tuple)  # concatenated, in this order


class ManagedResource(Generic[Api]):
    """Create, get, list and delete of one managed custom resource; knows Kubernetes, never HTTP."""

    def __init__(self, k8s: K8s, templates: ComputeTemplates, kind: ResourceKind[Api], limits: Limits) -> None:
        self._k8s = k8s
        self._templates = templates
        self.kind = kind
        self._limits = limits

    def create(self, namespace: str, body: Api) -> Api:
        """Everything that can refuse the request runs before the single write."""
        body = in_namespace(body, namespace)
        self.kind.check(body, namespace, self._limits)
        templates = self._templates_for(namespace, body.get("clusterSpec"))
        return self._create(namespace, self.kind.to_kubernetes(body, templates, datetime.now(UTC)))

    def get(self, namespace: str, name: str) -> Api:
        return self._answer(self.read(namespace, name))

    def list(self, namespace: str | None, limit: int = 0, token: str = "") -> Json:
        """One namespace, or all of them for `None`; two or three calls whatever the page size:
        the objects, then the events of each source in one read each."""
        result = self._k8s.list_objects(self.kind.resource, namespace, MANAGED_SELECTOR, limit, token)
        items: Items = result.get("items") or []
        indexes = [self._event_index(namespace, source, items) for source in self.kind.events]
        answers = [self.kind.to_api(item, _events_of(item, self.kind.events, indexes)) for item in items]
        next_token = str((result.get("metadata") or {}).get("continue", ""))
        return page(self.kind.items_key, answers, self.kind.token_key, next_token)

    def delete(self, namespace: str, name: str) -> Json:
        """No wait: Kubernetes collects what the object owns through owner references."""
        self.read(namespace, name)
        self._k8s.delete_object(self.kind.resource, namespace, name)
        return {}

    def _create(self, namespace: str, obj: Json) -> Api:
        """One write: Kubernetes' "already exists" is the duplicate check (no racy GET first)."""
        try:
            created = self._k8s.create_object(self.kind.resource, namespace, obj)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"{self.kind.noun} {own_name(obj)} already exists in namespace {namespace}"
            ) from exc
        return self._answer(created)

    def _replace(self, namespace: str, name: str, obj: Json) -> Api:
        return self._answer(self._k8s.replace_object(self.kind.resource, namespace, name, obj))

    def _templates_for(self, namespace: str, spec: Mapping[str, Any] | None) -> dict[str, ComputeTemplate]:
        """The compute templates a cluster spec names, read and checked before any write."""
        return self._templates.referenced(namespace, referenced_templates(spec))

    def read(self, namespace: str, name: str) -> Json:
        """The Kubernetes object, if managed: one we do not manage is reported exactly like an absent
        one (upstream: 500, code 2)."""
        message = f"{self.kind.noun} {name} not found in namespace {namespace}"
        try:
            obj = self._k8s.get_object(self.kind.resource, namespace, name)
        except NotFound as exc:
            raise NotFound(message) from exc
        if not is_managed(obj):
            raise NotFound(message)
        return obj

    def _answer(self, obj: Json) -> Api:
        namespace = str((obj.get("metadata") or {}).get("namespace", ""))
        events: Items = []
        for source in self.kind.events:
            if name := source.name_of(obj):
                events += events_for(self._k8s, namespace, source.kind, name)
        return cast(Api, self.kind.to_api(obj, events))  # translation returns plain dicts

    def _event_index(self, namespace: str | None, source: EventSource, items: Items) -> EventIndex:
        """All events of the source's kind in the scope, read once, when an item needs any."""
        if not any(source.name_of(item) for item in items):
            return {}
        return index_events(events_for(self._k8s, namespace, source.kind))


def _events_of(obj: Json, sources: Sequence[EventSource], indexes: Sequence[EventIndex]) -> list[Json]:
    namespace = str((obj.get("metadata") or {}).get("namespace", ""))
    events: list[Json] = []
    for source, index in zip(sources, indexes, strict=True):
        events += index.get((namespace, source.name_of(obj)), [])
    return events


def events_for(k8s: K8s, namespace: str | None, kind: str, name: str = "") -> list[Json]:
    """Events about objects of `kind` (named `name`, or all of them, for a list).

    Upstream selects on the name alone, so a RayJob's events could show on a RayCluster of the
    same name; selecting the kind too fixes that and keeps a namespace's pod events out of lists.
    Events never fail a request (as upstream): a failed read is logged and yields none.
    """
    selector = f"regarding.kind={kind}" + (f",regarding.name={name}" if name else "")
    try:
        return k8s.list_events(namespace, selector)
    except ApiError as exc:
        log.warning("cannot read %s events in %s: %s", kind, namespace or "all namespaces", exc)
        return []


def index_events(events: Iterable[Json]) -> dict[tuple[str, str], list[Json]]:
    """Events by (namespace, regarding.name), so that a list costs one events read, not N."""
    index: dict[tuple[str, str], list[Json]] = defaultdict(list)
    for event in events:
        regarding = event.get("regarding") or {}
        namespace = regarding.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
        index[(namespace, regarding.get("name", ""))].append(event)
    return index


def is_managed(obj: Json) -> bool:
    return bool(((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == COMPONENT)


Body = TypeVar("Body", bound=Mapping[str, Any])


def in_namespace(body: Body, namespace: str) -> Body:
    """A body without `namespace` takes the path's; a different one is for validation to refuse."""
    return body if body.get("namespace") else cast(Body, {**body, "namespace": namespace})


def page(items_key: str, items: list[Json], token_key: str = "", token: str = "") -> Json:
    """A list answer without zero values, as upstream's JSON gateway writes it."""
    response: Json = {}
    if items:
        response[items_key] = items
    if token_key and token:
        response[token_key] = token
    return response
