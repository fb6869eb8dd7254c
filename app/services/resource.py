"""What every managed custom resource shares: get, list (one namespace or all), delete,
create-with-409 and the events of its answers, written once and parameterised by `ResourceKind`.

A custom resource is managed when it carries the label `app.kubernetes.io/managed-by:
kuberay-apiserver`; any other object of the kind is answered exactly like an absent one.
Like every service, this knows Kubernetes (through its `Gateway`) and never HTTP.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar, cast

from app.cache import Entry as CacheEntry
from app.cache import EventCache, EventStore, ObjectCache, ObjectStore
from app.constants import COMPONENT, MANAGED_BY, MANAGED_SELECTOR, CustomResource
from app.errors import AlreadyExists, ApiError
from app.services.compute_templates import ComputeTemplates
from app.services.gateway import Gateway
from app.services.paging import cache_token, cache_token_key, page, page_of
from app.services.pods import PodChecks
from app.services.reads import Reads, labelled
from app.translate.cluster import referenced_templates
from app.translate.common import in_namespace, metadata, object_key
from app.translate.pods import PodCheck
from app.types import ComputeTemplate, Json
from app.validation import Limits

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

    @classmethod
    def own(cls, kind: str) -> EventSource:
        """The events about the answer's object itself."""
        return cls(kind, lambda obj: object_key(obj)[1])


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
    pods: Callable[[Json], list[PodCheck]]  # the pods the operator will make from the Kubernetes object
    events: Sequence[EventSource] = field(default_factory=tuple)  # concatenated, in this order


@dataclass(frozen=True)
class Cache:
    """Where a managed resource reads from when the watch caches are on: its objects, and the
    events of each of its kind's event sources (by the source's kind)."""

    objects: ObjectCache
    events: Mapping[str, EventCache] = field(default_factory=dict)


class ManagedResource(Generic[Api]):
    """Create, get, list and delete of one managed custom resource; knows Kubernetes, never HTTP.

    With a `cache`, GET and list answer from it whenever it may (app/cache/), else from
    Kubernetes; every write tells it what was answered.
    """

    def __init__(self, k8s: Gateway, templates: ComputeTemplates, kind: ResourceKind[Api], limits: Limits,
                 cache: Cache | None = None, pods: PodChecks | None = None) -> None:
        self._k8s = k8s
        self._templates = templates
        self._pods = pods or PodChecks(k8s, enabled=False)
        self.kind = kind
        self._limits = limits
        self._cache = cache
        self._reads = Reads(kind.noun, lambda namespace, name: self._k8s.get_object(kind.resource, namespace, name),
                            labelled(MANAGED_BY, COMPONENT), None if cache is None else cache.objects)

    def create(self, namespace: str, body: Api) -> Api:
        """Everything that can refuse the request runs before the single write."""
        body = in_namespace(body, namespace)
        self.kind.check(body, namespace, self._limits)
        templates = self._templates_for(namespace, body.get("clusterSpec"))
        obj = self.kind.to_kubernetes(body, templates, datetime.now(UTC))
        self.check_pods(namespace, obj)
        return self._create(namespace, obj)

    def check_pods(self, namespace: str, obj: Json) -> None:
        """Kubernetes' own validation of the pods the operator will make from `obj` (app/services/pods.py)."""
        self._pods.check(namespace, self.kind.pods(obj))

    def get(self, namespace: str, name: str) -> Api:
        view = self._view(namespace, "get", name)
        if view is None:
            return self._answer(self.read(namespace, name))
        objects, events = view
        return cast(Api, self._cached_answer(self._reads.entry(objects, namespace, name), events))

    def list(self, namespace: str | None, limit: int = 0, token: str = "") -> Json:
        """One namespace, or all of them for `None`. From Kubernetes: two or three calls whatever
        the page size (the objects, then the events of each source in one read each).

        From the cache, pages follow the order of names (`page_of`): an object present from the
        first page to the last is listed once, whatever else changes meanwhile. A page token of
        either kind is honoured by the other path, so paging survives the cache's coming and going.
        """
        after = cache_token_key(token)
        view = self._view(namespace) if after is not None or not token else None  # (else Kubernetes' token)
        if view is not None:
            objects, events = view
            entries, next_key = page_of(objects.entries(namespace), lambda entry: entry.key, after, limit)
            answers = [self._cached_answer(entry, events) for entry in entries]
            return page(self.kind.items_key, answers, self.kind.token_key, cache_token(next_key))
        if after is not None:  # a cache's page, while the cache cannot answer: the same page, from Kubernetes
            everything = self._k8s.list_objects(self.kind.resource, namespace, MANAGED_SELECTOR)
            ordered = sorted(everything.get("items") or [], key=object_key)
            items, next_key = page_of(ordered, object_key, after, limit)
            return page(self.kind.items_key, self._translated(namespace, items), self.kind.token_key,
                        cache_token(next_key))
        result = self._k8s.list_objects(self.kind.resource, namespace, MANAGED_SELECTOR, limit, token)
        next_token = str(metadata(result).get("continue", ""))
        return page(self.kind.items_key, self._translated(namespace, result.get("items") or []),
                    self.kind.token_key, next_token)

    def delete(self, namespace: str, name: str) -> Json:
        """Kubernetes collects what the object owns through owner references."""
        return self._reads.delete(namespace, name, partial(self._k8s.delete_object, self.kind.resource))

    def _translated(self, namespace: str | None, items: Items) -> Items:
        indexes = [self._event_index(namespace, source, items) for source in self.kind.events]
        return [self.kind.to_api(item, _events_of(item, self.kind.events, indexes)) for item in items]

    def _view(self, namespace: str | None, verb: str = "list",
              name: str | None = None) -> tuple[ObjectStore, Mapping[str, EventStore]] | None:
        """The stores to answer a `verb` of `namespace` (None: all), or of its object `name`, from
        now, or None: ask Kubernetes."""
        events = self._event_stores(namespace)
        objects = None if events is None else self._reads.view(namespace, verb, name)
        return None if objects is None or events is None else (objects, events)

    def _event_stores(self, namespace: str | None) -> Mapping[str, EventStore] | None:
        """The event stores of each source's kind, if they may answer for `namespace` now."""
        if self._cache is None:
            return None
        events: dict[str, EventStore] = {}
        for kind, cache in self._cache.events.items():
            store = cache.view(namespace)
            if store is None:
                return None
            events[kind] = store
        return events

    def _cached_answer(self, entry: CacheEntry, events: Mapping[str, EventStore]) -> Json:
        """The API form of a cached object, translated again only when it or its events changed."""
        namespace = entry.key[0]
        sources = self.kind.events
        basis = (entry.rv, *(events[source.kind].stamp(namespace, name)
                             for source, name in zip(sources, entry.related, strict=True)))

        def translate(obj: Json) -> Json:
            related: list[Json] = []
            for source, name in zip(sources, entry.related, strict=True):
                if name:
                    related += events[source.kind].events(namespace, name)
            return self.kind.to_api(obj, related)

        return entry.memoized(basis, translate)

    def _create(self, namespace: str, obj: Json) -> Api:
        """One write: Kubernetes' "already exists" is the duplicate check (no racy GET first)."""
        try:
            created = self._k8s.create_object(self.kind.resource, namespace, obj)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"{self.kind.noun} {object_key(obj)[1]} already exists in namespace {namespace}"
            ) from exc
        self._reads.written(created)
        return self._answer(created)

    def _replace(self, namespace: str, name: str, obj: Json) -> Api:
        replaced = self._k8s.replace_object(self.kind.resource, namespace, name, obj)
        self._reads.written(replaced)
        return self._answer(replaced)

    def _templates_for(self, namespace: str, spec: Mapping[str, Any] | None) -> dict[str, ComputeTemplate]:
        """The compute templates a cluster spec names, read and checked before any write."""
        return self._templates.referenced(namespace, referenced_templates(spec))

    def read(self, namespace: str, name: str) -> Json:
        """The Kubernetes object, if managed: one we do not manage is reported exactly like an absent one."""
        return self._reads.read(namespace, name)

    def _answer(self, obj: Json) -> Api:
        """The API form of an object read or written just now, with its events: from the event
        caches when they answer (an events read by field selector scans the whole namespace)."""
        namespace = object_key(obj)[0]
        cached = self._event_stores(namespace)
        events: Items = []
        for source in self.kind.events:
            if name := source.name_of(obj):
                events += (cached[source.kind].events(namespace, name) if cached is not None
                           else events_for(self._k8s, namespace, source.kind, name))
        return cast(Api, self.kind.to_api(obj, events))  # translation returns plain dicts

    def _event_index(self, namespace: str | None, source: EventSource, items: Items) -> EventIndex:
        """All events of the source's kind in the scope, read once, when an item needs any."""
        if not any(source.name_of(item) for item in items):
            return {}
        return index_events(events_for(self._k8s, namespace, source.kind))


def _events_of(obj: Json, sources: Sequence[EventSource], indexes: Sequence[EventIndex]) -> list[Json]:
    namespace = object_key(obj)[0]
    events: list[Json] = []
    for source, index in zip(sources, indexes, strict=True):
        events += index.get((namespace, source.name_of(obj)), [])
    return events


def events_for(k8s: Gateway, namespace: str | None, kind: str, name: str = "") -> list[Json]:
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
        namespace = regarding.get("namespace") or object_key(event)[0]
        index[(namespace, regarding.get("name", ""))].append(event)
    return index
