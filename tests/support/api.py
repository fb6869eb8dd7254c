"""The API as its clients see it: answers checked, and apps of a test's own over a gateway it holds
(to count its calls, or to point it elsewhere)."""
from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from kubernetes.client import ApiException
from starlette.testclient import TestClient

from app.errors import Forbidden
from app.k8s import K8s
from app.main import RPC_EXTENSION, create_app
from app.settings import Settings
from app.types import Json
from tests.support.kube import PLURALS, Kube, present
from tests.support.waiting import wait_for

PREFIXES = ("/apis/v1alpha2", "/apis/v1")
# A request to a server over some transport (HTTP, gRPC, ...): (method, path, body) -> (status, JSON answer).
Send = Callable[[str, str, "Json | None"], "tuple[int, Any]"]
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$")


# -- responses --------------------------------------------------------------------------------

def ok(response: httpx.Response) -> Json:
    """The JSON body of a 200 answer (upstream answers every success with 200)."""
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), body
    return body


def refused(response: httpx.Response, status: int, code: int) -> str:
    """The message of an error answer, after checking its status and its {code, message} body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    return str(body["message"])


def ready(app_client: TestClient) -> bool:
    """The server's readiness probe passes (its watch caches are synced)."""
    return bool(app_client.get("/readyz").status_code == 200)


def kubernetes_status(answer: Any, code: int) -> Json:
    """A refusal worded as the Kubernetes API words one (the V2 API's), checked: the `Status`."""
    assert isinstance(answer, dict), answer
    assert answer.get("kind") == "Status", answer
    assert (answer["apiVersion"], answer["status"], answer["code"]) == ("v1", "Failure", code), answer
    return answer


def status_of(exc: ApiException) -> Json:
    """The Kubernetes `Status` an error answer of the client carries, checked (its body must be one)."""
    return kubernetes_status(json.loads(exc.body or ""), exc.status)


def created_and_held(app_client: TestClient, kube: Kube, base: str, body: Json) -> tuple[Json, Json]:
    """A create of `body` at `base` (a kind's path in a namespace): the answer, and the object
    Kubernetes then holds."""
    created = ok(app_client.post(base, json=body))
    namespace, kind = base.split("/")[-2:]
    return created, present(kube.get(PLURALS[kind], namespace, body["name"]))


def served_eventually(app_client: TestClient, path: str, key: str, names: list[str]) -> None:
    """Objects written past the server (as kubectl or the operator write them) are in its answers
    once its watch caches have seen them: wait for that, as any client of the server would."""
    wait_for(lambda: [item["name"] for item in ok(app_client.get(path)).get(key, [])] == names,
             timeout=30, what=f"{names} in {path}")


def gateway_methods() -> set[str]:
    """Every call app/k8s can make to Kubernetes."""
    return {name for name, value in vars(K8s).items()
            if inspect.isfunction(value) and not name.startswith("_") and name not in ("connect", "request_scope")}


class GatewayCalls:
    """Wraps a gateway's methods (the real calls still go to the API server) to count every call
    and note every Forbidden, including those the server deliberately swallows (event reads)."""

    def __init__(self, k8s: K8s) -> None:
        self.counts: Counter[str] = Counter()
        self.refusals: list[str] = []
        for name in gateway_methods():
            setattr(k8s, name, self._wrap(name, getattr(k8s, name)))

    def _wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            try:
                return call(*args, **kwargs)
            except Forbidden as exc:
                self.refusals.append(str(exc))
                raise
        return counted

    def since(self, before: Counter[str]) -> dict[str, int]:
        return dict(self.counts - before)


@contextmanager
def own_app(k8s: K8s, **settings: Any) -> Iterator[TestClient]:
    """A test client over a K8s of the test's own (to count its calls, or to point it elsewhere),
    with `settings` of its own on top of the tests' (e.g. `max_workers_per_cluster=10`).

    The app runs as a server does (its lifespan): its watch caches start with it, reads go to
    Kubernetes until they are synced, and their watches end with it.
    """
    with create_app(Settings(validate_responses=True, **settings), k8s).test_client() as client:
        yield client


@contextmanager
def own_app_with_rpc(k8s: K8s, **settings: Any) -> Iterator[tuple[TestClient, int]]:
    """`own_app`, with its gRPC front on a free loopback port: its test client and that port."""
    app = create_app(Settings(validate_responses=True, grpc_bind="127.0.0.1:0", **settings), k8s)
    with app.test_client() as client:
        yield client, app.app.extensions[RPC_EXTENSION].port
