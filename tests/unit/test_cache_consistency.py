"""app/cache/consistency.py on plain data: when a store shows at least what a snapshot of Kubernetes
held, the snapshots that concurrent reads share, and a consistent view over a scripted list."""
from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from app.cache import Informer, ObjectCache, ObjectStore, WriteMarks
from app.cache import views as views_module
from app.cache.consistency import UNKNOWN, Flights, Snapshot, caught_up, equalities, selected
from app.cache.informer import escaped
from app.errors import NotFound, Unavailable
from app.k8s import Collection, K8s
from app.types import Json


def obj(namespace: str, name: str, rv: int) -> Json:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": str(rv), "uid": name}}


def store_of(*objects: Json) -> ObjectStore:
    store = ObjectStore()
    store.replace(list(objects))
    return store


HELD = store_of(obj("a", "x", 5), obj("a", "y", 7), obj("b", "z", 3))

# (snapshot, namespace, name, caught up)
CASES: list[tuple[Snapshot, str | None, str | None, bool]] = [
    (Snapshot(8, {("a", "x"): 5, ("a", "y"): 7}), "a", None, True),
    (Snapshot(8, {("a", "x"): 5, ("a", "y"): 7, ("b", "z"): 3}), None, None, True),
    (Snapshot(8, {("a", "x"): 6, ("a", "y"): 7}), "a", None, False),  # x changed: the watch has not brought it
    (Snapshot(8, {("a", "x"): 4, ("a", "y"): 7}), "a", None, True),  # the store's x is newer than the snapshot
    (Snapshot(8, {("a", "x"): 5, ("a", "y"): 7, ("a", "w"): 8}), "a", None, False),  # w made: not here yet
    (Snapshot(8, {("a", "x"): 5}), "a", None, False),  # y deleted before the snapshot: still here
    (Snapshot(6, {("a", "x"): 5}), "a", None, True),  # y made after the snapshot: may show
    (Snapshot(8, {("a", "x"): 5, ("a", "y"): 7}), None, None, False),  # z deleted (the whole list's scope)
    (Snapshot(8, {("a", "x"): 5}), "a", "x", True),  # one object: the others do not matter
    (Snapshot(8, {("a", "x"): 6}), "a", "x", False),
    (Snapshot(8, {}), "a", "x", False),  # x deleted
    (Snapshot(8, {}), "a", "absent", True),  # absent in both
    (Snapshot(UNKNOWN), "a", "y", False),  # a 404 gives no revision: y may not be newer
    (Snapshot(UNKNOWN), "a", "absent", True),
    (Snapshot(4, {}), "a", "y", True),  # y made after the snapshot
]


@pytest.mark.parametrize(("snapshot", "namespace", "name", "expected"), CASES)
def test_a_store_is_caught_up_when_it_shows_at_least_the_snapshot_in_the_reads_scope(
        snapshot: Snapshot, namespace: str | None, name: str | None, expected: bool) -> None:
    assert caught_up(HELD, snapshot, namespace, name) is expected


@pytest.mark.parametrize(("value", "expected"), [("rc-1", "rc-1"), ("a,b=c", "a\\,b\\=c"), ("a\\b", "a\\\\b")])
def test_a_name_in_a_field_selector_is_escaped(value: str, expected: str) -> None:
    assert escaped(value) == expected


def test_a_read_that_asks_during_a_call_takes_the_next_one_which_the_others_waiting_share() -> None:
    flights: Flights[int] = Flights()
    first_started, release_first = threading.Event(), threading.Event()
    calls: list[int] = []

    def call() -> int:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            first_started.set()
            release_first.wait(timeout=10)
        return len(calls)

    results: dict[str, int] = {}

    def read(who: str) -> None:
        results[who] = flights.run("scope", call)

    first = threading.Thread(target=read, args=("first",))
    first.start()
    assert first_started.wait(timeout=10)
    later = [threading.Thread(target=read, args=(f"later{index}",)) for index in range(5)]
    for thread in later:
        thread.start()
    deadline = time.monotonic() + 10
    while len(flights._flights["scope"]._changed._waiters) < 5:  # type: ignore[attr-defined]  # all waiting
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release_first.set()
    for thread in [first, *later]:
        thread.join(timeout=10)
    # the first call began before the later reads asked: they share a second one, and only it
    assert calls == [1, 2]
    assert results == {"first": 1, **{f"later{index}": 2 for index in range(5)}}
    assert flights._flights == {}  # nothing kept once no one waits
    assert flights.run("scope", call) == 3  # a read after them all asks again


def test_a_failed_call_fails_each_read_that_shared_it_and_the_next_read_asks_again() -> None:
    flights: Flights[int] = Flights()

    def failing() -> int:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        flights.run("scope", failing)
    assert flights.run("scope", lambda: 7) == 7


class Kubernetes:
    """A gateway that answers each list with `page` and each GET with what `objects` holds (else
    404), and notes what it was asked."""

    def __init__(self, page: Json, *objects: Json) -> None:
        self.page = page
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.asked: list[str] = []

    def list_page(self, collection: Collection, limit: int, continue_token: str = "", timeout: float = 60.0) -> Json:
        self.asked.append(f"list {collection.namespace} {collection.field_selector}".strip())
        return self.page

    def get_member(self, collection: Collection, ns: str, name: str, timeout: float = 60.0) -> Json:
        self.asked.append(f"get {ns}/{name}")
        if (ns, name) not in self.objects:
            raise NotFound("not found")
        return self.objects[ns, name]


def labelled(namespace: str, name: str, rv: int, **labels: str) -> Json:
    found = obj(namespace, name, rv)
    found["metadata"]["labels"] = labels
    return found


def consistent_cache(gateway: Any, *held: Json, selector: str = "app=x") -> ObjectCache:
    store = store_of(*held)
    informer = Informer("rayclusters", cast(K8s, gateway), Collection.configmaps(selector), store)
    informer.synced, informer.watching, informer.rv = True, True, 2
    return ObjectCache(informer, store, WriteMarks(["rayclusters"]), consistent=True)


def test_a_consistent_get_answers_once_its_store_holds_the_object_as_kubernetes_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views_module, "FRESH_WAIT", 0.01)
    kubernetes = Kubernetes({}, labelled("a", "x", 5, app="x"), labelled("a", "theirs", 3, app="other"))
    cache = consistent_cache(kubernetes, obj("a", "x", 5))
    assert cache.view("a", "get", "x") is cache.store  # the watch's revision (2) is far behind: no matter
    assert cache.view("a", "get", "absent") is cache.store  # absent in both
    assert cache.view("a", "get", "theirs") is cache.store  # not this cache's selection: as absent
    assert kubernetes.asked == ["get a/x", "get a/absent", "get a/theirs"]
    kubernetes.objects["a", "x"] = labelled("a", "x", 6, app="x")  # changed through another server
    assert cache.view("a", "get", "x") is None
    assert cache.informer._relist.is_set()  # (the watch did not bring it in time: listed again)
    cache.store.apply("MODIFIED", obj("a", "x", 6))
    assert cache.view("a", "get", "x") is cache.store
    del kubernetes.objects["a", "x"]  # deleted through another server
    assert cache.view("a", "get", "x") is None
    cache.store.apply("DELETED", obj("a", "x", 7))
    assert cache.view("a", "get", "x") is cache.store


def test_a_consistent_list_answers_once_its_store_holds_what_kubernetes_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views_module, "FRESH_WAIT", 0.01)
    kubernetes = Kubernetes({"metadata": {"resourceVersion": "9"}, "items": [obj("a", "x", 5)]})
    cache = consistent_cache(kubernetes, obj("a", "x", 5))
    assert cache.view("a") is cache.store
    kubernetes.page = {"metadata": {"resourceVersion": "11"}, "items": []}  # deleted elsewhere
    assert cache.view(None) is None
    assert kubernetes.asked == ["list a", "list None"]
    # a selector only Kubernetes applies: one object's read lists it by name
    by_list = consistent_cache(kubernetes, selector="app in (x)")
    assert by_list.view("a", "get", "x") is by_list.store
    assert kubernetes.asked[-1] == "list a metadata.name=x"


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("app=x", {"app": "x"}, True),
    ("app==x", {"app": "y"}, False),
    ("app=x, tier != db", {"app": "x"}, True),  # `!=` holds without the label
    ("app=x,tier!=db", {"app": "x", "tier": "db"}, False),
    ("", {}, True),
])
def test_a_label_selector_of_equalities_is_applied_as_kubernetes_does(
        selector: str, labels: dict[str, str], expected: bool) -> None:
    requirements = equalities(selector)
    assert requirements is not None
    assert selected(requirements, labels) is expected


@pytest.mark.parametrize("selector", ["app in (x)", "!app", "app", "app=x,tier notin (db)"])
def test_other_label_selectors_are_left_to_kubernetes(selector: str) -> None:
    assert equalities(selector) is None


def test_a_consistent_view_asks_kubernetes_when_it_cannot_take_a_snapshot() -> None:
    class Down:
        def list_page(self, collection: Collection, limit: int, continue_token: str = "",
                      timeout: float = 60.0) -> Json:
            raise Unavailable("Kubernetes API server unavailable")

        def get_member(self, collection: Collection, ns: str, name: str, timeout: float = 60.0) -> Json:
            raise Unavailable("Kubernetes API server unavailable")

    cache = consistent_cache(Down(), obj("a", "x", 5))
    assert cache.view("a", "get", "x") is None
    assert cache.view("a") is None
    assert not cache.informer._relist.is_set()  # (the watch is not to blame)
