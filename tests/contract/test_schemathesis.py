"""Contract test: schemathesis sends generated requests to every /apis/v1 operation of the real app.

The app is the session's (tests/conftest.py: built against the test cluster, validating its own
responses), called in-process through schemathesis' ASGI transport; the schema is the one it serves
at /apis/v1/openapi.json. Each operation gets a fixed, seeded number of requests that fit the spec
and then of requests that do not, and every response must pass `CHECKS`: no 5xx, a documented
status code, the declared content type, and a body and headers that match the spec. Not
`negative_data_rejection`: the spec documents that the server takes some input its JSON Schema
refuses (numeric strings for integers, enum names, `null`), as upstream's protojson does.

Requests write into one namespace of the test cluster: the `namespace` path parameter is pinned
to it and so, mostly, is the body's `namespace`. Creates run first, with generated bodies and with
valid ones (the upstream README's, under a generated name and with generated fields blended in),
so that objects really get created; reads, the update and the deletes then aim at those objects
as well as at generated names. The namespace, and everything in it, is deleted at the end.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.support import (
    cluster_body,
    job_body,
    ok,
    service_body,
    template_body,
)

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "kuberay.yaml"
PREFIX = "/apis/v1"
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# Longer than the server's own Kubernetes timeout (30 s): a slow cluster shows as its 503/504.
REQUEST_TIMEOUT = 60.0
TEMPLATE = "default-template"  # what the README bodies' node groups refer to

# Creates first, so that the other operations meet real objects; templates before what uses them.
PHASES = ("post", "get", "put", "delete")
RESOURCES = ("compute_templates", "clusters", "jobs", "services")
VALID_BODY: dict[str, Callable[..., dict[str, Any]]] = {
    "compute_templates": template_body, "clusters": cluster_body,
    "jobs": job_body, "services": service_body,
}
# Fields of a valid body that generated data never replaces: the request would just be refused.
KEPT = frozenset({"name", "namespace", "computeTemplate"})
# Short DNS-1035 labels: names the KubeRay operator accepts for every kind (at most 47 characters).
VALID_NAME = st.from_regex(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str

    @property
    def resource(self) -> str:
        parts = self.path.split("/")
        return parts[3] if parts[1] == "namespaces" else parts[1]

    def __str__(self) -> str:
        return self.operation_id.rsplit(".", 1)[-1]


def spec_operations() -> list[Operation]:
    """Every operation of openapi/kuberay.yaml, in the order described above."""
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    found = [Operation(method.upper(), path, item[method]["operationId"])
             for path, item in paths.items() for method in item if method in PHASES]
    return sorted(found, key=lambda op: (PHASES.index(op.method.lower()), RESOURCES.index(op.resource)))


OPERATIONS = spec_operations()


@dataclass
class Tally:
    """What one operation was sent and answered, for the summary."""

    sent: Counter[str] = field(default_factory=Counter)  # by generation mode
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0


@pytest.fixture(scope="module")
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app)


@pytest.fixture(scope="module")
def existing(app: Any, contract_namespace: str) -> dict[str, set[str]]:
    """Names of the objects that exist in the namespace, per resource, kept up to date by the tests."""
    ok(app.test_client().post(f"{PREFIX}/namespaces/{contract_namespace}/compute_templates",
                              json=template_body(contract_namespace, TEMPLATE)))
    return {resource: set() for resource in RESOURCES}


@pytest.fixture(scope="module")
def tallies(contract_report: list[str]) -> Iterator[dict[Operation, Tally]]:
    found: dict[Operation, Tally] = {}
    yield found
    total = sum(sum(t.sent.values()) for t in found.values())
    positive = sum(t.sent[GenerationMode.POSITIVE] for t in found.values())
    contract_report.append(
        f"{len(found)} of {len(OPERATIONS)} operations of {PREFIX}, {total} requests "
        f"({positive} fitting the spec, {total - positive} not), "
        f"checks: {', '.join(check.__name__ for check in CHECKS)}")
    for operation, tally in found.items():
        statuses = " ".join(f"{code}x{n}" for code, n in sorted(tally.statuses.items()))
        contract_report.append(
            f"  {operation.method:6} {operation.path:48} {tally.sent[GenerationMode.POSITIVE]:3}+"
            f"{tally.sent[GenerationMode.NEGATIVE]:<3} {tally.seconds:5.1f}s  {statuses}")


def test_the_served_spec_is_the_one_tested(api_schema: Any) -> None:
    """The parametrisation below reads the YAML; the app must serve exactly those operations."""
    served = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert served == {(op.method, op.path) for op in OPERATIONS}


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_operation_keeps_the_contract(api_schema: Any, contract_namespace: str,
                                      existing: dict[str, set[str]],
                                      tallies: dict[Operation, Tally], operation: Operation) -> None:
    endpoint = api_schema[operation.path][operation.method]
    pinned = {"namespace": contract_namespace} if "{namespace}" in operation.path else None
    tally = tallies.setdefault(operation, Tally())
    started = time.monotonic()
    for mode, examples in EXAMPLES.items():
        if mode is GenerationMode.NEGATIVE and not can_be_wrong(endpoint, pinned):
            continue  # nothing left to get wrong: every input is pinned or absent

        @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=endpoint.as_strategy(mode, path_parameters=pinned), data=st.data())
        def exchange(case: schemathesis.Case, data: st.DataObject) -> None:
            if mode is GenerationMode.POSITIVE:  # noqa: B023 (called within this iteration)
                steer(case, data, operation, contract_namespace, existing)
            response = case.call_and_validate(checks=CHECKS, timeout=REQUEST_TIMEOUT)
            tally.sent[mode] += 1  # noqa: B023
            tally.statuses[response.status_code] += 1
            if response.status_code == 200:
                learn(case, operation, existing)

        exchange()
    tally.seconds = time.monotonic() - started


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if "{" in op.path], ids=str)
def test_a_line_feed_in_the_path_is_refused(api_schema: Any, app_client: Any, contract_namespace: str,
                                            operation: Operation) -> None:
    """Found by the test above: Starlette's mount pattern (`.*`) stops at a line feed, so Connexion
    did not route such a path while Flask did, and the handler failed unrouted with a 500 (see
    `LineFeedGuard` in app/http/wire.py). Fixed examples, as a seeded run need not generate one."""
    endpoint = api_schema[operation.path][operation.method]
    body = VALID_BODY[operation.resource](contract_namespace, name="a") if list(endpoint.body) else None
    for broken in [parameter.name for parameter in endpoint.path_parameters]:
        values = {"namespace": contract_namespace, "name": "a"}
        values[broken] += "%0A"  # encoded here: URL parsers silently drop a raw line feed
        path = PREFIX + operation.path.format(**values)
        response = app_client.request(operation.method, path, json=body)
        endpoint.Case(path_parameters=values).validate_response(response, checks=CHECKS)
        assert response.status_code == 400, (broken, response.text)


def can_be_wrong(endpoint: Any, pinned: dict[str, str] | None) -> bool:
    """Whether a request that does not fit the spec can be generated for the operation."""
    free = [p for p in endpoint.path_parameters if p.name not in (pinned or {})]
    return bool(free or list(endpoint.query) or list(endpoint.body))


def steer(case: schemathesis.Case, data: st.DataObject, operation: Operation, namespace: str,
          existing: dict[str, set[str]]) -> None:
    """Aim a request that fits the spec at the test namespace and, often, at objects that exist."""
    names = sorted(existing[operation.resource])
    if "name" in case.path_parameters and names and data.draw(st.booleans(), label="existing name"):
        case.path_parameters["name"] = data.draw(st.sampled_from(names), label="name")
    if not isinstance(case.body, dict):
        return
    body = dict(case.body)
    if operation.method in ("POST", "PUT") and data.draw(st.booleans(), label="valid body"):
        if operation.method == "PUT":  # upstream replaces the service that the body names
            if names:
                case.path_parameters["name"] = data.draw(st.sampled_from(names), label="name")
            name = case.path_parameters["name"]
        else:
            name = data.draw(VALID_NAME, label="valid name")
        body = blend(VALID_BODY[operation.resource](namespace, name=name), body, data)
    elif data.draw(st.integers(0, 3), label="namespace pinned") > 0:
        body["namespace"] = namespace
    case.body = body


def blend(valid: dict[str, Any], generated: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """`valid` with some of the generated fields, at any depth, taken over (each on a coin flip).

    Objects are blended field by field, and each generated worker group onto the valid one, so
    that what the server builds from a body (pod templates, volumes, serve configs) sees them.
    """
    blended = dict(valid)
    for key, value in generated.items():
        if key in KEPT:
            continue
        if isinstance(value, dict) and isinstance(valid.get(key), dict):
            blended[key] = blend(valid[key], value, data)
        elif key == "workerGroupSpec" and isinstance(value, list) and valid.get(key):
            blended[key] = [blend(valid[key][0], group, data) if isinstance(group, dict) else group
                            for group in value]
        elif data.draw(st.booleans(), label=f"generated {key}"):
            blended[key] = value
    return blended


def learn(case: schemathesis.Case, operation: Operation, existing: dict[str, set[str]]) -> None:
    """Track what a successful request created or deleted."""
    if operation.method == "POST":
        existing[operation.resource].add(case.body["name"])
    elif operation.method == "DELETE":
        existing[operation.resource].discard(case.path_parameters["name"])
