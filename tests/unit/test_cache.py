"""app/cache's stores, write marks and views, and the paging of lists answered from them, on plain
data: what a watch delivers, in the order it delivers it."""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any, cast

import pytest

from app.auth import Access, Attributes
from app.cache import EventCache, EventStore, Informer, ObjectCache, ObjectStore, WriteMarks
from app.cache import views as views_module
from app.errors import Forbidden
from app.k8s import Collection, K8s
from app.services.paging import cache_token, cache_token_key, page_of
from app.translate.events import kept_event, to_api_events
from app.types import Json


def obj(namespace: str, name: str, rv: int, uid: str = "", **extra: Any) -> Json:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": str(rv), "uid": uid or name,
                         "managedFields": [{"manager": "kubectl"}]}, **extra}


def event(namespace: str, name: str, regarding: str, rv: int, kind: str = "RayCluster", **extra: Any) -> Json:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": str(rv),
                         "creationTimestamp": "2026-11-29T10:00:00Z", "managedFields": [{"manager": "x"}]},
            "regarding": {"kind": kind, "namespace": namespace, "name": regarding, "uid": "u", "apiVersion": "ray.io/v1"},
            "reason": "Created", "note": f"note {name}", "type": "Normal", "deprecatedCount": 1,
            "reportingController": "raycluster-controller", "deprecatedSource": {"component": "c"}, **extra}


def names(store: ObjectStore, namespace: str | None) -> list[tuple[str, str]]:
    return [entry.key for entry in store.entries(namespace)]


def test_objects_are_listed_in_kubernetes_order_and_follow_each_change() -> None:
    store = ObjectStore()
    store.replace([obj("b", "x", 5), obj("a", "y", 3), obj("a", "x", 4), obj("a-b", "z", 2)])
    assert names(store, None) == [("a", "x"), ("a", "y"), ("a-b", "z"), ("b", "x")]
    assert names(store, "a") == [("a", "x"), ("a", "y")]
    store.apply("ADDED", obj("a", "w", 6))
    store.apply("MODIFIED", obj("a", "x", 7, spec={"v": 2}))
    store.apply("DELETED", obj("b", "x", 8))
    assert names(store, None) == [("a", "w"), ("a", "x"), ("a", "y"), ("a-b", "z")]
    assert names(store, "b") == []
    assert len(store) == 4
    entry = store.get("a", "x")
    assert entry is not None
    assert entry.rv == 7
    assert entry.object()["spec"] == {"v": 2}
    assert "managedFields" not in entry.object()["metadata"]  # never answered, so never held


def test_a_deletion_is_remembered_with_its_revision_for_the_object_that_was_deleted() -> None:
    store = ObjectStore()
    store.replace([obj("a", "x", 3, uid="old")])
    store.apply("DELETED", obj("a", "x", 9, uid="old"))
    store.apply("ADDED", obj("a", "x", 10, uid="new"))  # the same name, created again
    assert store.deletion("a", "x", "old") == 9
    assert store.deletion("a", "x", "new") is None


def test_an_object_keeps_the_names_of_its_related_objects() -> None:
    store = ObjectStore(related=lambda o: (o["metadata"]["name"], o.get("status", {}).get("active", "")))
    store.apply("ADDED", obj("a", "svc", 3, status={"active": "svc-raycluster-1"}))
    entry = store.get("a", "svc")
    assert entry is not None
    assert entry.related == ("svc", "svc-raycluster-1")


def test_events_are_filed_by_the_object_they_regard_and_stamped_on_each_change() -> None:
    store = EventStore(kept_event)
    store.replace([event("a", "e2", "rc1", 3), event("a", "e1", "rc1", 2), event("a", "e3", "rc2", 4)])
    assert [e["metadata"]["name"] for e in store.events("a", "rc1")] == ["e1", "e2"]  # Kubernetes' order
    before = store.stamp("a", "rc1"), store.stamp("a", "rc2")
    store.apply("ADDED", event("a", "e0", "rc1", 5))
    assert store.stamp("a", "rc1") != before[0]
    assert store.stamp("a", "rc2") == before[1]
    assert [e["metadata"]["name"] for e in store.events("a", "rc1")] == ["e0", "e1", "e2"]
    stamp = store.stamp("a", "rc2")
    store.apply("DELETED", event("a", "e3", "rc2", 6))
    assert store.events("a", "rc2") == []
    assert store.stamp("a", "rc2") != stamp
    assert len(store) == 3


def test_a_kept_event_translates_exactly_as_the_whole_event() -> None:
    series = event("a", "e", "rc", 3, series={"count": 4, "lastObservedTime": "2026-11-29T10:05:00.123456Z"},
                   eventTime="2026-11-29T10:00:00.000001Z")
    plain = event("a", "f", "rc", 4, deprecatedFirstTimestamp="2026-11-29T09:00:00Z",
                  deprecatedLastTimestamp="2026-11-29T09:30:00Z", eventTime=None)
    for whole in (series, plain):
        assert to_api_events([kept_event(whole)], "rc") == to_api_events([whole], "rc")
        assert len(str(kept_event(whole))) < len(str(whole))


def test_write_marks_only_rise(tmp_path: Path) -> None:
    marks = WriteMarks(["rayclusters", "configmaps"], str(tmp_path / "marks"))
    marks.raise_to("rayclusters", 40)
    marks.raise_to("rayclusters", 30)
    assert marks.get("rayclusters") == 40
    assert marks.get("configmaps") == 0
    memory = WriteMarks(["rayclusters"])
    memory.raise_to("rayclusters", 7)
    assert memory.get("rayclusters") == 7


def _raise(path: str, slot: str, rv: int) -> None:
    WriteMarks(["rayclusters", "rayjobs"], path).raise_to(slot, rv)


def test_write_marks_are_shared_between_processes(tmp_path: Path) -> None:
    """Another worker's write is seen by this one: the file is the only thing they share."""
    path = str(tmp_path / "marks")
    reader = WriteMarks(["rayclusters", "rayjobs"], path)
    process = multiprocessing.get_context("spawn").Process(target=_raise, args=(path, "rayjobs", 123))
    process.start()
    process.join(timeout=30)
    assert process.exitcode == 0
    assert reader.get("rayjobs") == 123
    assert reader.get("rayclusters") == 0


KEYS = [("a", "x"), ("a", "y"), ("a-b", "z"), ("b", "w"), ("b", "x")]


@pytest.mark.parametrize(("after", "limit", "page", "next_key"), [
    (None, 0, KEYS, None),
    (None, 2, KEYS[:2], ("a", "y")),
    (("a", "y"), 2, KEYS[2:4], ("b", "w")),
    (("b", "w"), 2, KEYS[4:], None),
    (("a", "x0"), 1, [("a", "y")], ("a", "y")),  # the key it continued after was deleted meanwhile
    (("c", "a"), 5, [], None),
    (None, 5, KEYS, None),
])
def test_a_page_continues_after_the_last_key_of_the_previous_one(after: Any, limit: int, page: list[Any],
                                                                  next_key: Any) -> None:
    assert page_of(KEYS, lambda key: key, after, limit) == (page, next_key)


def test_paging_lists_each_object_present_throughout_exactly_once_whatever_changes() -> None:
    store = ObjectStore()
    store.replace([obj("ns", f"c{index:02d}", index + 1) for index in range(0, 20, 2)])  # c00 c02 ... c18
    seen: list[str] = []
    after = None
    rv = 100
    while True:
        entries, after = page_of(store.entries("ns"), lambda entry: entry.key, after, 3)
        seen += [entry.key[1] for entry in entries]
        rv += 2
        store.apply("ADDED", obj("ns", f"c{rv % 20:02d}x", rv))  # created between pages, anywhere
        store.apply("DELETED", obj("ns", f"c{(rv * 7) % 20:02d}y", rv + 1))  # never there
        if after is None:
            break
    originals = [f"c{index:02d}" for index in range(0, 20, 2)]
    assert [name for name in seen if name in originals] == originals
    assert len(seen) == len(set(seen))


def test_a_page_token_round_trips_and_is_told_apart_from_kubernetes_tokens() -> None:
    token = cache_token(("team-a", "my-cluster"))
    assert cache_token_key(token) == ("team-a", "my-cluster")
    assert cache_token(None) == ""
    kubernetes = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NTY3LCJzdGFydCI6ImMyXHUwMDAwIn0"
    for other in (kubernetes, "", "abc", "W10", "WyJ4IiwiYSIsImIiXQ"):
        assert cache_token_key(other) is None


# -- views: when a store may answer -----------------------------------------------------------------

class Refusing:
    """An `Access` that refuses every read of the namespaces it is given, and notes each check."""

    def __init__(self, *refused: str) -> None:
        self.refused = set(refused)
        self.checked: list[Attributes] = []

    def check(self, attributes: Attributes) -> None:
        self.checked.append(attributes)
        if attributes.namespace in self.refused:
            raise Forbidden(f"not in {attributes.namespace}")


def listed(rv: int, watching: bool = True, namespace: str | None = None) -> Informer:
    """An informer as its thread leaves it after a list (never started here: no gateway)."""
    informer = Informer("rayclusters", cast(K8s, None), Collection.configmaps("", namespace), ObjectStore())
    informer.synced, informer.watching, informer.rv = True, watching, rv
    return informer


def object_cache(informer: Informer, access: Refusing | None = None) -> ObjectCache:
    assert isinstance(informer.store, ObjectStore)
    return ObjectCache(informer, informer.store, WriteMarks(["rayclusters"]), cast(Access | None, access))


def test_a_view_answers_once_its_watch_passed_every_write_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views_module, "FRESH_WAIT", 0.01)
    cache = object_cache(listed(10))
    assert cache.view("a") is cache.store
    cache.written(obj("a", "x", 12))  # a write this watch has not brought yet
    assert cache.view("a") is None
    assert cache.informer._relist.is_set()  # (it may hang: listed again)
    cache.informer.rv = 12
    assert cache.view("a", "get") is cache.store
    cache.written(obj("a", "x", 11))  # marks only rise
    assert cache.marks.get("rayclusters") == 12


def test_a_view_of_a_store_that_cannot_answer_asks_kubernetes_and_starts_nothing() -> None:
    never = object_cache(listed(0))
    never.informer.synced = False
    stale = object_cache(listed(5, watching=False))
    stale.informer._lost_at -= 60  # its watch lost for a minute
    for cache in (never, stale):
        assert cache.view("a") is None
        assert cache.view(None) is None
        assert cache.informer._thread is None


def test_a_namespace_cache_answers_for_its_namespace_and_marks_only_its_writes() -> None:
    cache = object_cache(listed(10, namespace="a"))
    assert cache.view("a") is cache.store
    assert cache.view("b") is None
    assert cache.view(None) is None
    cache.written(obj("b", "x", 30))  # its watch would never see it
    assert cache.marks.get("rayclusters") == 0
    cache.deleted("a", "x", "x", obj("a", "x", 31))  # a delete answered with the object (finalizers)
    assert cache.marks.get("rayclusters") == 31


def test_a_delete_is_marked_with_the_revision_its_watch_saw_it_at(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views_module, "FRESH_WAIT", 0.01)
    cache = object_cache(listed(10))
    cache.store.apply("DELETED", obj("a", "x", 15, uid="u1"))
    cache.deleted("a", "x", "u1", {"kind": "Status", "status": "Success"})
    assert cache.marks.get("rayclusters") == 15


def test_views_answer_a_caller_only_what_kubernetes_would() -> None:
    access = Refusing("secret")
    cache = object_cache(listed(10), access)
    assert cache.view("open", "get") is cache.store
    with pytest.raises(Forbidden):
        cache.view("secret")
    assert [(a.namespace, a.group, a.resource, a.verb) for a in access.checked] == \
        [("open", "", "configmaps", "get"), ("secret", "", "configmaps", "list")]
    informer = listed(10)
    events = EventStore(kept_event)
    events.apply("ADDED", event("secret", "e1", "rc1", 3))
    cache_of_events = EventCache(informer, events, cast(Access, access))
    assert cache_of_events.view("open") is events
    refused = cache_of_events.view("secret")  # as a refused read of events from Kubernetes: none
    assert refused is not None
    assert refused is not events
    assert refused.events("secret", "rc1") == []
