"""Contract test: schemathesis' own engine runs its coverage and fuzzing phases, with every
check, against every /apis/v1 operation of the real app on the session's cluster, twice.

The app is the session's (tests/conftest.py: built against the test cluster, validating its own
responses), called in-process through schemathesis' ASGI transport; the schema is the one it
serves at /apis/v1/openapi.json. The engine orders the operations so that creates run before the
reads, the replacement and the deletes. The coverage phase sends the schema's boundary values and
its violations, one at a time; the fuzzing phase then sends `MAX_EXAMPLES` generated requests per
operation, fitting the spec and not. Every response must pass every check (`--checks all`):
no 5xx, a documented status, content type, headers and body; a request that fits the spec is
accepted (not answered 400) and one that does not is refused. `ignored_auth` and
`object_level_authorization` are run too, and find nothing to test: the API declares no security
scheme (upstream's V1 API has no authentication of its own either).

The first run (`run`) is steered. Its requests write into one namespace of the test cluster: the
`namespace` path parameter is pinned to it, and tests/contract/steering.py keeps generated requests
within the rules that no schema can state (the body's namespace is the path's, a named compute
template exists, ...; the spec's 400 answers list them), so that objects really get created, read,
replaced and deleted, and must pass every check. The spec's conventions allow what upstream's
protojson allowed (`null` for "not set", integers as numeric strings, protobuf field names): a
request that breaks the schema only in those ways is accepted, and `protojson_leniency` tells those
apart from a schema violation the server misses.

The second run (`bare_run`), in a namespace of its own, has no hooks at all: what it finds shows
what the spec alone promises. Its failures may only be of the classes the spec documents
(tests/contract/classes.py): a request that fits the spec refused with 400 for one of the rules
that its operation's 400 answer lists as no schema can state (`x-unstatable`, each rule with the
pattern of its message), or a request accepted that breaks the schema only as the conventions
allow. Anything else (a 5xx, an answer outside the spec, a refusal for a rule the spec does not
give, invalid data accepted) is a finding. The terminal summary counts each class.

Each namespace, and everything in it, is deleted at the end.
"""
from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import urllib3
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.engine import events, from_schema
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from app.k8s import K8s
from app.main import create_app
from app.settings import Settings
from app.translate.job_submissions import is_terminal, job_path
from app.types import Json
from tests.contract.classes import RAW, RESOLVED, classify, only_protojson_leniency
from tests.contract.steering import Steering, resource_of
from tests.support.api import ok
from tests.support.bodies import cluster_body, job_body, service_body, template_body
from tests.support.kube import Cluster
from tests.support.waiting import wait_for

PREFIX = "/apis/v1"
MAX_EXAMPLES = 60
BARE_EXAMPLES = 60  # the run without hooks
SEED = 20251129  # a fixed seed: the run repeats itself
TEMPLATE = "contract-template"  # what generated node groups refer to; created first, never deleted
CLUSTER = "contract-cluster"  # ready, with the session's Ray head as its dashboard; never deleted
METHODS = ("get", "put", "post", "delete")
OPERATIONS = sorted(f"{method.upper()} {path}" for path, item in RESOLVED["paths"].items()
                    for method in item if method in METHODS)


Classifier = Callable[[Any, Any, Any], str | None]  # (failure, case, response) -> a documented class


@dataclass
class Tally:
    """What one operation was sent and answered."""

    sent: collections.Counter[str] = field(default_factory=collections.Counter)  # by generation mode
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)


@dataclass
class Run:
    """One run of the engine: its failures (with how to reproduce them), errors and tallies."""

    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=lambda: collections.defaultdict(Tally))
    lenient: int = 0  # accepted requests that break the schema only in protojson's ways
    documented: collections.Counter[str] = field(default_factory=collections.Counter)  # by class
    seconds: float = 0.0

    def record(self, recorder: Any, classify: Classifier) -> None:
        """Tallies what was sent; a failure of a class the spec documents is counted, any other kept."""
        tally = self.tallies[recorder.label]
        for case_id, interaction in recorder.interactions.items():
            case = recorder.cases[case_id].value
            tally.sent[case.meta.generation.mode.value if case.meta else "explicit"] += 1
            tally.statuses[interaction.response.status_code if interaction.response else 0] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                kind = classify(check.failure_info.failure, recorder.cases[case_id].value,
                                recorder.find_response(case_id=case_id))
                if kind is None:
                    self.failures.append(_describe(recorder, case_id, check))
                else:
                    self.documented[kind] += 1


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    """The failure, the answer, and the request as a `curl` command (to `http://testserver`, the
    in-process app: send it to a server of your own, e.g. `make run`'s)."""
    failure = check.failure_info.failure
    response = recorder.find_response(case_id=case_id)
    answer = f"{response.status_code} {response.text[:1000]}" if response is not None else "no response"
    return (f"{recorder.label}: {check.name}: {failure.title}\n{failure.message}\n"
            f"answered: {answer}\nreproduce with:\n{check.failure_info.code_sample}")


def protojson_leniency(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keeps every failure except an accepted request whose only fault is a body that the server's
    wire normalisation (app/http/wire.py: the spec's documented conventions) makes valid."""
    return not (isinstance(failure, AcceptedNegativeData) and only_protojson_leniency(case))


def engine_config(namespace: str, max_examples: int = MAX_EXAMPLES, *,
                  continue_on_failure: bool = False) -> SchemathesisConfig:
    """`schemathesis run --phases coverage,fuzzing --checks all --max-examples 60`, seeded, one
    worker, and nothing masked in the requests it prints (`imagePullSecret` is no secret here).
    `continue_on_failure` (`--continue-on-failure`) keeps generating after a failure, for a run
    that expects some and counts them."""
    config = SchemathesisConfig.from_dict({"seed": SEED, "workers": 1, "parameters": {"namespace": namespace}})
    config.output.sanitization.update(enabled=False)
    project = config.projects.override
    project.update(continue_on_failure=continue_on_failure)
    project.phases.update(phases=["coverage", "fuzzing"])
    project.checks.update(included_check_names=["all"])
    project.generation.update(max_examples=max_examples)
    return config


@contextmanager
def global_hooks(**hooks: Callable[..., Any]) -> Iterator[None]:
    """Hooks for the run only: schemathesis gives `before_call` and `after_call` to global hooks alone."""
    for name, hook in hooks.items():
        GLOBAL_HOOK_DISPATCHER.register_hook_with_name(hook, name)
    try:
        yield
    finally:
        for hook in hooks.values():
            GLOBAL_HOOK_DISPATCHER.unregister(hook)


@pytest.fixture(scope="module")
def contract_app(cluster: Cluster, ray_head: Any) -> Iterator[Any]:
    """The app as the session's, whose job submissions reach the session's real Ray head. Its
    lifespan runs for the module, as the session app's does: its watch caches start now.

    Kubernetes' dry run of a write's pods (`pod_check`) is off: a generated group's labels,
    environment or volumes are often ones Kubernetes refuses in a pod, a rule of Kubernetes' own that
    no steering here restates, and with it on the writes that make the objects this run reads,
    replaces and deletes would mostly be refused. The run without hooks keeps it on, and counts
    those refusals under the spec's `pods` rule."""
    app = create_app(Settings(validate_responses=True, dashboard_url=ray_head.url, pod_check=False),
                     K8s.from_kubeconfig(str(cluster.kubeconfig)))
    with app.test_client():
        yield app


def ready_cluster(client: Any, namespace: str) -> None:
    """CLUSTER, ready: where generated job submissions go (kept by the run, as TEMPLATE is)."""
    body = cluster_body(namespace, CLUSTER)
    spec = body["clusterSpec"]
    for group in [spec["headGroupSpec"], *spec["workerGroupSpec"]]:
        group["computeTemplate"] = TEMPLATE
    ok(client.post(f"{PREFIX}/namespaces/{namespace}/clusters", json=body))
    wait_for(lambda: ok(client.get(f"{PREFIX}/namespaces/{namespace}/clusters/{CLUSTER}")).get("clusterState")
             == "ready", timeout=90, what=f"cluster {CLUSTER} to be ready")


def finisher(dashboard: str) -> Callable[[str], None]:
    """Waits (up to 30 s) until the job of a submission id has ended, asking the Ray head itself."""
    pool = urllib3.PoolManager()

    def finish(submission_id: str) -> None:
        url = dashboard + job_path(submission_id)
        wait_for(lambda: (answer := pool.request("GET", url, timeout=5)).status != 200
                 or is_terminal(json.loads(answer.data)), timeout=30, interval=0.2, what=f"job {submission_id} to end")

    return finish


@pytest.fixture(scope="module")
def run(contract_app: Any, ray_head: Any, contract_namespace: str, contract_report: list[str]) -> Run:
    """The whole run, once for the tests below; its summary goes to the terminal report."""
    app = contract_app
    client = app.test_client()
    ok(client.post(f"{PREFIX}/namespaces/{contract_namespace}/compute_templates",
                   json=template_body(contract_namespace, TEMPLATE)))
    ready_cluster(client, contract_namespace)
    schema = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app, config=engine_config(contract_namespace))
    schema.hooks.register_hook_with_name(protojson_leniency, "filter_failure")
    steering = Steering(RAW, contract_namespace, TEMPLATE, CLUSTER, finisher(ray_head.url))
    with global_hooks(before_call=steering.before_call, after_call=steering.after_call):
        result = execute(schema, lambda failure, case, response: None)
    contract_report.extend(summary(result, "with steering", MAX_EXAMPLES))
    return result


@pytest.fixture(scope="module")
def bare_run(app: Any, bare_namespace: str, contract_report: list[str]) -> Run:
    """The run again, in a namespace of its own, with no hooks at all: generated requests break the
    rules no schema can state as they happen to, and every failure is classified afterwards. It goes
    to the session's app, whose job submissions go to a cluster's own dashboard: no generated
    command ever reaches the session's Ray head."""
    config = engine_config(bare_namespace, BARE_EXAMPLES, continue_on_failure=True)
    result = execute(schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app, config=config), classify)
    contract_report.extend(summary(result, "without hooks", BARE_EXAMPLES))
    return result


def execute(schema: Any, classify: Classifier) -> Run:
    result = Run()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            result.record(event.recorder, classify)
            result.lenient += sum(event.recorder.filtered_failures.values())
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            result.errors.append(repr(event.exception))
    result.seconds = time.monotonic() - started
    return result


def summary(run: Run, how: str, examples: int) -> list[str]:
    sent = collections.Counter[str]()
    for tally in run.tallies.values():
        sent.update(tally.sent)
    lines = [f"{how}: {len(run.tallies)} of {len(OPERATIONS)} operations of {PREFIX}, {sum(sent.values())} requests "
             f"({sent['positive']} fitting the spec, {sent['negative']} not) in {run.seconds:.0f}s, "
             f"phases coverage and fuzzing ({examples} examples), every check: "
             f"{len(run.failures)} failures, {len(run.errors)} errors"
             + (f"; {run.lenient} requests accepted that break the schema only as protojson allows"
                if run.lenient else "")]
    if run.documented:
        lines.append(f"  {sum(run.documented.values())} failures of the classes the spec documents:")
        lines.extend(f"  {n:6}  {kind}" for kind, n in sorted(run.documented.items()))
    for label, tally in sorted(run.tallies.items(), key=lambda item: item[0].split()[::-1]):
        statuses = " ".join(f"{code}x{n}" for code, n in sorted(tally.statuses.items()))
        lines.append(f"  {label:58} {tally.sent['positive']:4}+{tally.sent['negative']:<4}  {statuses}")
    return lines


def test_every_operation_keeps_the_contract(run: Run) -> None:
    problems = run.errors + run.failures
    assert not problems, f"{len(problems)} problems:\n\n" + "\n\n".join(problems)


def test_without_hooks_only_documented_failures(bare_run: Run) -> None:
    """Without steering, what fails is a rule that each 400 answer of the spec lists as no schema
    can state, or a request accepted under the spec's conventions; nothing else."""
    assert sorted(bare_run.tallies) == OPERATIONS
    problems = bare_run.errors + bare_run.failures
    assert not problems, f"{len(problems)} problems:\n\n" + "\n\n".join(problems)


def test_every_operation_met_real_objects(run: Run) -> None:
    """Each operation was tested, and succeeded at least once: creates created, reads, the
    replacement and deletes met existing objects, lists listed."""
    assert sorted(run.tallies) == OPERATIONS
    assert [label for label, tally in run.tallies.items() if not tally.statuses[200]] == []


# The checks of a single answer, for the fixed examples below.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
VALID_BODY: dict[str, Callable[..., Json]] = {
    "compute_templates": template_body, "clusters": cluster_body, "jobs": job_body, "services": service_body,
    "jobsubmissions": lambda namespace, name: {"entrypoint": "true"},
    "cronjobs": lambda namespace, name: {**job_body(namespace, name), "schedule": "@yearly", "suspend": True},
}


@pytest.fixture(scope="module")
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app)


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if "{" in op], ids=str)
def test_a_line_feed_in_the_path_is_refused(api_schema: Any, app_client: TestClient, contract_namespace: str,
                                            operation: str) -> None:
    """Found by an earlier form of the test above: Starlette's mount pattern (`.*`) stops at a line
    feed, so Connexion did not route such a path while Flask did, and the handler failed unrouted
    with a 500 (see `LineFeedGuard` in app/http/wire.py). Fixed examples, as a seeded run need
    not generate one."""
    method, path = operation.split()
    endpoint = api_schema[path][method]
    body = VALID_BODY[resource_of(path)](contract_namespace, name="a") if list(endpoint.body) else None
    for broken in [parameter.name for parameter in endpoint.path_parameters]:
        values = {"namespace": contract_namespace, "name": "a", "clustername": "a", "submissionid": "a"}
        values[broken] += "%0A"  # encoded here: URL parsers silently drop a raw line feed
        response = app_client.request(method, PREFIX + path.format(**values), json=body)
        endpoint.Case(path_parameters=values).validate_response(response, checks=CHECKS)
        assert response.status_code == 400, (broken, response.text)

