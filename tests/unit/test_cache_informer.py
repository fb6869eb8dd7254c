"""app/cache/informer.py over a scripted gateway: `Informer._run` carries out what
app/cache/decisions.py decides (list, watch, resume, list again, back off, count), and asking an
informer or the readiness probe about the caches starts nothing."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import cast

import pytest

from app import health
from app.cache import Caches, Informer, ObjectStore
from app.cache import informer as informer_module
from app.errors import ApiError, Unavailable
from app.k8s import Collection, K8s
from app.types import Json

COLLECTION = Collection.configmaps("ray.io/config-type=compute-template")


def obj(name: str, rv: int) -> Json:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": str(rv)}}


def page(rv: int, *items: Json) -> Json:
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(items)}


class Held:
    """A watch that stays open until it is closed; then it breaks, as a closed stream does."""


class FakeWatch:
    def __init__(self, events: list[Json | Exception] | Held) -> None:
        self._events = events
        self.closed = threading.Event()

    def events(self) -> Iterator[Json]:
        if isinstance(self._events, Held):
            self.closed.wait(timeout=10)
            raise Unavailable("the watch was closed")
        for event in self._events:
            if isinstance(event, Exception):
                raise event
            yield event

    def close(self) -> None:
        self.closed.set()


class ScriptedK8s:
    """Answers each list and watch with the next entry of its script (an exception is raised), and
    records the calls; `ready` is set when a held watch opens."""

    def __init__(self, script: list[Json | FakeWatch | Exception]) -> None:
        self._script = script
        self.calls: list[str] = []
        self.ready = threading.Event()

    def _next(self) -> Json | FakeWatch:
        if not self._script:
            raise AssertionError("the script is over")
        answer = self._script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def list_page(self, collection: Collection, limit: int, continue_token: str = "", timeout: float = 60.0) -> Json:
        self.calls.append("list")
        answer = self._next()
        assert isinstance(answer, dict), answer
        return answer

    def watch(self, collection: Collection, resource_version: str, timeout_seconds: int,
              read_timeout: float) -> FakeWatch:
        self.calls.append(f"watch {resource_version}")
        answer = self._next()
        assert isinstance(answer, FakeWatch), answer
        if isinstance(answer._events, Held):
            self.ready.set()
        return answer

    def check_ready(self) -> None:
        pass

    def served_resources(self, group_version: str) -> list[str]:
        return ["rayclusters", "rayjobs", "rayservices"]


@pytest.fixture
def restarts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    counted: list[str] = []
    monkeypatch.setattr(informer_module, "observe_cache_restart", lambda cache, reason: counted.append(reason))
    monkeypatch.setattr(random, "random", lambda: 0.01)  # (backoff: a few ms)
    return counted


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_an_informer_lists_watches_resumes_and_lists_again_as_decided(restarts: list[str]) -> None:
    gateway = ScriptedK8s([
        page(10, obj("a", 5)),
        FakeWatch([{"type": "ADDED", "object": obj("b", 11)}, {"type": "BOOKMARK", "object": obj("", 12)},
                   {"type": "ERROR", "object": {"code": 410, "message": "too old"}}]),  # expired: list again
        page(20, obj("a", 5), obj("b", 11), obj("c", 19)),
        FakeWatch([ApiError("connection reset")]),  # failed: resume from the same revision, after a wait
        FakeWatch([{"type": "MODIFIED", "object": obj("c", 21)}, {"type": "DELETED", "object": obj("a", 22)}]),
        FakeWatch(Held()),  # ended by the server: resumed at once
        page(30, obj("b", 11)),  # after `catch_up`
        FakeWatch(Held()),
    ])
    store = ObjectStore()
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, store)
    assert not informer.answers()
    assert informer.error == ""
    informer.start()
    try:
        assert gateway.ready.wait(timeout=10)
        assert gateway.calls == ["list", "watch 10", "list", "watch 20", "watch 20", "watch 22"]
        assert restarts == ["expired", "failed", "ended"]
        until(lambda: informer.watching, "the held watch to be open")
        assert informer.synced
        assert informer.answers()
        assert informer.rv == 22
        assert [entry.key for entry in store.entries(None)] == [("ns", "b"), ("ns", "c")]
        assert informer.error == ""  # (cleared by the watch that opened since)

        gateway.ready.clear()
        informer.catch_up()  # the watch is closed on purpose: listed again, no failure counted
        assert gateway.ready.wait(timeout=10)
        assert gateway.calls[6:] == ["list", "watch 30"]
        assert restarts[3:] == ["behind"]
        assert [entry.key for entry in store.entries(None)] == [("ns", "b")]
    finally:
        informer.stop()
    assert not informer.synced
    assert not informer.watching
    assert not informer.answers()
    assert restarts[4:] == []  # a stop is no restart


def test_a_failed_list_is_tried_again_and_its_reason_shown_until_one_succeeds(restarts: list[str]) -> None:
    gateway = ScriptedK8s([ApiError("forbidden: configmaps"), ApiError("forbidden: configmaps"), page(3),
                           FakeWatch(Held())])
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, ObjectStore())
    caches = Caches([informer])
    caches.start()
    try:
        assert gateway.ready.wait(timeout=10)
        assert gateway.calls == ["list", "list", "list", "watch 3"]
        assert restarts == ["failed", "failed"]
        assert caches.not_synced() == []
    finally:
        caches.stop()


def test_an_unexpected_exception_lists_again(restarts: list[str]) -> None:
    gateway = ScriptedK8s([page(3, obj("a", 2)), FakeWatch([RuntimeError("a bug")]), page(4), FakeWatch(Held())])
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, ObjectStore())
    informer.start()
    try:
        assert gateway.ready.wait(timeout=10)
        assert gateway.calls == ["list", "watch 3", "list", "watch 4"]
        assert restarts == ["failed"]
        assert len(informer.store) == 0
        assert informer.rv == 4
    finally:
        informer.stop()


def test_reads_and_probes_of_caches_never_started_start_nothing() -> None:
    """Starting the caches is the lifespan's (or one explicit `caches.start()`): a question is only one."""
    gateway = ScriptedK8s([])
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, ObjectStore())
    caches = Caches([informer])
    for _ in range(3):
        assert not informer.answers()
        assert health.not_ready_reason(cast(K8s, gateway), caches) == \
            "Not ready: the watch caches are not synced yet (configmaps)."
    assert gateway.calls == []
    assert informer._thread is None
    assert health.not_ready_reason(cast(K8s, gateway), Caches([])) is None


def test_a_stopped_informer_starts_again_with_a_fresh_list(restarts: list[str]) -> None:
    gateway = ScriptedK8s([page(3, obj("a", 2)), FakeWatch(Held()), page(5, obj("b", 4)), FakeWatch(Held())])
    store = ObjectStore()
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, store)
    informer.start()
    assert gateway.ready.wait(timeout=10)
    informer.stop()
    assert not informer.answers()
    gateway.ready.clear()
    informer.start()
    try:
        assert gateway.ready.wait(timeout=10)
        until(informer.answers, "the informer to answer again")
        assert gateway.calls == ["list", "watch 3", "list", "watch 5"]
        assert restarts == []
        assert [entry.key for entry in store.entries(None)] == [("ns", "b")]
    finally:
        informer.stop()


def test_caches_started_twice_keep_watching_until_the_last_stop(restarts: list[str]) -> None:
    """Two lifespans of one app (a second server of it, a test client) share its caches: the first
    to end leaves them running for the other, since no read would start them again."""
    gateway = ScriptedK8s([page(3, obj("a", 2)), FakeWatch(Held())])
    informer = Informer("configmaps", cast(K8s, gateway), COLLECTION, ObjectStore())
    caches = Caches([informer])
    caches.start()
    try:
        caches.start()
        assert gateway.ready.wait(timeout=10)
        caches.stop()
        assert informer.synced
        assert informer.watching
        assert caches.not_synced() == []
    finally:
        caches.stop()
    assert not informer.synced
    assert not informer.watching
    assert gateway.calls == ["list", "watch 3"]
