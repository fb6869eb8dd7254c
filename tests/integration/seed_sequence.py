"""The seed guide's requests (tests/fixtures/seed/) as one sequence that a deployed server must answer.

The guide (upstream's APIServer README) is documentation, not a script: it creates the same
template twice, deletes it before the cluster that needs it, and creates `job-test` twice. So
the sequence replays every request of the guide in its order, with the guide's namespaces
mapped to the test's two (`ray-system` -> primary, `default` -> secondary), and adds only the
steps that make each one's preconditions hold. It ends with an update of a service, the one
operation the guide lacks, so that every call the server can make to Kubernetes is made.

Used by the tests that run the server as a deployment would (test_rbac.py, test_gunicorn.py):
they pass a `send(method, path, body) -> (status, json)` over their own transport.
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_namespaces

Json = dict[str, Any]
Send = Callable[[str, str, "Json | None"], "tuple[int, Any]"]
SEED = Path(__file__).parents[1] / "fixtures" / "seed"
GUIDE_NAMESPACES = ("ray-system", "default")


@dataclass(frozen=True)
class Step:
    label: str
    method: str
    path: str
    body: Json | None = None
    name: str | None = None  # the `name` a successful answer carries
    until_gone: bool = False  # poll this GET until 404: a deletion the operator finishes later


def _fixture(number: int) -> Json:
    [path] = SEED.glob(f"{number:02d}-*.json")
    return json.loads(path.read_text())


def _in(namespaces: dict[str, str], text: str) -> str:
    for guide, ours in namespaces.items():
        text = text.replace(f"/namespaces/{guide}/", f"/namespaces/{ours}/")
        if text.endswith(f"/namespaces/{guide}"):
            text = text.removesuffix(guide) + ours
    return text


def _from_guide(number: int, namespaces: dict[str, str], method: str = "", path: str = "") -> Step:
    seed = _fixture(number)
    body = copy.deepcopy(seed.get("request"))
    if body and body.get("namespace") in namespaces:
        body["namespace"] = namespaces[body["namespace"]]
    path = _in(namespaces, path or seed["path"])
    method = method or seed["method"]
    name = body.get("name") if body else None
    if method == "GET" and not name and path.count("/") == 6:  # /apis/v/namespaces/ns/kind/name
        name = path.rsplit("/", 1)[1]
    return Step(f"{number:02d} {seed['section']}", method, path, body, name)


def steps(primary: str, secondary: str) -> list[Step]:
    """The guide's 27 requests and the 7 steps that let each of them succeed."""
    ns = dict(zip(GUIDE_NAMESPACES, (primary, secondary), strict=True))
    g = lambda number: _from_guide(number, ns)  # noqa: E731
    templates = f"/apis/v1alpha2/namespaces/{primary}/compute_templates"
    jobs_b = f"/apis/v1alpha2/namespaces/{secondary}/jobs"
    v2 = g(23)
    update = dict(copy.deepcopy(v2.body or {}), serviceUnhealthySecondThreshold=1200)
    template_b = dict(copy.deepcopy(g(4).body or {}), namespace=secondary)
    return [
        g(1), g(2), g(3),
        Step("the smoke test's template goes, for 04", "DELETE", f"{templates}/default-template"),
        g(4), g(5), g(6), g(7), g(8),
        Step("the template again, for 09", "POST", templates, g(4).body, "default-template"),
        g(9), g(10), g(11), g(12), g(13),
        g(14),
        Step("a template in the second namespace, for 15", "POST",
             f"/apis/v1alpha2/namespaces/{secondary}/compute_templates", template_b,
             "default-template"),
        g(15), g(16),
        Step("16's job goes, for 17", "DELETE", f"{jobs_b}/job-test"),
        Step("16's job is gone", "GET", f"{jobs_b}/job-test", until_gone=True),
        g(17),
        g(18), g(19), g(20), g(21),
        Step("03's service is gone, for 22", "GET",
             f"/apis/v1alpha2/namespaces/{primary}/services/test-v1", until_gone=True),
        g(22), g(23), g(24), g(25), g(26), g(27),
        Step("update a service (not in the guide)", "PUT",
             f"/apis/v1/namespaces/{primary}/services/test-v2", update, "test-v2"),
    ]


def run(send: Send, sequence: list[Step], gone_timeout: float = 60.0) -> list[tuple[str, Any]]:
    """Send each step; fail naming the first step not answered as it should be."""
    answers = []
    for step in sequence:
        if step.until_gone:
            deadline = time.monotonic() + gone_timeout
            while (status := send(step.method, step.path, None)[0]) != 404:
                assert status == 200 and time.monotonic() < deadline, (step.label, status)
                time.sleep(0.3)
            continue
        status, body = send(step.method, step.path, step.body)
        assert status == 200, (step.label, step.method, step.path, status, body)
        assert isinstance(body, dict), (step.label, body)
        if step.name:
            assert body.get("name") == step.name, (step.label, body)
        answers.append((step.label, body))
    return answers


@pytest.fixture
def other_namespace(cluster: Any) -> Iterator[str]:
    """The guide's second namespace (`default`); the `namespace` fixture plays `ray-system`."""
    with fresh_namespaces(cluster, 1) as [name]:
        yield name
