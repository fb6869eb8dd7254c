"""What the services read through: a store, when it may answer this caller now; else None (ask
Kubernetes).

A store answers only after its first list (before it, and while it lists again, reads go to
Kubernetes), and once its watch has passed every write any worker of the server answered
(`WriteMarks`), or, with consistent reads (several servers), once it holds what a snapshot of
Kubernetes taken for the read holds (consistency.py). A worker whose watch lags more than
`FRESH_WAIT` reads from Kubernetes instead.
The caches hold what the server's own identity may see, so a view first asks `access`
(app/auth.py) whether Kubernetes would let the current caller make that read.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from app.auth import Access
from app.cache.consistency import caught_up
from app.cache.informer import Informer
from app.cache.marks import WriteMarks
from app.cache.stores import EventStore, ObjectStore, resource_version
from app.errors import ApiError, Forbidden
from app.metrics import observe_cache_read
from app.translate.common import metadata, object_key
from app.types import Json

log = logging.getLogger(__name__)

FRESH_WAIT = 1.0  # seconds a read waits for its watch to pass a write before it asks Kubernetes instead


def _as_is(event: Json) -> Json:
    return event


_NO_EVENTS = EventStore(_as_is)  # what a caller not allowed the events sees: none


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
    from it: the cache answers a caller only what Kubernetes would. With `consistent`, a read is
    checked against what Kubernetes holds now (consistency.py), so that the writes other servers
    answered show too; else against this server's write marks only."""

    informer: Informer
    store: ObjectStore
    marks: WriteMarks
    access: Access | None = None
    consistent: bool = False

    def view(self, namespace: str | None, verb: str = "list", name: str | None = None) -> ObjectStore | None:
        """The store, if it may answer a `verb` (get, list) of `namespace` (None: all), or of the
        object `name` in it, now; None: ask Kubernetes. `Forbidden` if Kubernetes would refuse the
        caller that read."""
        informer = self.informer
        if not informer.covers(namespace):
            return None
        if not informer.answers():
            observe_cache_read(informer.name, "kubernetes")
            return None
        fresh = self._caught_up(namespace, name) if self.consistent else self._marked()
        if fresh:
            informer.allow(self.access, namespace, verb)
            observe_cache_read(informer.name, "cache")
            return self.store
        if fresh is not None and informer.watching:  # open, yet it did not bring a change in time: it may hang
            informer.catch_up()
        observe_cache_read(informer.name, "kubernetes")  # (else it is reconnecting, and resumes)
        return None

    def _marked(self) -> bool:
        """The watch has passed every write of this server (at once, or within `FRESH_WAIT`)."""
        informer, mark = self.informer, self.marks.get(self.informer.name)
        return informer.rv >= mark or (informer.watching and informer.wait_until(mark, FRESH_WAIT))

    def _caught_up(self, namespace: str | None, name: str | None) -> bool | None:
        """The store shows what Kubernetes holds now in the read's scope (at once, or within
        `FRESH_WAIT`); None if Kubernetes could not be asked (the read then asks it itself, and
        answers as it does)."""
        informer, store = self.informer, self.store
        try:
            snapshot = informer.snapshot(namespace, name)
        except ApiError as exc:
            log.info("watch cache %s: no snapshot for a read: %s", informer.name, exc)
            return None
        return informer.wait_for(lambda: caught_up(store, snapshot, namespace, name), FRESH_WAIT)

    def written(self, answer: Json) -> None:
        """A create or replace answered with `answer`: later reads must show at least this (if
        this cache holds its namespace: else its watch would never see it)."""
        if self.informer.covers(object_key(answer)[0]):
            self.marks.raise_to(self.informer.name, resource_version(answer))

    def deleted(self, namespace: str, name: str, uid: str, answer: Json) -> None:
        """A delete answered: until its revision is known, reads of this worker could still show
        the object. A delete that only marked the object (finalizers) answers with the object."""
        if metadata(answer).get("resourceVersion"):
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
