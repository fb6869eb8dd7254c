"""openapi/kuberay.yaml: the routes, the schema rules, and every example of the seed guide.

The seed examples (tests/fixtures/seed/, copied from the upstream APIServer README) are checked
with the validators the server gives Connexion (app/http/validators.py): each request after
app/http/wire.py's normalisation, each response against the operation's 200 schema (or the error
schema).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from connexion.json_schema import Draft4ResponseValidator
from connexion.spec import Specification
from jsonschema import Draft4Validator

import handlers
from app.http.validators import BodySchemaValidator
from app.http.wire import normalise
from app.k8s import K8s
from app.services import Services
from app.types import Json
from app.validation import Limits
from tests.support.fixture_pairs import load, seeds

ROOT = Path(__file__).parents[2]
SPEC = Specification.load(ROOT / "openapi" / "kuberay.yaml")
RAW = Specification._load_spec_from_file(None, ROOT / "openapi" / "kuberay.yaml")  # refs unresolved
SEED = seeds()
PREFIXES = ("/apis/v1alpha2", "/apis/v1")
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# Upstream v1.7.0's HTTP routes of the four resources (without the cluster PATCH removed in v1.1.0),
# and of its job submissions (RayJobSubmissionService, since v1.1.0).
ROUTES = {
    ("post", "/namespaces/{namespace}/compute_templates"): "create_compute_template",
    ("get", "/namespaces/{namespace}/compute_templates/{name}"): "get_compute_template",
    ("get", "/namespaces/{namespace}/compute_templates"): "list_compute_templates",
    ("get", "/compute_templates"): "list_all_compute_templates",
    ("delete", "/namespaces/{namespace}/compute_templates/{name}"): "delete_compute_template",
    ("post", "/namespaces/{namespace}/clusters"): "create_cluster",
    ("get", "/namespaces/{namespace}/clusters/{name}"): "get_cluster",
    ("get", "/namespaces/{namespace}/clusters"): "list_clusters",
    ("get", "/clusters"): "list_all_clusters",
    ("delete", "/namespaces/{namespace}/clusters/{name}"): "delete_cluster",
    ("post", "/namespaces/{namespace}/jobs"): "create_job",
    ("get", "/namespaces/{namespace}/jobs/{name}"): "get_job",
    ("get", "/namespaces/{namespace}/jobs"): "list_jobs",
    ("get", "/jobs"): "list_all_jobs",
    ("delete", "/namespaces/{namespace}/jobs/{name}"): "delete_job",
    ("post", "/namespaces/{namespace}/services"): "create_service",
    ("put", "/namespaces/{namespace}/services/{name}"): "update_service",
    ("get", "/namespaces/{namespace}/services/{name}"): "get_service",
    ("get", "/namespaces/{namespace}/services"): "list_services",
    ("get", "/services"): "list_all_services",
    ("delete", "/namespaces/{namespace}/services/{name}"): "delete_service",
    ("post", "/namespaces/{namespace}/jobsubmissions/{clustername}"): "submit_ray_job",
    ("get", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}"): "get_job_details",
    ("get", "/namespaces/{namespace}/jobsubmissions/{clustername}/log/{submissionid}"): "get_job_log",
    ("get", "/namespaces/{namespace}/jobsubmissions/{clustername}"): "list_job_details",
    ("post", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}"): "stop_ray_job",
    ("delete", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}"): "delete_ray_job",
}

# Ours: the extensions of the V1 API (README, "Extensions"), which upstream has no route for.
EXTENSIONS = {
    ("post", "/namespaces/{namespace}/cronjobs"): "create_cronjob",
    ("get", "/namespaces/{namespace}/cronjobs/{name}"): "get_cronjob",
    ("get", "/namespaces/{namespace}/cronjobs"): "list_cronjobs",
    ("get", "/cronjobs"): "list_all_cronjobs",
    ("delete", "/namespaces/{namespace}/cronjobs/{name}"): "delete_cronjob",
    ("post", "/namespaces/{namespace}/cronjobs/{name}/suspend"): "suspend_cronjob",
    ("post", "/namespaces/{namespace}/cronjobs/{name}/resume"): "resume_cronjob",
}


def operations() -> dict[tuple[str, str], Json]:
    return {(method, path): item[method] for path, item in SPEC["paths"].items()
            for method in item if method in HTTP_METHODS}


def operation_for(method: str, url: str) -> Json:
    path = next(url.removeprefix(prefix) for prefix in PREFIXES if url.startswith(prefix + "/"))
    for (op_method, template), op in operations().items():
        if op_method == method.lower() and re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
            return op
    raise AssertionError(f"no operation for {method} {url}")


def json_schema(op: Json, status: str) -> Json:
    schema: Json = op["responses"][status]["content"]["application/json"]["schema"]
    return schema


def request_errors(schema: Json, body: Any) -> list[str]:
    validator = BodySchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def response_errors(schema: Json, body: Any) -> list[str]:
    validator = Draft4ResponseValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def test_the_spec_has_exactly_upstreams_routes_and_the_extensions() -> None:
    assert {key: op["operationId"] for key, op in operations().items()} == ROUTES | EXTENSIONS


def test_the_extensions_are_tagged_with_a_package_of_their_own() -> None:
    """An extension's gRPC service is outside upstream's package `proto`, so no later upstream
    message or service can collide with it."""
    packages = {tag["name"]: tag.get("x-grpc-package", "proto") for tag in SPEC["tags"]}
    extension_tags = {operations()[key]["tags"][0] for key in EXTENSIONS}
    assert extension_tags == {"RayCronJobService"}
    assert {packages[tag] for tag in extension_tags} == {"kuberay_api.v1"}
    assert {packages[operations()[key]["tags"][0]] for key in ROUTES} == {"proto"}


def test_the_handler_table_serves_exactly_the_specs_operations(tmp_path: Path) -> None:
    table = handlers.operations(Services.build(K8s.from_kubeconfig(str(tmp_path / "unused")), Limits()))
    assert set(table) == set(ROUTES.values()) | set(EXTENSIONS.values())
    assert all(callable(handler) for handler in table.values())


@pytest.mark.parametrize("key", sorted(ROUTES | EXTENSIONS), ids=lambda key: f"{key[0]} {key[1]}")
def test_every_operation_describes_its_errors_with_the_one_error_schema(key: tuple[str, str]) -> None:
    op = operations()[key]
    for status in ("400", "405", "500", "503", "default"):
        assert json_schema(op, status) == SPEC["components"]["schemas"]["Error"]
    if "{name}" in key[1] or "{clustername}" in key[1]:
        assert json_schema(op, "404") == SPEC["components"]["schemas"]["Error"]


@pytest.mark.parametrize("key", sorted(ROUTES | EXTENSIONS), ids=lambda key: f"{key[0]} {key[1]}")
def test_every_operation_with_a_body_says_what_becomes_of_unknown_fields(key: tuple[str, str]) -> None:
    op = operations()[key]
    queries = [param["name"] for param in op.get("parameters", []) if param["in"] == "query"]
    assert ("fieldValidation" in queries) is ("requestBody" in op)
    if "requestBody" in op:
        assert op["responses"]["200"]["headers"]["Warning"] == SPEC["components"]["headers"]["Warning"]


def test_error_schema_is_code_and_message_only() -> None:
    error = SPEC["components"]["schemas"]["Error"]
    assert response_errors(error, {"code": 5, "message": "Not Found"}) == []
    assert response_errors(error, {"code": 5, "message": "x", "error": "x"}) != []
    assert response_errors(error, {"message": "x"}) != []


def all_schemas(node: Any, where: str = "") -> Any:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from all_schemas(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_schemas(value, f"{where}[{i}]")


def test_every_object_with_declared_properties_refuses_unknown_fields() -> None:
    open_objects = [where for where, node in all_schemas(RAW["components"]["schemas"])
                    if node.get("type") == "object" and "properties" in node
                    and node.get("additionalProperties") is not False]
    assert open_objects == []


def test_every_protobuf_alias_names_a_declared_field() -> None:
    for where, node in all_schemas(RAW["components"]["schemas"]):
        for proto, name in node.get("x-proto-names", {}).items():
            assert name in node["properties"], f"{where}: {proto} -> {name}"
            assert proto not in node["properties"], f"{where}: {proto} is also a JSON name"


def test_every_enum_accepts_exactly_its_names_and_numbers() -> None:
    enums = [(where, node) for where, node in all_schemas(RAW["components"]["schemas"]) if "x-enum-numbers" in node]
    assert len(enums) == 6  # upstream's v1 protos declare six enums
    for where, node in enums:
        numbers = node["x-enum-numbers"]
        integer, string = node["anyOf"]
        assert string["enum"] == list(numbers), where
        assert sorted(numbers.values()) == list(range(integer["minimum"], integer["maximum"] + 1)), where


def test_enums_are_names_or_numbers_in_requests_and_numbers_in_responses() -> None:
    cluster = SPEC["components"]["schemas"]["Cluster"]
    for value in ("STAGING", 2):
        assert request_errors(cluster, {"environment": value}) == []
    assert response_errors(cluster, {"environment": 2}) == []
    assert response_errors(cluster, {"environment": "STAGING"}) != []


NAMES = [
    # (schema, value, accepted)
    ("NamespaceName", "ray-system", True),
    ("NamespaceName", "", False),
    ("NamespaceName", "Ray-System", False),
    ("NamespaceName", "a" * 64, False),
    ("NamespaceName", "ray-system\n", False),  # `$` ends the value, as in ECMA 262
    ("ObjectName", "test-v1-raycluster-7grg7", True),
    ("ObjectName", "a.b-c", True),
    ("ObjectName", "a_b", False),
    ("ObjectName", "-a", False),
    ("ComputeTemplateNameField", "", False),
    ("ComputeTemplateNameField", "default-template", True),
    ("ComputeTemplateNameField", "a" * 63, True),
    ("ComputeTemplateNameField", "a" * 64, False),  # also a label value
    ("ComputeTemplateNameField", "Default", False),
    ("ComputeTemplateReference", "default-template", True),
    ("ComputeTemplateReference", "", False),
    ("ComputeTemplateReference", "a" * 64, False),  # no template can have that name
    ("ClusterNameField", "test-cluster", True),
    ("ClusterNameField", "", False),
    ("ClusterNameField", "a" * 53, True),
    ("ClusterNameField", "a" * 54, False),  # KubeRay: room for "-serve-svc"
    ("ClusterNameField", "1cluster", False),  # DNS-1035: starts with a letter
    ("ClusterNameField", "a.b", False),
    ("ClusterNameField", "cluster-", False),
    ("ClusterNameField", "cluster\n", False),
    ("JobNameField", "a" * 47, True),
    ("JobNameField", "a" * 48, False),  # KubeRay: room for the cluster suffix
    ("JobNameField", "", False),
    ("ServiceNameField", "test-v1", True),
    ("ServiceNameField", "a" * 48, False),
    ("ServiceNameField", "", False),
    ("BodyNamespace", "", True),  # the path's
    ("BodyNamespace", "ray-system", True),
    ("BodyNamespace", "Ray-System", False),
    ("LabelValue", "", True),
    ("LabelValue", "3cpo", True),
    ("LabelValue", "Boris_1.x", True),
    ("LabelValue", "_x", False),
    ("LabelValue", "user name", False),
    ("LabelValue", "a" * 64, False),
    ("RequiredLabelValue", "3cpo", True),
    ("RequiredLabelValue", "a", True),
    ("RequiredLabelValue", "", False),
    ("RequiredLabelValue", "_x", False),
    ("VolumeName", "code-sample", True),
    ("VolumeName", "Code", False),
]


VALUES = [
    # (schema, value, accepted)
    ("ContinueToken", "", True),
    ("ContinueToken", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mzc0LCJzdGFydCI6Ii9rdWJlLXJvb3QtY2EuY3J0XHUwMDAwIn0", True),
    ("ContinueToken", "dA", True),
    ("ContinueToken", "abcde", False),  # 4n+1 characters: no base64 has that length
    ("ContinueToken", "dA==", False),  # Kubernetes' tokens have no padding
    ("ContinueToken", "a+b/", False),  # and use the URL-safe alphabet
    ("ContinueToken", "dA\n", False),
    ("Quantity", "", True),  # the default
    ("Quantity", "500m", True),
    ("Quantity", "2", True),
    ("Quantity", "1Gi", True),
    ("Quantity", "1.5", True),
    ("Quantity", ".5", True),
    ("Quantity", "1e3", True),
    ("Quantity", "+1", True),
    ("Quantity", "-1", False),  # no pod can have it
    ("Quantity", "1GB", False),
    ("Quantity", "1 Gi", False),
    ("Quantity", "Gi", False),
    ("Quantity", "1e1.5", False),  # Kubernetes' CRD pattern takes it, its parser does not
    ("MemoryUnit", "", True),  # Gi
    ("MemoryUnit", "Gi", True),
    ("MemoryUnit", "M", True),
    ("MemoryUnit", "k", True),
    ("MemoryUnit", "e3", True),
    ("MemoryUnit", "K", False),  # kilo is "k"
    ("MemoryUnit", "GB", False),
    ("MemoryUnit", "Gi ", False),
    ("ImagePullPolicy", "", True),
    ("ImagePullPolicy", "Always", True),
    ("ImagePullPolicy", "IfNotPresent", True),
    ("ImagePullPolicy", "always", False),  # upstream compares exactly
    ("ImagePullPolicy", "Never", False),
]


@pytest.mark.parametrize(("schema", "value", "accepted"), NAMES + VALUES)
def test_schema_rules(schema: str, value: str, accepted: bool) -> None:
    assert (request_errors(SPEC["components"]["schemas"][schema], value) == []) is accepted


def test_every_quantity_the_schema_accepts_is_one_the_server_parses() -> None:
    from app.translate.quantity import parse_quantity

    for schema, value, accepted in VALUES:
        if accepted and value and schema in ("Quantity", "MemoryUnit"):
            parse_quantity(value if schema == "Quantity" else f"4{value}")


TEMPLATE = {"name": "t", "cpu": 2, "memory": 4}
HEAD = {"computeTemplate": "t", "rayStartParams": {"dashboard-host": "0.0.0.0"}}
WORKER = {"groupName": "g", "computeTemplate": "t", "maxReplicas": 1}
CLUSTER = {"name": "c", "user": "u", "clusterSpec": {"headGroupSpec": HEAD, "workerGroupSpec": [WORKER]}}
JOB = {"name": "j", "user": "u", "clusterSpec": CLUSTER["clusterSpec"]}
SERVICE = {"name": "s", "user": "u", "clusterSpec": CLUSTER["clusterSpec"], "serveConfigV2": "applications: []"}
GRAPH = {"importPath": "fruit.deployment_graph", "serveConfigs": [{"deploymentName": "d"}]}


def without(body: Json, key: str) -> Json:
    return {k: v for k, v in body.items() if k != key}


def spec_with(**head_or_worker: Any) -> Json:
    return {"headGroupSpec": {**HEAD, **head_or_worker.get("head", {})},
            "workerGroupSpec": [{**WORKER, **head_or_worker.get("worker", {})}]}


REQUESTS = [
    # (request schema, body, accepted): what upstream's server checked itself, now in the schema
    ("ComputeTemplateRequest", TEMPLATE, True),
    ("ComputeTemplateRequest", without(TEMPLATE, "name"), False),
    ("ComputeTemplateRequest", without(TEMPLATE, "cpu"), False),
    ("ComputeTemplateRequest", {**TEMPLATE, "memory": 0}, False),
    ("ComputeTemplateRequest", {**TEMPLATE, "memoryUnit": "Mi"}, True),
    ("ClusterRequest", CLUSTER, True),
    ("ClusterRequest", without(CLUSTER, "user"), False),
    ("ClusterRequest", {**CLUSTER, "user": ""}, False),
    ("ClusterRequest", without(CLUSTER, "clusterSpec"), False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": {"workerGroupSpec": [WORKER]}}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": {"headGroupSpec": HEAD}}, True),  # no workers
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(head={"computeTemplate": ""})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(head={"rayStartParams": {}})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(head={"imagePullPolicy": "Never"})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(worker={"groupName": ""})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(worker={"maxReplicas": 0})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(worker={"replicas": -1})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(worker={"minReplicas": -1})}, False),
    ("ClusterRequest", {**CLUSTER, "clusterSpec": spec_with(worker={"replicas": 0, "minReplicas": 0})}, True),
    ("RayJobRequest", JOB, True),
    ("RayJobRequest", {**without(JOB, "clusterSpec"), "clusterSelector": {"ray.io/cluster": "c"}}, True),
    ("RayJobRequest", {**without(JOB, "clusterSpec"), "clusterSelector": {}}, False),
    ("RayJobRequest", without(JOB, "clusterSpec"), False),
    ("RayJobRequest", {**JOB, "clusterSpec": {}}, False),  # a clusterSpec is checked whenever given
    ("RayJobRequest", {**JOB, "jobSubmitter": {"image": "i", "cpu": "500m", "memory": "1Gi"}}, True),
    ("RayJobRequest", {**JOB, "jobSubmitter": {"image": "i", "memory": "1 GB"}}, False),
    ("RayServiceRequest", SERVICE, True),
    ("RayServiceRequest", {**without(SERVICE, "serveConfigV2"), "serveDeploymentGraphSpec": GRAPH}, True),
    ("RayServiceRequest", {**SERVICE, "serveConfigV2": "", "serveDeploymentGraphSpec": GRAPH}, True),
    ("RayServiceRequest", {**SERVICE, "serveDeploymentGraphSpec": GRAPH}, False),  # two
    ("RayServiceRequest", without(SERVICE, "serveConfigV2"), False),  # none
    ("RayServiceRequest", {**SERVICE, "serveConfigV2": ""}, False),
    ("RayServiceRequest", {**without(SERVICE, "serveConfigV2"),
                           "serveDeploymentGraphSpec": without(GRAPH, "importPath")}, False),
    ("RayServiceRequest", {**without(SERVICE, "serveConfigV2"),
                           "serveDeploymentGraphSpec": {**GRAPH, "serveConfigs": [{"replicas": 1}]}}, False),
    ("RayServiceRequest", without(SERVICE, "clusterSpec"), False),
]


@pytest.mark.parametrize(("schema", "body", "accepted"), REQUESTS)
def test_request_rules(schema: str, body: Json, accepted: bool) -> None:
    assert (request_errors(SPEC["components"]["schemas"][schema], body) == []) is accepted


def test_requests_are_refused_only_by_request_schemas() -> None:
    """A response shows objects that others wrote too: its schemas require nothing of a request's."""
    for name in ("Cluster", "ClusterSpec", "HeadGroupSpec", "WorkerGroupSpec", "RayJob", "RayService"):
        assert "required" not in SPEC["components"]["schemas"][name], name
    assert response_errors(SPEC["components"]["schemas"]["Cluster"], {"clusterSpec": {"headGroupSpec": {}}}) == []


def test_rules_that_no_schema_states_are_documented_in_the_400_answer() -> None:
    """Operations with a body and the paged lists answer 400 with their own description: the
    rules that the server checks beyond the schemas (the body's namespace, replicas, tokens, ...)."""
    generic = SPEC["components"]["responses"]["InvalidInput"]["description"]
    for (method, path), op in operations().items():
        paged = any(parameter["name"] in ("continue", "pageToken") for parameter in op.get("parameters", []))
        if "requestBody" in op or paged:
            assert op["responses"]["400"]["description"] != generic, (method, path)


@pytest.mark.parametrize("example", [p for p in SEED if "request" in load(p)], ids=lambda p: p.stem)
def test_seed_request_is_valid(example: Path) -> None:
    seed = load(example)
    schema = operation_for(seed["method"], seed["path"])["requestBody"]["content"]["application/json"]["schema"]
    assert request_errors(schema, normalise(seed["request"], schema)) == []


@pytest.mark.parametrize("example", [p for p in SEED if "response" in load(p)], ids=lambda p: p.stem)
def test_seed_response_has_our_shape(example: Path) -> None:
    seed = load(example)
    op = operation_for(seed["method"], seed["path"])
    status = "400" if set(seed["response"]) == {"code", "message"} else "200"
    assert response_errors(json_schema(op, status), seed["response"]) == []


def test_seed_examples_cover_every_route_the_guide_shows() -> None:
    covered = {operation_for(load(p)["method"], load(p)["path"])["operationId"] for p in SEED}
    # The guide has no PUT example, its "get cluster" example is in fact a list request, and it
    # predates job submissions.
    assert set(ROUTES.values()) - covered == {"update_service", "get_cluster", "submit_ray_job", "get_job_details",
                                              "get_job_log", "list_job_details", "stop_ray_job", "delete_ray_job"}
