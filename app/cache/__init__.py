"""Watch caches: each server process holds the objects it serves, kept current by Kubernetes watches.

* `stores`: `ObjectStore` (custom resources and ConfigMaps, by namespace and name) and
  `EventStore` (events, by namespace and the name of the object they regard), of `Entry`s kept
  as compact JSON beside what the services computed from them;
* `marks`: `WriteMarks`, the writes any worker of the server answered, shared through a file;
* `consistency`: what makes a read consistent across servers (several replicas): a `Snapshot` of
  the read's scope from Kubernetes, shared by concurrent reads (`Flights`), and `caught_up`;
* `informer`: `Informer`, which lists one collection into its store then watches it, and
  `Caches`, which starts and stops them together (the app's lifespan does: reads never start them);
* `decisions`: what an informer does after each list or watch (resume, list again, back off), a
  pure function;
* `views`: `ObjectCache` and `EventCache`, what the services read through: a store when it may
  answer the current caller now, else None (ask Kubernetes).

The cache knows no API kinds: the services wire it (app/services/__init__.py). It talks to
Kubernetes through app/k8s only. Selectors keep what the server does not serve out of memory.
"""
from __future__ import annotations

from app.cache.informer import Caches, Informer
from app.cache.marks import WriteMarks
from app.cache.stores import Entry, EventStore, ObjectStore, Store
from app.cache.views import EventCache, ObjectCache

__all__ = ["Caches", "Entry", "EventCache", "EventStore", "Informer", "ObjectCache", "ObjectStore", "Store",
           "WriteMarks"]
