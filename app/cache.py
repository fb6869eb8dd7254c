"""Watch caches: each server process holds the objects it serves, kept current by Kubernetes watches.

An `Informer` lists one collection (in pages that share one snapshot), then watches it from the
list's resourceVersion with bookmarks; it lists again on 410 Gone, and reconnects with jittered
backoff after any other failure. Its store is either an `ObjectStore` (custom resources and
ConfigMaps, by namespace and name) or an `EventStore` (events, by namespace and the name of the
object they regard). Selectors keep what the server does not serve out of memory.

Reads use a store only while it may answer (`ObjectCache.view`): after its first list (before
it, and while it lists again, reads go to Kubernetes), and once its watch has passed every write
any worker of the server answered (`WriteMarks`): a write's answer carries the resourceVersion the
watch will deliver, so the next GET or list of the same client shows it, whichever worker serves
it. A worker whose watch lags more than `FRESH_WAIT` reads from Kubernetes instead.

Objects are kept as compact JSON without `managedFields` (a RayCluster: 3.5 KB, where its decoded
dicts take 24 KB), beside what the services computed from them (`Entry.memo`), so that an
unchanged object is neither decoded nor translated again. The cache knows no API kinds: the
services wire it (app/services/__init__.py). It talks to Kubernetes through app/k8s.py only.
"""
from __future__ import annotations

import fcntl
import logging
import mmap
import os
import random
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.auth import Access, Attributes
from app.errors import ApiError, Forbidden
from app.k8s import Collection, K8s, Watch
from app.metrics import observe_cache_read, observe_cache_restart, observe_cache_state
from app.types import Json

log = logging.getLogger(__name__)

PAGE = 500  # objects per page of a list: bounds the memory a list of thousands takes at once
WATCH_SECONDS = (240, 360)  # how long the server keeps one watch open, drawn per watch (client-go: 5-10 min)
SILENCE = 90.0  # seconds without a byte (bookmarks come about every minute) before a watch is redone
BACKOFF = (0.2, 30.0)  # seconds before reconnecting: doubling from the first, at most the second, jittered
FRESH_WAIT = 1.0  # seconds a read waits for its watch to pass a write before it asks Kubernetes instead
STALE_AFTER = 10.0  # seconds without an open watch (the API server gone, or refusing) before reads ask Kubernetes
Key = tuple[str, str]  # (namespace, name)


def resource_version(obj: Json) -> int:
    """Kubernetes' resourceVersions are etcd revisions: they order the changes of a collection."""
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


def key_of(obj: Json) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


# -- stores ---------------------------------------------------------------------------------

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


class ObjectStore(Store):
    """Objects by namespace and name. `related(obj)` names the objects whose events its answer
    shows (kept, so that an answer's validity can be checked without decoding the object)."""

    def __init__(self, related: Callable[[Json], tuple[str, ...]] = lambda obj: ()) -> None:
        self._related = related
        self._by_namespace: dict[str, dict[str, Entry]] = {}
        self._size = 0
        self._gone: dict[tuple[str, str, str], int] = {}  # (namespace, name, uid) deleted -> revision
        self._lock = threading.Lock()

    def _entry(self, obj: Json) -> Entry:
        metadata = obj.get("metadata") or {}
        metadata.pop("managedFields", None)  # who wrote which field: large, and never answered
        return Entry(key_of(obj), resource_version(obj), str(metadata.get("uid", "")), orjson.dumps(obj),
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
        namespace = regarding.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
        return str(namespace), str(regarding.get("name", ""))

    def replace(self, items: list[Json]) -> None:
        fresh: dict[Key, dict[str, Json]] = {}
        for event in items:
            fresh.setdefault(self._key(event), {})[key_of(event)[1]] = self._keep(event)
        with self._lock:
            self._counter += 1
            self._by_key = fresh
            self._stamps = dict.fromkeys(fresh, self._counter)
            self._size = len(items)

    def apply(self, kind: str, event: Json) -> None:
        key, name = self._key(event), key_of(event)[1]
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


# -- writes answered, shared by the workers ----------------------------------------------------

class WriteMarks:
    """The highest resourceVersion any worker answered a write of each collection with.

    Workers share it through a small file (`path`, which gunicorn.conf.py makes in /dev/shm); one
    process alone keeps it in memory. Updates and reads hold the file's lock: a write raises a
    mark once, and a read is a few bytes.
    """

    def __init__(self, slots: Sequence[str], path: str = "") -> None:
        self._slots = {name: index for index, name in enumerate(slots)}
        self._lock = threading.Lock()
        size = 8 * max(1, len(slots))
        self._fd: int | None = None
        if path:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
            self._values: mmap.mmap | bytearray = mmap.mmap(self._fd, size)
        else:
            self._values = bytearray(size)

    def get(self, slot: str) -> int:
        with self._locked(fcntl.LOCK_SH):
            return int(struct.unpack_from("<q", self._values, 8 * self._slots[slot])[0])

    def raise_to(self, slot: str, rv: int) -> None:
        with self._locked(fcntl.LOCK_EX):
            offset = 8 * self._slots[slot]
            if struct.unpack_from("<q", self._values, offset)[0] < rv:
                struct.pack_into("<q", self._values, offset, rv)

    def _locked(self, how: int) -> _FileLock:
        return _FileLock(self._lock, self._fd, how)


class _FileLock:
    """The thread lock, then (between processes) the file's."""

    def __init__(self, lock: threading.Lock, fd: int | None, how: int) -> None:
        self._lock, self._fd, self._how = lock, fd, how

    def __enter__(self) -> None:
        self._lock.acquire()
        if self._fd is not None:
            fcntl.flock(self._fd, self._how)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


# -- informers ------------------------------------------------------------------------------

class Informer:
    """LIST then WATCH of one collection into one store, in a thread of its own (`start`).

    `rv` is the revision the store reflects: the list's, then each event's or bookmark's. Events
    at or below it are already in the store (a watch resumed after a list may repeat some).
    """

    def __init__(self, name: str, k8s: K8s, collection: Collection, store: Store) -> None:
        self.name = name
        self.store = store
        self._k8s = k8s
        self._collection = collection
        self.rv = 0
        self.synced = False
        self.watching = False  # a watch is open now (else reads that wait for it would wait in vain)
        self._lost_at = time.monotonic()  # when the last watch ended
        self.error = ""  # why the last list or watch failed, until one succeeds
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._relist = threading.Event()

    def start(self) -> None:
        """Idempotent; after `stop`, starts again with a fresh list (an app's lifespan may be
        entered more than once, as test clients do)."""
        with self._start_lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and not self._stopping.is_set():
                return
            if thread is not None:
                thread.join(timeout=5)  # (a stop still under way; each thread has its own stop event)
            self._stopping = threading.Event()
            self._relist.clear()
            self._thread = threading.Thread(target=self._run, args=(self._stopping,), name=f"informer-{self.name}",
                                            daemon=True)
            self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Its watch closed and its thread ended (joined, with `wait`); reads ask Kubernetes, or
        start it again."""
        with self._changed:
            self._stopping.set()
            self.synced = False  # (no longer kept current)
            self._changed.notify_all()
        watch = self._watch
        if watch is not None:
            watch.close()
        if wait and self._thread is not None:
            self._thread.join(timeout=5)

    def covers(self, namespace: str | None) -> bool:
        """Whether this cache holds what a read of `namespace` (None: all) needs."""
        scope = self._collection.namespace
        return scope is None or namespace == scope

    def allow(self, access: Access | None, namespace: str | None, verb: str) -> None:
        """`Forbidden` unless the current caller may `verb` this collection in `namespace` (None: all)."""
        if access is not None:
            access.check(Attributes(namespace, self._collection.group, self._collection.plural, verb))

    def answers(self) -> bool:
        """Listed, and its watch open or only just ended: else its data may be old (the API server
        is gone, or refuses the watch), and reads ask Kubernetes."""
        if not self.synced:
            self.start()  # (the first read of an app that was not started starts its caches)
            return False
        return self.watching or time.monotonic() - self._lost_at < STALE_AFTER

    def wait_until(self, rv: int, timeout: float) -> bool:
        """Whether the store reflects revision `rv` within `timeout` seconds."""
        return self.wait_for(lambda: self.rv >= rv, timeout)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether `condition` (of the store) holds within `timeout` seconds; it is checked after
        each change, and the wait ends early when the watch is lost or the informer stops."""
        with self._changed:
            self._changed.wait_for(lambda: condition() or not self.watching or self._stopping.is_set(), timeout)
            return condition()

    def catch_up(self) -> None:
        """List again now: the watch did not bring a write in time (it may hang unnoticed)."""
        if self.synced and not self._relist.is_set():
            self._relist.set()
            watch = self._watch
            if watch is not None:
                watch.close()

    def current_revision(self) -> int:
        """The collection's revision now, read from Kubernetes (one object's list)."""
        page = self._k8s.list_page(self._collection, 1, timeout=5.0)
        return int((page.get("metadata") or {}).get("resourceVersion") or 0)

    def _run(self, stopping: threading.Event) -> None:
        """List, watch, and again: a watch the server ended is resumed at once; after a failure,
        the next try waits (growing, jittered); an expired revision, or `catch_up`, lists again."""
        failures = 0
        listed = False
        while not stopping.is_set():
            reason = "failed"
            try:
                if not listed:
                    self._relist.clear()
                    self._list(stopping)
                    listed = True
                listed = self._watch_once(stopping)
                failures = 0
                reason = "ended" if listed else "expired"
            except (ApiError, ValueError) as exc:  # (ValueError: a line that is not JSON)
                if not (stopping.is_set() or self._relist.is_set()):  # (else closed on purpose)
                    failures += 1
                    self.error = str(exc)
                    log.warning("watch cache %s: %s; again in a moment", self.name, exc)
            except Exception:  # a bug must not end the cache silently: log it, list again
                failures += 1
                listed = False
                self.error = "unexpected error (see the server log)"
                log.exception("watch cache %s: unexpected error; listing again", self.name)
            finally:
                with self._changed:  # (a read waiting for this watch waits no longer)
                    if self.watching:
                        self._lost_at = time.monotonic()
                    self.watching = False
                    self._changed.notify_all()
            if stopping.is_set():
                break
            if self._relist.is_set():
                listed = False
                reason = "behind"
            if not listed:
                with self._changed:
                    self.synced = False  # reads go to Kubernetes until the list is done
            observe_cache_restart(self.name, reason)
            if failures:
                stopping.wait(random.uniform(0, min(BACKOFF[1], BACKOFF[0] * 2 ** failures)))

    def _list(self, stopping: threading.Event) -> None:
        items: list[Json] = []
        token = ""
        while True:
            page = self._k8s.list_page(self._collection, PAGE, token)
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            token = str(metadata.get("continue") or "")
            if not token or stopping.is_set():
                break
        if stopping.is_set():
            return
        self.store.replace(items)
        with self._changed:
            self.rv = int(metadata.get("resourceVersion") or 0)
            self.synced = True
            self._changed.notify_all()
        observe_cache_state(self.name, len(self.store))
        log.info("watch cache %s: %d objects at revision %d", self.name, len(self.store), self.rv)

    def _watch_once(self, stopping: threading.Event) -> bool:
        """One watch, until the server ends it or it fails; False when it asks for a new list."""
        watch = self._k8s.watch(self._collection, str(self.rv), random.randint(*WATCH_SECONDS), SILENCE)
        self._watch = watch
        self.watching = True
        self.error = ""
        try:
            if stopping.is_set() or self._relist.is_set():
                return True
            for event in watch.events():
                kind, obj = str(event.get("type", "")), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:  # our revision is older than the server keeps
                        log.info("watch cache %s: revision %d expired; listing again", self.name, self.rv)
                        return False
                    raise ApiError(f"watch error {obj.get('code')}: {obj.get('message', '')}")
                rv = resource_version(obj)
                if kind != "BOOKMARK" and rv > self.rv:
                    self.store.apply(kind, obj)
                with self._changed:
                    self.rv = max(self.rv, rv)
                    self._changed.notify_all()
                observe_cache_state(self.name, len(self.store))
            return True
        finally:
            self._watch = None
            watch.close()


class Caches:
    """Every informer of a server process: started together, ready together."""

    def __init__(self, informers: Iterable[Informer]) -> None:
        self.informers = list(informers)

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def stop(self) -> None:
        """Every watch closed at once, then each thread joined (they end within moments)."""
        for informer in self.informers:
            informer.stop(wait=False)
        for informer in self.informers:
            informer.stop()

    def not_synced(self) -> list[str]:
        """The caches still listing, each with the reason of its last failure if it has one."""
        return [informer.name + (f": {informer.error}" if informer.error else "")
                for informer in self.informers if not informer.synced]


_NO_EVENTS = EventStore(lambda event: event)  # what a caller not allowed the events sees: none


@dataclass(frozen=True)
class EventCache:
    """An informer of events; `access` (app/auth.py) decides, per caller, who may read them here."""

    informer: Informer
    store: EventStore
    access: Access | None = None

    def view(self, namespace: str | None) -> EventStore | None:
        """The store, if it may answer a list of `namespace`'s events now; None: ask Kubernetes."""
        informer = self.informer
        if not (informer.covers(namespace) and informer.answers()):
            return None
        try:
            informer.allow(self.access, namespace, "list")
        except Forbidden:  # as a refused events read from Kubernetes is taken: no events (app/services/resource.py)
            return _NO_EVENTS
        return self.store


@dataclass(frozen=True)
class ObjectCache:
    """An informer of objects and the marks of the writes answered for them: what a service reads
    through, and tells about its writes. `access` (app/auth.py) decides, per caller, who may read
    from it: the cache answers a caller only what Kubernetes would."""

    informer: Informer
    store: ObjectStore
    marks: WriteMarks
    access: Access | None = None

    def view(self, namespace: str | None, verb: str = "list") -> ObjectStore | None:
        """The store, if it may answer a `verb` (get, list) of `namespace` (None: all) now; None:
        ask Kubernetes. `Forbidden` if Kubernetes would refuse the caller that read."""
        informer = self.informer
        if not informer.covers(namespace):
            return None
        if not informer.answers():
            observe_cache_read(informer.name, "kubernetes")
            return None
        mark = self.marks.get(informer.name)
        if informer.rv >= mark or (informer.watching and informer.wait_until(mark, FRESH_WAIT)):
            informer.allow(self.access, namespace, verb)
            observe_cache_read(informer.name, "cache")
            return self.store
        if informer.watching:  # open, yet it did not bring the write in time: it may hang unnoticed
            informer.catch_up()
        observe_cache_read(informer.name, "kubernetes")  # (else it is reconnecting, and resumes)
        return None

    def written(self, answer: Json) -> None:
        """A create or replace answered with `answer`: later reads must show at least this (if
        this cache holds its namespace: else its watch would never see it)."""
        if self.informer.covers(key_of(answer)[0]):
            self.marks.raise_to(self.informer.name, resource_version(answer))

    def deleted(self, namespace: str, name: str, uid: str, answer: Json) -> None:
        """A delete answered: until its revision is known, reads of this worker could still show
        the object. A delete that only marked the object (finalizers) answers with the object."""
        if (answer.get("metadata") or {}).get("resourceVersion"):
            self.written(answer)
            return
        store, informer = self.store, self.informer
        if not informer.covers(namespace):
            return
        informer.wait_for(lambda: store.deletion(namespace, name, uid) is not None, FRESH_WAIT)
        revision = store.deletion(namespace, name, uid)
        if revision is None:  # the watch is down or late: a revision at least as new as the delete
            try:
                revision = informer.current_revision()
            except ApiError as exc:
                log.warning("watch cache %s: cannot learn the revision of a delete: %s", informer.name, exc)
                informer.catch_up()
                return
        self.marks.raise_to(informer.name, revision)
