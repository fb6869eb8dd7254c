"""The informers: each lists one collection into its store, then watches it, in a thread of its own.

An `Informer` lists (in pages that share one snapshot), then watches from the list's
resourceVersion with bookmarks; what it does after each list or watch (resume, list again, back
off) is `decisions.decide`'s. `Caches` starts and stops a process's informers together: the
app's lifespan does (app/__init__.py), or one explicit `caches.start()`; reading never does.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from app.auth import Access, Attributes
from app.cache.consistency import UNKNOWN, Flights, Snapshot, equalities, selected
from app.cache.decisions import START, Action, Event, Outcome, decide
from app.cache.stores import Store, resource_version
from app.errors import ApiError, NotFound
from app.k8s import Collection, K8s, Watch
from app.metrics import observe_cache_restart, observe_cache_state
from app.translate.common import metadata, object_key
from app.types import Json

log = logging.getLogger(__name__)

PAGE = 500  # objects per page of a list: bounds the memory a list of thousands takes at once
WATCH_SECONDS = (240, 360)  # how long the server keeps one watch open, drawn per watch (client-go: 5-10 min)
SILENCE = 90.0  # seconds without a byte (bookmarks come about every minute) before a watch is redone
STALE_AFTER = 10.0  # seconds without an open watch (the API server gone, or refusing) before reads ask Kubernetes
SNAPSHOT_TIMEOUT = 5.0  # seconds a read's snapshot (consistency.py) may take, within the request's own deadline


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
        self._snapshots: Flights[Snapshot] = Flights()

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
        """Its watch closed and its thread ended (joined, with `wait`); reads ask Kubernetes until
        it is started again."""
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
        is gone, or refuses the watch), and reads ask Kubernetes. A question only: an informer
        that was never started never answers."""
        if not self.synced:
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
        return int(metadata(page).get("resourceVersion") or 0)

    def snapshot(self, namespace: str | None, name: str | None = None) -> Snapshot:
        """What Kubernetes holds now in the scope of a read of `namespace` (None: all), or of its
        object `name` (a GET, read from etcd; a list, with this cache's selectors, waits for the API
        server's own cache), shared by the reads of that scope that asked while it had not started
        yet (consistency.Flights)."""
        return self._snapshots.run((namespace, name), lambda: self._take_snapshot(namespace, name))

    def _take_snapshot(self, namespace: str | None, name: str | None) -> Snapshot:
        if name is not None and namespace is not None and not self._collection.field_selector:
            requirements = equalities(self._collection.label_selector)
            if requirements is not None:
                return self._object_snapshot(namespace, name, requirements)
        collection = replace(self._collection, namespace=namespace)
        if name is not None:
            by_name = f"metadata.name={escaped(name)}"
            collection = replace(collection, field_selector=",".join(
                part for part in (collection.field_selector, by_name) if part))
        objects: dict[tuple[str, str], int] = {}
        token, revision = "", 0
        while True:
            page = self._k8s.list_page(collection, PAGE, token, timeout=SNAPSHOT_TIMEOUT)
            meta = metadata(page)
            revision = revision or int(meta.get("resourceVersion") or 0)  # (the pages share the first's snapshot)
            for item in page.get("items") or []:
                objects[object_key(item)] = resource_version(item)
            token = str(meta.get("continue") or "")
            if not token:
                return Snapshot(revision, objects)

    def _object_snapshot(self, namespace: str, name: str, requirements: tuple[tuple[str, str, bool], ...]) -> Snapshot:
        """One object by a GET: one that this cache's selector leaves out is as absent."""
        try:
            obj = self._k8s.get_member(self._collection, namespace, name, timeout=SNAPSHOT_TIMEOUT)
        except NotFound:
            return Snapshot(UNKNOWN)
        if not selected(requirements, metadata(obj).get("labels") or {}):
            return Snapshot(UNKNOWN)
        return Snapshot(resource_version(obj), {object_key(obj): resource_version(obj)})

    def _run(self, stopping: threading.Event) -> None:
        """List, watch, and again, each step as `decide` says from how the last one ended."""
        step = START
        while not stopping.is_set():
            outcome = self._attempt(step.action, stopping)
            jitter = random.random()  # noqa: S311  (spreads the informers' retries: no secret)
            step = decide(step.state, Event(outcome, stopping.is_set(), self._relist.is_set(), jitter))
            if step.action is Action.STOP:
                break
            if step.action is Action.LIST:
                with self._changed:
                    self.synced = False  # reads go to Kubernetes until the list is done
            if step.reason is not None:
                observe_cache_restart(self.name, step.reason.value)
            if step.delay:
                stopping.wait(step.delay)

    def _attempt(self, action: Action, stopping: threading.Event) -> Outcome:
        """One list or one watch, and how it ended."""
        try:
            if action is Action.LIST:
                self._relist.clear()
                self._list(stopping)
                return Outcome.LISTED
            return Outcome.ENDED if self._watch_once(stopping) else Outcome.EXPIRED
        except (ApiError, ValueError) as exc:  # (ValueError: a line that is not JSON)
            if stopping.is_set() or self._relist.is_set():
                return Outcome.CLOSED
            self.error = str(exc)
            log.warning("watch cache %s: %s; again in a moment", self.name, exc)
            return Outcome.FAILED
        except Exception:  # a bug must not end the cache silently: log it, list again
            self.error = "unexpected error (see the server log)"
            log.exception("watch cache %s: unexpected error; listing again", self.name)
            return Outcome.CRASHED
        finally:
            with self._changed:  # (a read waiting for this watch waits no longer)
                if self.watching:
                    self._lost_at = time.monotonic()
                self.watching = False
                self._changed.notify_all()

    def _list(self, stopping: threading.Event) -> None:
        items: list[Json] = []
        token = ""
        while True:
            page = self._k8s.list_page(self._collection, PAGE, token)
            items += page.get("items") or []
            meta = metadata(page)
            token = str(meta.get("continue") or "")
            if not token or stopping.is_set():
                break
        if stopping.is_set():
            return
        self.store.replace(items)
        with self._changed:
            self.rv = int(meta.get("resourceVersion") or 0)
            self.synced = True
            self._changed.notify_all()
        observe_cache_state(self.name, len(self.store))
        log.info("watch cache %s: %d objects at revision %d", self.name, len(self.store), self.rv)

    def _watch_once(self, stopping: threading.Event) -> bool:
        """One watch, until the server ends it or it fails; False when it asks for a new list."""
        seconds = random.randint(*WATCH_SECONDS)  # noqa: S311  (spreads the watches' ends: no secret)
        watch = self._k8s.watch(self._collection, str(self.rv), seconds, SILENCE)
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


def escaped(value: str) -> str:
    """A field selector's value, with the characters its syntax uses escaped (as Kubernetes'
    fields.EscapeValue)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


class Caches:
    """Every informer of a server process: started together, ready together."""

    def __init__(self, informers: Iterable[Informer]) -> None:
        self.informers = list(informers)
        self._users = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Starts and stops pair up, as the gRPC server's do: a lifespan entered again while one
        runs (an app served by a second server, test clients) shares the running caches, which
        stop at the last `stop`; nothing else starts them, so an early stop would leave the
        first lifespan's reads asking Kubernetes for good."""
        with self._lock:
            self._users += 1
            for informer in self.informers:
                informer.start()

    def stop(self) -> None:
        """At the last user's stop: every watch closed at once, then each thread joined (they end
        within moments)."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users:
                return
            for informer in self.informers:
                informer.stop(wait=False)
            for informer in self.informers:
                informer.stop()

    def not_synced(self) -> list[str]:
        """The caches still listing, each with the reason of its last failure if it has one."""
        return [informer.name + (f": {informer.error}" if informer.error else "")
                for informer in self.informers if not informer.synced]
