"""Kubernetes' own validation of the pods a write would lead to, before the write: each pod
(app/translate/pods.py) is created with `dryRun=All`, which runs Kubernetes' validation and
admission and stores nothing. A refusal (422 Invalid, 400 BadRequest) refuses the request (400,
code 3) naming the request's field; nothing is written.

Outcomes are remembered for a short while (`TTL`) by namespace and Pod, so that creates from the
same templates ask once; the pods of one request that are not remembered are asked about at once,
in parallel. A server whose identity may not create pods (RBAC: 403) cannot ask, and writes as
before, with one warning in its log; any other failure (Kubernetes unreachable) fails the request
as any call does.
"""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import orjson

from app.errors import Forbidden, InvalidInput
from app.services.gateway import Gateway
from app.translate.pods import PodCheck, refusal_message
from app.types import Json

log = logging.getLogger(__name__)

TTL = 60.0  # seconds an outcome is remembered: admission rules and quotas may change
SIZE = 512  # outcomes remembered, the least recently used forgotten first
PARALLEL = 4  # pods of one request asked about at once (a cluster has one per group)

Key = tuple[str, bytes]  # (namespace, the Pod as canonical JSON)


class PodChecks:
    """Asks Kubernetes whether it would create each pod; `enabled=False` asks nothing."""

    def __init__(self, k8s: Gateway, enabled: bool = True, ttl: float = TTL, size: int = SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._k8s = k8s
        self.enabled = enabled
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._known: OrderedDict[Key, tuple[float, Json | None]] = OrderedDict()  # refusal Status or None
        self._pool: ThreadPoolExecutor | None = None
        self._warned = False

    def check(self, namespace: str, checks: Sequence[PodCheck]) -> None:
        """Raise `InvalidInput` for the first pod (in the request's order) Kubernetes refuses."""
        if not self.enabled or not checks:
            return
        keys = [(namespace, orjson.dumps(check.pod, option=orjson.OPT_SORT_KEYS)) for check in checks]
        outcomes = self._remembered(keys)
        asked = {key: check for key, check in zip(keys, checks, strict=True) if key not in outcomes}
        outcomes.update(self._ask(namespace, asked))
        for key, check in zip(keys, checks, strict=True):
            refusal = outcomes[key]
            if refusal is not None:
                raise InvalidInput(refusal_message(check, refusal))

    def _remembered(self, keys: Sequence[Key]) -> dict[Key, Json | None]:
        now = self._clock()
        known: dict[Key, Json | None] = {}
        with self._lock:
            for key in keys:
                held = self._known.get(key)
                if held is not None and now - held[0] < self._ttl:
                    self._known.move_to_end(key)
                    known[key] = held[1]
        return known

    def _ask(self, namespace: str, asked: dict[Key, PodCheck]) -> dict[Key, Json | None]:
        """The first pod in this thread, the others beside it (each carrying the request's
        context: its deadline); every answer is awaited before any is read."""
        if not asked:
            return {}
        items = list(asked.items())
        futures: list[tuple[Key, Future[Json | None]]] = []
        if len(items) > 1:
            pool = self._executor()
            futures = [(key, pool.submit(contextvars.copy_context().run, self._one, namespace, check.pod))
                       for key, check in items[1:]]
        first_key, first = items[0]
        outcomes: dict[Key, Json | None] = {}
        failure: Exception | None = None
        try:
            outcomes[first_key] = self._one(namespace, first.pod)
        except Exception as exc:  # raised below, once the others are done
            failure = exc
        for key, future in futures:
            try:
                outcomes[key] = future.result()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        self._remember(outcomes)
        return outcomes

    def _one(self, namespace: str, pod: Json) -> Json | None:
        try:
            return self._k8s.check_pod(namespace, pod)
        except Forbidden as exc:
            self._warn_once(exc)
            return None

    def _remember(self, outcomes: dict[Key, Json | None]) -> None:
        now = self._clock()
        with self._lock:
            for key, outcome in outcomes.items():
                self._known[key] = (now, outcome)
                self._known.move_to_end(key)
            while len(self._known) > self._size:
                self._known.popitem(last=False)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="pod-check")
            return self._pool

    def _warn_once(self, exc: Forbidden) -> None:
        """Kubernetes refused to check (RBAC, or an admission policy): write without the check."""
        with self._lock:
            warned, self._warned = self._warned, True
        if not warned:
            log.warning("Pods are not checked with Kubernetes before writes: the dry run of a pod was "
                        "refused (%s). Grant the server's identity `create` on `pods` (the chart does), or "
                        "turn the pod check off in the settings.", exc)
