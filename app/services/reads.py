"""How a service reads the objects of its kind, the same way for every kind, compute templates
included: from its watch cache when that may answer, else from Kubernetes. An object that is not
ours is answered exactly like an absent one, and every write is told to the cache, so that the
reads after it show it (app/cache/).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.cache import Entry, ObjectCache, ObjectStore
from app.errors import NotFound
from app.translate.common import metadata
from app.types import Json


def labelled(key: str, value: str) -> Callable[[Json], bool]:
    """Ours: the objects labelled `key=value`, as the label selector of their lists and caches."""
    def ours(obj: Json) -> bool:
        return bool((metadata(obj).get("labels") or {}).get(key) == value)
    return ours


@dataclass(frozen=True)
class Reads:
    """The reads of one kind: `fetch(namespace, name)` from Kubernetes (NotFound when absent), what
    is `ours`, the `noun` of the kind in messages, and the kind's `cache`, if any. `fetch` should
    reach the gateway's method at each call, as every other call of the gateway does, so that a
    gateway whose methods are wrapped later (to count calls) sees these reads too."""

    noun: str  # "Cluster rc not found in namespace ns"
    fetch: Callable[[str, str], Json]
    ours: Callable[[Json], bool]
    cache: ObjectCache | None = None

    def not_found(self, namespace: str, name: str) -> NotFound:
        return NotFound(f"{self.noun} {name} not found in namespace {namespace}")

    def read(self, namespace: str, name: str) -> Json:
        """The object from Kubernetes, if ours: one that is not is reported exactly like an absent
        one (upstream: 500, code 2)."""
        try:
            obj = self.fetch(namespace, name)
        except NotFound as exc:
            raise self.not_found(namespace, name) from exc
        if not self.ours(obj):
            raise self.not_found(namespace, name)
        return obj

    def view(self, namespace: str | None, verb: str = "list", name: str | None = None) -> ObjectStore | None:
        """The cache's store, if it may answer a `verb` (get, list) of `namespace` (None: all), or
        of its object `name`, now; None: ask Kubernetes."""
        return None if self.cache is None else self.cache.view(namespace, verb, name)

    def entry(self, store: ObjectStore, namespace: str, name: str) -> Entry:
        """The object as `store` holds it (a cache holds only ours)."""
        entry = store.get(namespace, name)
        if entry is None:
            raise self.not_found(namespace, name)
        return entry

    def written(self, answer: Json) -> None:
        """A create or replace answered with `answer`."""
        if self.cache is not None:
            self.cache.written(answer)

    def delete(self, namespace: str, name: str, remove: Callable[[str, str], Json]) -> Json:
        """Only ours is deleted (`remove(namespace, name)`), without waiting for it to be gone;
        the answer is empty (google.protobuf.Empty)."""
        obj = self.read(namespace, name)
        answer = remove(namespace, name)
        if self.cache is not None:
            self.cache.deleted(namespace, name, str(metadata(obj).get("uid", "")), answer)
        return {}
