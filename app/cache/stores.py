"""What an informer fills: `ObjectStore` (custom resources and ConfigMaps, by namespace and name)
and `EventStore` (events, by namespace and the name of the object they regard).

Objects are kept as compact JSON without `managedFields` (a RayCluster: 3.5 KB, where its decoded
dicts take 24 KB), beside what the services computed from them (`Entry.memo`), so that an
unchanged object is neither decoded nor translated again.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from app.translate.common import metadata, object_key
from app.types import Json

Key = tuple[str, str]  # (namespace, name)


def resource_version(obj: Json) -> int:
    """Kubernetes' resourceVersions are etcd revisions: they order the changes of a collection."""
    return int(metadata(obj).get("resourceVersion") or 0)


class Entry:
    """One object as the watch last delivered it, and what was computed from it (`memo`: the
    services decide what it depends on, and replace it whole, so that threads may race on it).
    A memo is shared by every read that finds it: it is never changed, only replaced."""

    __slots__ = ("key", "rv", "uid", "raw", "related", "memo")

    def __init__(self, key: Key, rv: int, uid: str, raw: bytes, related: tuple[str, ...]) -> None:
        self.key = key
        self.rv = rv
        self.uid = uid
        self.raw = raw
        self.related = related
        self.memo: tuple[tuple[Any, ...], Json] | None = None  # (what it was computed from, the result)

    def object(self) -> Json:
        value: Json = orjson.loads(self.raw)
        return value

    def memoized(self, basis: tuple[Any, ...], compute: Callable[[Json], Json]) -> Json:
        """`compute(the object)`, kept while `basis` (what else it depends on) stays the same."""
        memo = self.memo
        if memo is not None and memo[0] == basis:
            return memo[1]
        result = compute(self.object())
        self.memo = (basis, result)
        return result


class Store:
    """What an informer fills: the whole collection at once (`replace`), then each change."""

    def replace(self, items: list[Json]) -> None:
        raise NotImplementedError

    def apply(self, kind: str, obj: Json) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


def _no_related(obj: Json) -> tuple[str, ...]:
    return ()


class ObjectStore(Store):
    """Objects by namespace and name. `related(obj)` names the objects whose events its answer
    shows (kept, so that an answer's validity can be checked without decoding the object)."""

    def __init__(self, related: Callable[[Json], tuple[str, ...]] = _no_related) -> None:
        self._related = related
        self._by_namespace: dict[str, dict[str, Entry]] = {}
        self._size = 0
        self._gone: dict[tuple[str, str, str], int] = {}  # (namespace, name, uid) deleted -> revision
        self._lock = threading.Lock()

    def _entry(self, obj: Json) -> Entry:
        meta = metadata(obj)
        meta.pop("managedFields", None)  # who wrote which field: large, and never answered
        return Entry(object_key(obj), resource_version(obj), str(meta.get("uid", "")), orjson.dumps(obj),
                     self._related(obj))

    def replace(self, items: list[Json]) -> None:
        fresh: dict[str, dict[str, Entry]] = {}
        for obj in items:
            entry = self._entry(obj)
            fresh.setdefault(entry.key[0], {})[entry.key[1]] = entry
        with self._lock:
            self._by_namespace = fresh
            self._size = len(items)

    def apply(self, kind: str, obj: Json) -> None:
        entry = self._entry(obj)
        namespace, name = entry.key
        with self._lock:
            names = self._by_namespace.setdefault(namespace, {})
            if kind == "DELETED":
                if names.pop(name, None) is not None:
                    self._size -= 1
                if not names:
                    del self._by_namespace[namespace]
                self._gone[(namespace, name, entry.uid)] = entry.rv
                if len(self._gone) > 1000:  # only a recent delete's writer looks: keep the newest
                    for old in list(self._gone)[:500]:
                        del self._gone[old]
            else:
                if name not in names:
                    self._size += 1
                names[name] = entry

    def get(self, namespace: str, name: str) -> Entry | None:
        return self._by_namespace.get(namespace, {}).get(name)

    def entries(self, namespace: str | None) -> list[Entry]:
        """Sorted by namespace, then name: the order Kubernetes lists in."""
        with self._lock:  # (copied under the lock, sorted outside it)
            if namespace is not None:
                scopes = [(namespace, dict(self._by_namespace.get(namespace, {})))]
            else:
                scopes = [(ns, dict(names)) for ns, names in self._by_namespace.items()]
        scopes.sort(key=lambda scope: scope[0])
        return [names[name] for _, names in scopes for name in sorted(names)]

    def deletion(self, namespace: str, name: str, uid: str) -> int | None:
        """The revision at which the watch saw this object deleted, if it did."""
        return self._gone.get((namespace, name, uid))

    def __len__(self) -> int:
        return self._size


class EventStore(Store):
    """events.k8s.io/v1 Events by (namespace, name of the object they regard), each kept as
    `keep(event)`; `stamp(key)` changes whenever that object's events do."""

    def __init__(self, keep: Callable[[Json], Json]) -> None:
        self._keep = keep
        self._by_key: dict[Key, dict[str, Json]] = {}
        self._stamps: dict[Key, int] = {}
        self._counter = 0
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def _key(event: Json) -> Key:
        regarding = event.get("regarding") or {}
        namespace = regarding.get("namespace") or metadata(event).get("namespace", "")
        return str(namespace), str(regarding.get("name", ""))

    def replace(self, items: list[Json]) -> None:
        fresh: dict[Key, dict[str, Json]] = {}
        for event in items:
            fresh.setdefault(self._key(event), {})[object_key(event)[1]] = self._keep(event)
        with self._lock:
            self._counter += 1
            self._by_key = fresh
            self._stamps = dict.fromkeys(fresh, self._counter)
            self._size = len(items)

    def apply(self, kind: str, event: Json) -> None:
        key, name = self._key(event), object_key(event)[1]
        with self._lock:
            events = self._by_key.setdefault(key, {})
            if kind == "DELETED":
                self._size -= events.pop(name, None) is not None
            else:
                self._size += name not in events
                events[name] = self._keep(event)
            if not events:
                del self._by_key[key]
            self._counter += 1
            self._stamps[key] = self._counter  # (kept when empty: an answer built with them is stale)

    def events(self, namespace: str, name: str) -> list[Json]:
        """In the order Kubernetes lists them (by the event's name)."""
        with self._lock:
            events = dict(self._by_key.get((namespace, name), {}))
        return [events[event] for event in sorted(events)]

    def stamp(self, namespace: str, name: str) -> int:
        return self._stamps.get((namespace, name), 0)

    def __len__(self) -> int:
        return self._size
