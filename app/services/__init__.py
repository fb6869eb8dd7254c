"""The service layer: API dicts in and out, Kubernetes behind a `Gateway` (app/services/gateway.py),
never HTTP.

`Services.build` makes every service once over one gateway; `create_app` hands the result to
the HTTP handlers, and any other front (gRPC) can use the same object without Flask.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.auth import Access
from app.cache import Caches, EventCache, EventStore, Informer, ObjectCache, ObjectStore, WriteMarks
from app.constants import COMPUTE_TEMPLATE_SELECTOR, MANAGED_SELECTOR
from app.dashboard import Dashboard
from app.k8s import Collection, K8s
from app.services.clusters import CLUSTERS
from app.services.compute_templates import ComputeTemplates
from app.services.cronjobs import CRONJOBS, RayCronJobs
from app.services.gateway import Gateway
from app.services.job_submissions import JobSubmissions
from app.services.jobs import JOBS
from app.services.pods import PodChecks
from app.services.rayservices import RAYSERVICES, RayServices
from app.services.resource import Cache, ManagedResource, ResourceKind
from app.services.v2 import V2Api
from app.translate.events import kept_event
from app.translate.job_submissions import DashboardRoute
from app.types import Cluster, Json, RayJob
from app.validation import Limits


@dataclass(frozen=True)
class Services:
    """Everything a front may call, sharing one Kubernetes gateway."""

    compute_templates: ComputeTemplates
    clusters: ManagedResource[Cluster]
    jobs: ManagedResource[RayJob]
    rayservices: RayServices
    cronjobs: RayCronJobs  # never cached: cron jobs are few and read seldom
    job_submissions: JobSubmissions
    v2: V2Api
    caches: Caches  # empty when the caches are off

    @classmethod
    def build(cls, k8s: Gateway, limits: Limits, dashboard: Dashboard | None = None,
              dashboard_route: DashboardRoute | None = None, cache: bool = False, write_marks: str = "",
              cache_namespace: str = "", access: Access | None = None, pod_check: bool = True,
              consistent_reads: bool = False) -> Services:
        """`limits` are the administrator's ceilings (settings), applied to every request;
        `dashboard_route` is how job submissions reach a cluster's Ray dashboard (create_app picks it;
        by default, through the Kubernetes API server's service proxy, which the default `dashboard`
        reaches with `k8s`).
        With `cache`, reads answer from watch caches, which the caller starts (`caches.start()`), of
        `cache_namespace` alone if set; `write_marks` is the file the server's workers tell each
        other their writes through (empty: one process); `access` decides which caller may read
        what from the caches (app/auth.py; None: every caller, as the server); `consistent_reads`
        checks each cached answer against Kubernetes first (several servers). The caches list and
        watch through `K8s` itself: `k8s` must be one when `cache` is on. With `pod_check`, Kubernetes
        validates the pods of every create first (app/services/pods.py)."""
        kinds: list[ResourceKind[Any]] = [CLUSTERS, JOBS, RAYSERVICES]
        watched = _Watched(_watching(k8s), kinds, write_marks, cache_namespace or None, access,
                           consistent_reads) if cache else None
        pods = PodChecks(k8s, enabled=pod_check)
        templates = ComputeTemplates(k8s, watched.configmaps if watched else None, pods)
        clusters = ManagedResource(k8s, templates, CLUSTERS, limits, watched.of(CLUSTERS) if watched else None, pods)
        return cls(
            compute_templates=templates,
            clusters=clusters,
            jobs=ManagedResource(k8s, templates, JOBS, limits, watched.of(JOBS) if watched else None, pods),
            rayservices=RayServices(k8s, templates, RAYSERVICES, limits, watched.of(RAYSERVICES) if watched else None,
                                    pods),
            cronjobs=RayCronJobs(k8s, templates, CRONJOBS, limits, None, pods),
            job_submissions=JobSubmissions(clusters, dashboard or Dashboard(api_server=k8s),
                                           dashboard_route or DashboardRoute(), access, k8s),
            v2=V2Api(k8s, templates),
            caches=Caches(watched.informers if watched else ()),
        )


class _Watched:
    """The informers of one process: the managed objects of each kind, the compute templates, and
    the events of the kinds whose answers show events."""

    def __init__(self, k8s: K8s, kinds: Iterable[ResourceKind[Any]], write_marks: str, namespace: str | None,
                 access: Access | None, consistent: bool) -> None:
        kinds = list(kinds)
        names = [kind.resource.plural for kind in kinds] + ["configmaps"]
        self._marks = WriteMarks(names, write_marks)
        self.informers: list[Informer] = []
        self._events: dict[str, EventCache] = {}
        for kind in kinds:
            for source in kind.events:
                if source.kind not in self._events:
                    events = Collection.events(f"regarding.kind={source.kind}", namespace)
                    held = EventStore(kept_event)
                    informer = self._informer(f"events-{source.kind.lower()}", k8s, events, held)
                    self._events[source.kind] = EventCache(informer, held, access)
        self._objects: dict[str, Cache] = {}
        for kind in kinds:
            store = ObjectStore(_related(kind))
            collection = Collection.custom(kind.resource, MANAGED_SELECTOR, namespace)
            informer = self._informer(kind.resource.plural, k8s, collection, store)
            self._objects[kind.resource.plural] = Cache(
                ObjectCache(informer, store, self._marks, access, consistent),
                {source.kind: self._events[source.kind] for source in kind.events})
        store = ObjectStore()
        configmaps = Collection.configmaps(COMPUTE_TEMPLATE_SELECTOR, namespace)
        self.configmaps = ObjectCache(self._informer("configmaps", k8s, configmaps, store), store, self._marks, access,
                                     consistent)

    def _informer(self, name: str, k8s: K8s, collection: Collection, store: EventStore | ObjectStore) -> Informer:
        informer = Informer(name, k8s, collection, store)
        self.informers.append(informer)
        return informer

    def of(self, kind: ResourceKind[Any]) -> Cache:
        return self._objects[kind.resource.plural]


def _watching(gateway: Gateway) -> K8s:
    if not isinstance(gateway, K8s):
        raise TypeError(f"the watch caches list and watch through app.k8s.K8s, not {type(gateway).__name__}")
    return gateway


def _related(kind: ResourceKind[Any]) -> Callable[[Json], tuple[str, ...]]:
    """The names of the objects whose events an answer of `kind` shows, in its sources' order."""
    def related(obj: Json) -> tuple[str, ...]:
        return tuple(source.name_of(obj) for source in kind.events)
    return related


__all__ = ["ComputeTemplates", "Gateway", "JobSubmissions", "ManagedResource", "RayCronJobs", "RayServices", "Services",
           "V2Api"]
