"""Reads consistent across servers: before a cache answers, it is checked against what Kubernetes
holds now, so that a write any server answered is in the next read of every other.

A server's write marks (marks.py) tell its own workers about its own writes; another replica's
writes reach this one only through its watch, which may lag. Kubernetes' consistent reads from
its cache (KEP-2340) wait for the watch to pass the revision a cheap read returns; a client's
watch cannot do that here: that revision is etcd's, which every write of every kind moves, and a
watch passes it only at its next bookmark (about a minute). So a read takes a `Snapshot` of what
it is about to show (one object: a GET, which Kubernetes reads from etcd; a list's scope: a
consistent list, which waits for the API server's own cache), and the cache answers
once it holds each of those objects at least as new, and none deleted before the snapshot.

`Flights` makes concurrent reads of one scope share one snapshot; `caught_up` is the test, pure
over the store.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from app.cache.stores import Key, ObjectStore

T = TypeVar("T")

UNKNOWN = 2**63 - 1  # the revision of a snapshot Kubernetes gave none for (a 404): nothing held is newer
_EQUALITY = re.compile(r"\s*([^\s=!,]+)\s*(==|=|!=)\s*([^\s=!,]*)\s*")


@dataclass(frozen=True)
class Snapshot:
    """What Kubernetes held at `revision` in one read's scope: each object's resourceVersion."""

    revision: int
    objects: dict[Key, int] = field(default_factory=dict)


def caught_up(store: ObjectStore, snapshot: Snapshot, namespace: str | None, name: str | None = None) -> bool:
    """Whether `store` shows at least `snapshot` in the scope of a read of `namespace` (None: all),
    or of its object `name`: each object the snapshot held, at least as new, and none it did not
    hold unless made after it (a store that still holds an object deleted before it is behind)."""
    for (ns, object_name), rv in snapshot.objects.items():
        entry = store.get(ns, object_name)
        if entry is None or entry.rv < rv:
            return False
    if name is not None and namespace is not None:
        entry = store.get(namespace, name)
        held = [] if entry is None else [entry]
    else:
        held = store.entries(namespace)
    return all(entry.key in snapshot.objects or entry.rv > snapshot.revision for entry in held)


def equalities(selector: str) -> tuple[tuple[str, str, bool], ...] | None:
    """A label selector's requirements, (key, value, equal), when each is `k=v`, `k==v` or `k!=v`;
    None for any other form (set-based), which only Kubernetes then applies."""
    found = []
    for part in selector.split(",") if selector.strip() else []:
        match = _EQUALITY.fullmatch(part)
        if match is None:
            return None
        found.append((match[1], match[3], match[2] != "!="))
    return tuple(found)


def selected(requirements: tuple[tuple[str, str, bool], ...], labels: Mapping[str, str]) -> bool:
    """Whether labels meet a selector's equalities, as Kubernetes decides (`k!=v` holds without `k`)."""
    return all((labels.get(key) == value) is equal for key, value, equal in requirements)


class _Flight(Generic[T]):
    """One call at a time, and callers that share it. A caller takes the result of a call that
    started after it asked, never of one already under way, which may have read Kubernetes before
    the write the caller must see: generations count the calls started and finished."""

    def __init__(self) -> None:
        self.users = 0  # callers inside `join` (guarded by `Flights`' lock)
        self._changed = threading.Condition()
        self._started = 0
        self._finished = 0
        self._running = False
        self._result: T | None = None
        self._error: Exception | None = None

    def join(self, call: Callable[[], T]) -> T:
        with self._changed:
            wanted = self._started + 1
            while self._finished < wanted:
                if not self._running:
                    self._running = True
                    self._started += 1
                    generation = self._started
                    break
                self._changed.wait()
            else:
                return self._outcome()
        result: T | None = None
        error: Exception | None = None
        try:
            result = call()
        except Exception as exc:  # handed to every caller that shares it
            error = exc
        with self._changed:
            self._running = False
            self._finished = generation
            self._result, self._error = result, error
            self._changed.notify_all()
            return self._outcome()

    def _outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return cast(T, self._result)  # (set with the generation that let this caller in)


class Flights(Generic[T]):
    """Single-flight by key, with generations: concurrent callers of one key share one call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight[T]] = {}

    def run(self, key: Hashable, call: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.setdefault(key, _Flight())
            flight.users += 1
        try:
            return flight.join(call)
        finally:
            with self._lock:
                flight.users -= 1
                if not flight.users:
                    del self._flights[key]
