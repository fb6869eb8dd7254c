"""The real app, up to the handlers: routing, validation, error bodies, the Swagger UI.

No Kubernetes here: the app points at a kubeconfig that does not exist, so a request that
passes every check fails when the service layer first calls Kubernetes (503, code 14), and
everything that fails a check must fail before that.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path
from typing import Any

import connexion
import httpx
import pytest
from connexion.json_schema import Draft4ResponseValidator
from connexion.spec import Specification

from app.errors import Unavailable
from app.main import create_app
from app.settings import Settings
from app.types import Json
from tests.support.empty_names import REFUSALS, one_empty, path_parameters
from tests.support.fixture_pairs import seed

ROOT = Path(__file__).parents[2]
SPEC = Specification.load(ROOT / "openapi" / "kuberay.yaml")
ERROR_SCHEMA = SPEC["components"]["schemas"]["Error"]
PREFIXES = ("/apis/v1", "/apis/v1alpha2")
NO_CLIENT = "no Kubernetes client (ConfigException); see the server log"
SEED_CLUSTER = seed(9)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> connexion.FlaskApp:
    missing = tmp_path_factory.mktemp("kube") / "no-such-kubeconfig"
    return create_app(Settings(kubeconfig=str(missing), validate_responses=True))


@pytest.fixture(scope="module")
def client(app: connexion.FlaskApp) -> Any:
    return app.test_client(follow_redirects=False)


def assert_error(response: httpx.Response, status: int, code: int) -> str:
    """Every error: the status, JSON, exactly {code, message}, compact; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert list(Draft4ResponseValidator(ERROR_SCHEMA).iter_errors(body)) == []
    assert response.text.strip() == json.dumps(body, separators=(",", ":"))
    return str(body["message"])


UNKNOWN_ROUTES = [
    ("GET", "/"),  # the seed guide's smoke test: {"code":5,"message":"Not Found"}
    ("GET", "/apis/v1/nothing"),
    ("POST", "/apis/v1/namespaces/ns/image_templates"),  # declared upstream, never served
    ("GET", "/apis/v2/clusters"),
    ("GET", "/apis/v1/namespaces/ns/clusters/c/extra"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN_ROUTES)
def test_unknown_route_is_404_code_5(client: Any, method: str, path: str) -> None:
    message = assert_error(client.request(method, path), 404, 5)
    assert message == f"Not Found: no API route matches {method} {path}."


WRONG_METHODS = [
    ("PATCH", "/apis/v1/namespaces/ns/clusters/c", "DELETE, GET, HEAD"),  # upstream: the removed PATCH
    ("PATCH", "/apis/v1/namespaces/ns/services/s/configs", None),  # removed in v1.1.0: no such path
    ("POST", "/apis/v1/namespaces/ns/services/s", "DELETE, GET, HEAD, PUT"),
    ("DELETE", "/apis/v1alpha2/namespaces/ns/clusters", "GET, HEAD, POST"),
    ("PUT", "/apis/v1/clusters", "GET, HEAD"),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_method_is_405_code_12_with_every_allowed_method(client: Any, method: str, path: str,
                                                                 allowed: str | None) -> None:
    response = client.request(method, path)
    if allowed is None:
        assert_error(response, 404, 5)
        return
    message = assert_error(response, 405, 12)
    assert response.headers["allow"] == allowed
    assert message == f"Method Not Allowed: {path} does not accept {method} (allowed: {allowed})."


EMPTY_PARAMETERS = [pytest.param(method, f"{prefix}{path}", operation_id, empty, id=f"{method} {prefix}{path}")
                    for prefix in PREFIXES for method, path, operation_id, empty in one_empty(SPEC["paths"])]


@pytest.mark.parametrize(("method", "path", "operation_id", "empty"), EMPTY_PARAMETERS)
def test_an_empty_path_parameter_is_refused_with_upstreams_text_never_redirected(
        client: Any, method: str, path: str, operation_id: str | None, empty: str) -> None:
    """Every route of the spec with a path parameter, each parameter empty in turn: the route's
    method is refused before its body is read or Kubernetes called; another method is 405."""
    response = client.request(method, path)
    assert "location" not in response.headers
    if operation_id is None:
        assert_error(response, 405, 12)
        return
    assert assert_error(response, 400, 3) == REFUSALS[operation_id][empty]


def test_every_operation_with_a_path_parameter_states_upstreams_refusal_of_each_empty() -> None:
    """The spec's `x-empty` (read by both fronts) says what upstream says, for every parameter."""
    stated = {operation["operationId"]: operation.get("x-empty") for template, item in SPEC["paths"].items()
              for operation in item.values() if isinstance(operation, dict) and path_parameters(template)}
    assert stated == REFUSALS


SEVERAL_EMPTY = [  # upstream's handlers check the object's name, then the namespace
    ("GET", "/apis/v1/namespaces//clusters/", "Cluster name is empty. Please specify a valid value."),
    ("DELETE", "/apis/v1alpha2/namespaces//jobs/", "job name is empty. Please specify a valid value."),
    ("PUT", "/apis/v1/namespaces//services/", "Name is empty. Please specify a valid value."),
    ("GET", "/apis/v1/namespaces//jobsubmissions//", "Cluster name is empty. Please specify a valid value."),
    ("POST", "/apis/v1/namespaces//jobsubmissions/c/", "Namespace is empty. Please specify a valid value."),
]


@pytest.mark.parametrize(("method", "path", "message"), SEVERAL_EMPTY)
def test_of_several_empty_parameters_the_name_is_refused_first(client: Any, method: str, path: str,
                                                               message: str) -> None:
    assert assert_error(client.request(method, path), 400, 3) == message


NO_SUCH_PATH = [  # an empty segment where no route has a parameter: what Starlette and Flask redirected
    "/apis/v1/clusters/",
    "/apis/v1alpha2/namespaces/ns/compute_templates/t/",
    "/apis/v1/namespaces/ns/jobsubmissions/c/s/",
    "/apis/v1//clusters",
    "/apis//v1/jobs",
    "/apis/v1/openapi.json/",
]


@pytest.mark.parametrize("path", NO_SUCH_PATH)
@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "POST"])
def test_no_api_path_redirects(client: Any, method: str, path: str) -> None:
    response = client.request(method, path)
    assert "location" not in response.headers
    assert assert_error(response, 404, 5) == f"Not Found: no API route matches {method} {path}."


CLUSTERS = "/apis/v1/namespaces/ns/clusters"
TEMPLATES = "/apis/v1/namespaces/ns/compute_templates"
CLUSTER = {**SEED_CLUSTER["request"], "namespace": "ns"}
TEMPLATE = {"name": "t", "namespace": "ns", "cpu": 2, "memory": 4}
JOB = {"name": "j", "user": "u", "clusterSelector": {"ray.io/cluster": "c"}}
SERVICE = {"name": "s", "user": "u", "serveConfigV2": "applications: []",
           "clusterSpec": CLUSTER["clusterSpec"]}


def changed(body: Json, field: str, value: Any = None, *, drop: bool = False) -> Json:
    """A copy of `body` with one field (`a.b[0].c`) set to `value`, or dropped."""
    body = copy.deepcopy(body)
    *parents, last = [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", field)]
    holder: Any = body
    for key in parents:
        holder = holder[key]
    if drop:
        del holder[last]
    else:
        holder[last] = value
    return body


INVALID = [
    # (id, method, path, body (dict: JSON; bytes: raw), message): valid bodies with one fault
    ("malformed-json", "POST", CLUSTERS, b'{"name": ',
     "The request body is not valid JSON: Expecting value: line 1 column 10 (char 9)."),
    ("not-utf8", "POST", CLUSTERS, b'{"name": "\xff"}', None),
    # deeper than the reading can follow (each level is one call deeper): 200 kB, not a 500
    ("nested-past-the-decoder", "POST", CLUSTERS, b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "The request body is nested too deeply to be read."),
    ("empty-body", "POST", CLUSTERS, b"", "The request body is empty: a JSON object is required."),
    ("null-body", "POST", CLUSTERS, b"null", "The request body is empty: a JSON object is required."),
    ("array-body", "POST", CLUSTERS, [], "The request body must be a JSON object, not an array."),
    ("unknown-field-strict", "POST", f"{CLUSTERS}?fieldValidation=Strict", {**CLUSTER, "nodes": 3},
     "Unknown field 'nodes': the API has no such field."),
    ("unknown-nested-field-strict", "POST", f"{CLUSTERS}?fieldValidation=Strict",
     changed(CLUSTER, "clusterSpec.workerGroupSpec[0].replica", 1),
     "Unknown field 'clusterSpec.workerGroupSpec[0].replica': the API has no such field."),
    ("unknown-fields-at-any-depth-strict", "PUT", "/apis/v1/namespaces/ns/services/s?fieldValidation=Strict",
     {"z": 1, "cluster_spec": {"head_group_spec": {"volumes": [{"name": "v", "size": 1}]}, "x": {}}, "a": None},
     "Unknown fields 'a', 'clusterSpec.headGroupSpec.volumes[0].size', 'clusterSpec.x', 'z': the API has no such field."),
    ("unknown-enum-name", "POST", CLUSTERS, {**CLUSTER, "environment": "PROD"},
     'Field \'environment\' has an unknown value "PROD": use one of DEV, TESTING, STAGING, PRODUCTION, or its number 0-3.'),
    ("unknown-enum-name-ignoring-unknown-fields", "POST", f"{CLUSTERS}?fieldValidation=Ignore",
     changed(CLUSTER, "clusterSpec.headGroupSpec.volumes", [{"name": "v", "volumeType": "CONFIG_MAP"}]),
     'Field \'clusterSpec.headGroupSpec.volumes[0].volumeType\' has an unknown value "CONFIG_MAP": use one of '
     "PERSISTENT_VOLUME_CLAIM, HOST_PATH, EPHEMERAL, CONFIGMAP, SECRET, EMPTY_DIR, or its number 0-5."),
    ("field-validation-not-kubernetes-spelling", "POST", f"{CLUSTERS}?fieldValidation=strict", {"name": "c", "nodes": 3},
     'The query parameter \'fieldValidation\' has an unknown value "strict": use one of "Ignore", "Warn", "Strict", "".'),
    ("unknown-enum-number", "POST", CLUSTERS,
     changed(CLUSTER, "clusterSpec.headGroupSpec.volumes", [{"name": "v", "volume_type": 9}]),
     "Field 'clusterSpec.headGroupSpec.volumes[0].volumeType' has an unknown value 9: use one of "
     "PERSISTENT_VOLUME_CLAIM, HOST_PATH, EPHEMERAL, CONFIGMAP, SECRET, EMPTY_DIR, or its number 0-5."),
    ("wrong-type", "POST", TEMPLATES, {**TEMPLATE, "cpu": "two"}, "Field 'cpu' must be an integer, not a string."),
    ("out-of-range", "POST", TEMPLATES, {**TEMPLATE, "gpu": -1}, "Field 'gpu' must be at least 0, not -1."),
    ("field-given-twice", "POST", CLUSTERS, {**CLUSTER, "cluster_spec": {}},
     "Field 'clusterSpec' is given twice, as 'clusterSpec' and as 'cluster_spec'."),
    ("cluster-name-kubernetes-would-refuse", "POST", "/apis/v1alpha2/namespaces/ns/clusters",
     {**CLUSTER, "name": "My_Cluster"},
     'Field \'name\' has an invalid value "My_Cluster": it must be a RayCluster name the KubeRay operator accepts: '
     "a DNS-1035 label of 1 to 53 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit."),
    ("name-with-a-final-line-feed", "POST", CLUSTERS, {**CLUSTER, "name": "c\n"},  # `$` ends the value
     'Field \'name\' has an invalid value "c\\n": it must be a RayCluster name the KubeRay operator accepts: '
     "a DNS-1035 label of 1 to 53 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit."),
    ("job-name-too-long", "POST", "/apis/v1/namespaces/ns/jobs", {**JOB, "name": "j" * 48}, None),
    ("entrypoint-cpus-beyond-float32", "POST", "/apis/v1/namespaces/ns/jobs", {**JOB, "entrypointNumCpus": 1e39},
     "Field 'entrypointNumCpus' must be at most 3.4028234663852886e+38, not 1e+39."),
    ("service-name-on-update", "PUT", "/apis/v1/namespaces/ns/services/s", {**SERVICE, "name": "S"}, None),
    ("user-not-a-label-value", "POST", CLUSTERS, {**CLUSTER, "user": "r2 d2"}, None),
    ("volume-without-name", "POST", CLUSTERS,
     changed(CLUSTER, "clusterSpec.headGroupSpec.volumes", [{"mountPath": "/x"}]),
     "Missing required field 'clusterSpec.headGroupSpec.volumes[0].name'."),
    # rules of a request that the schema states (upstream's server checked them itself)
    ("empty-name", "POST", CLUSTERS, {**CLUSTER, "name": ""},
     'Field \'name\' has an invalid value "": it must be a RayCluster name the KubeRay operator accepts: '
     "a DNS-1035 label of 1 to 53 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit."),
    ("no-user", "POST", CLUSTERS, changed(CLUSTER, "user", drop=True), "Missing required field 'user'."),
    ("no-cpu", "POST", TEMPLATES, {**TEMPLATE, "cpu": 0}, "Field 'cpu' must be at least 1, not 0."),
    ("memory-unit", "POST", TEMPLATES, {**TEMPLATE, "memoryUnit": "GB"},
     'Field \'memoryUnit\' has an invalid value "GB": it must be the suffix of a Kubernetes quantity, '
     "such as Gi (the default when empty), Mi, G or M."),
    ("no-head-group", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.headGroupSpec", drop=True),
     "Missing required field 'clusterSpec.headGroupSpec'."),
    ("no-ray-start-params", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.headGroupSpec.rayStartParams", {}),
     "Field 'clusterSpec.headGroupSpec.rayStartParams' must have at least 1 entry."),
    ("pull-policy", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.workerGroupSpec[0].imagePullPolicy", "Never"),
     "Field 'clusterSpec.workerGroupSpec[0].imagePullPolicy' has an unknown value \"Never\": "
     'use one of "", "Always", "IfNotPresent".'),
    ("auth-mode-unknown", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.authOptions", {"mode": "Token"}),
     "Field 'clusterSpec.authOptions.mode' has an unknown value \"Token\": use one of \"\", \"token\", \"disabled\"."),
    ("auth-secret-name", "POST", "/apis/v1/namespaces/ns/jobs",
     changed(JOB, "clusterSpec", {"headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"}},
                                  "authOptions": {"secretName": "My_Token"}}),
     "Field 'clusterSpec.authOptions.secretName' has an invalid value \"My_Token\": it must be empty, or a Kubernetes "
     "object name: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit."),
    ("auth-unknown-option-strict", "POST", f"{CLUSTERS}?fieldValidation=Strict",
     changed(CLUSTER, "clusterSpec.authOptions", {"mode": "token", "enableK8sTokenAuth": True}),
     "Unknown field 'clusterSpec.authOptions.enableK8sTokenAuth': the API has no such field."),
    ("max-replicas-zero", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.workerGroupSpec[0].maxReplicas", 0),
     "Field 'clusterSpec.workerGroupSpec[0].maxReplicas' must be at least 1, not 0."),
    ("negative-replicas", "POST", CLUSTERS, changed(CLUSTER, "clusterSpec.workerGroupSpec[0].replicas", -1),
     "Field 'clusterSpec.workerGroupSpec[0].replicas' must be at least 0, not -1."),
    ("job-without-a-cluster", "POST", "/apis/v1/namespaces/ns/jobs", {**JOB, "clusterSelector": {}},
     "The request body must be given a 'clusterSpec' to build its cluster from, "
     "or a non-empty 'clusterSelector' that picks an existing one."),
    ("submitter-quantity", "POST", "/apis/v1/namespaces/ns/jobs", {**JOB, "jobSubmitter": {"image": "i", "cpu": "-1"}},
     'Field \'jobSubmitter.cpu\' has an invalid value "-1": it must be empty or a Kubernetes quantity '
     "that is not negative, such as 500m, 2 or 1Gi."),
    ("two-serve-configurations", "POST", "/apis/v1/namespaces/ns/services",
     {**SERVICE, "serveDeploymentGraphSpec": {"importPath": "a.b"}},
     "The request body must be given exactly one serve configuration: "
     "a non-empty 'serveConfigV2' or a 'serveDeploymentGraphSpec'."),
    ("no-serve-configuration", "PUT", "/apis/v1/namespaces/ns/services/s", {**SERVICE, "serveConfigV2": ""},
     "The request body must be given exactly one serve configuration: "
     "a non-empty 'serveConfigV2' or a 'serveDeploymentGraphSpec'."),
    ("namespace-in-path", "GET", "/apis/v1/namespaces/Ray_System/clusters", None,
     "The path parameter 'namespace' has an invalid value \"Ray_System\": it must be a Kubernetes namespace name: "
     "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit."),
    ("name-in-path", "DELETE", "/apis/v1/namespaces/ns/compute_templates/Default_Template", None, None),
    ("limit-not-a-number", "GET", "/apis/v1/clusters?limit=ten",
     None, "The query parameter 'limit' must be an integer, not a string."),
    ("limit-negative", "GET", "/apis/v1/jobs?limit=-1", None, "The query parameter 'limit' must be at least 0, not -1."),
    ("page-size-by-its-protobuf-name", "GET", "/apis/v1/services?page_size=-5", None,
     "The query parameter 'pageSize' must be at least 0, not -5."),
    ("token-not-base64url", "GET", "/apis/v1/clusters?continue=a%2Bb%3D", None,
     'The query parameter \'continue\' has an invalid value "a+b=": it must be a token this API returned with '
     "the previous page: URL-safe base64 without padding, as Kubernetes issues it."),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_request_is_400_code_3_naming_the_field(client: Any, method: str, path: str, body: Any,
                                                        message: str | None) -> None:
    if isinstance(body, bytes):
        response = client.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.request(method, path, json=body)
    text = assert_error(response, 400, 3)
    if message is not None:
        assert text == message


REACH_THE_HANDLER = [
    # (id, method, path, body, content type): valid, so only the missing Kubernetes stops them
    ("seed-cluster-on-old-prefix", "POST", SEED_CLUSTER["path"], SEED_CLUSTER["request"], "application/json"),
    ("body-sent-as-curl-form-default", "POST", SEED_CLUSTER["path"], SEED_CLUSTER["request"],
     "application/x-www-form-urlencoded"),
    ("protobuf-names-enum-names-nulls", "POST", CLUSTERS,
     {"name": "c", "user": "u", "environment": "STAGING", "version": None,
      "cluster_spec": {"head_group_spec": {"compute_template": "t", "ray_start_params": {"a": "b"}}}},
     "application/json"),
    ("numeric-strings", "POST", "/apis/v1/namespaces/ns/compute_templates",
     {"name": "t", "namespace": "ns", "cpu": "2", "memory": "4"}, "application/json"),
    ("update-service", "PUT", "/apis/v1/namespaces/ns/services/s",
     {"name": "s", "user": "u", "serve_config_V2": "x",
      "cluster_spec": {"head_group_spec": {"compute_template": "t", "ray_start_params": {"a": "b"}}}},
     "application/json"),
    ("auth-options-by-protobuf-names", "POST", CLUSTERS,
     {"name": "c", "user": "u", "version": "2.60.0",
      "cluster_spec": {"head_group_spec": {"compute_template": "t", "ray_start_params": {"a": "b"}},
                                                "auth_options": {"mode": "token", "secret_name": "team-token"}}},
     "application/json"),
    ("list-with-page-size-alias", "GET", "/apis/v1/namespaces/ns/services?page_size=10&page_token=dA", None, None),
    ("get", "GET", "/apis/v1alpha2/namespaces/ns/jobs/j", None, None),
    ("delete", "DELETE", "/apis/v1/namespaces/ns/compute_templates/default-template", None, None),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type"), [c[1:] for c in REACH_THE_HANDLER],
                         ids=[c[0] for c in REACH_THE_HANDLER])
def test_valid_request_reaches_kubernetes(client: Any, caplog: pytest.LogCaptureFixture, method: str,
                                          path: str, body: Any, content_type: str | None) -> None:
    """It passes validation and the service layer's checks, and fails only for want of a
    Kubernetes client: 503, code 14, the client's own error in the log only."""
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"content": json.dumps(body), "headers": {"content-type": content_type}}
    with caplog.at_level(logging.ERROR, logger="app.k8s"):
        response = client.request(method, path, **kwargs)
    assert assert_error(response, 503, 14) == NO_CLIENT
    assert any(record.exc_info for record in caplog.records
               if record.getMessage() == "cannot configure the Kubernetes client")
    assert "warning" not in response.headers  # no unknown field


VALID_CLUSTER: Json = {"name": "c", "user": "u",
                 "clusterSpec": {"headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"any key": "b"}}}}
WARNED = [
    # (id, path, body, status of the answer, the unknown fields it names)
    ("answered-by-kubernetes", CLUSTERS,
     {**VALID_CLUSTER, "nodes": 3, "clusterSpec": {**VALID_CLUSTER["clusterSpec"], "workerGroupSpec": [
         {"groupName": "g", "computeTemplate": "t", "maxReplicas": 1, "x": 1}]}},
     503, ["clusterSpec.workerGroupSpec[0].x", "nodes"]),
    ("refused-by-validation", "/apis/v1/namespaces/ns/compute_templates",
     {"name": "t", "cpu": "two", "gpu accelerator": "amd.com/gpu"}, 400, ["gpu accelerator"]),
    ("refused-by-the-service", CLUSTERS, {"name": "c", "nodes": 3}, 400, ["nodes"]),
]


@pytest.mark.parametrize(("path", "body", "status", "fields"), [c[1:] for c in WARNED], ids=[c[0] for c in WARNED])
def test_unknown_fields_are_dropped_and_named_in_warnings_whatever_the_answer(
        client: Any, path: str, body: Any, status: int, fields: list[str]) -> None:
    """`fieldValidation=Warn`, the default: one Warning header per field, as Kubernetes writes it,
    on a failure too; `Ignore` answers the same without them."""
    warned = client.post(path, json=body)
    assert_error(warned, status, warned.json()["code"])
    assert warned.headers.get_list("warning") == [f'299 - "unknown field \\"{field}\\""' for field in fields]
    assert client.post(f"{path}?fieldValidation=Warn", json=body).headers.get_list("warning") == \
        warned.headers.get_list("warning")

    ignored = client.post(f"{path}?fieldValidation=Ignore", json=body)
    assert (ignored.status_code, ignored.json()) == (warned.status_code, warned.json())
    assert "warning" not in ignored.headers


def test_swagger_ui_of_each_prefix_works_offline(client: Any) -> None:
    for prefix in ("/apis/v1", "/apis/v1alpha2"):
        page = client.get(f"{prefix}/swagger-ui/")
        assert page.status_code == 200
        assert f"{prefix}/openapi.json" in page.text
        assert "https://" not in page.text
        assert "http://" not in page.text  # every asset is local
        assert client.get(f"{prefix}/swagger-ui/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("path", ["/swagger-ui/", "/swagger-ui", "/swagger-ui/index.html"])
def test_upstreams_swagger_ui_address_leads_to_the_v1_ui(client: Any, path: str) -> None:
    response = client.get(path)
    if path.endswith("index.html"):
        assert_error(response, 404, 5)  # only the directory is upstream's address
        return
    assert response.status_code == 302
    assert response.headers["location"] == "/apis/v1/swagger-ui/"


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
def test_each_prefix_serves_the_spec_with_its_own_server_url(client: Any, prefix: str) -> None:
    spec = client.get(f"{prefix}/openapi.json")
    assert spec.status_code == 200
    assert spec.headers["content-type"] == "application/json"
    body = spec.json()
    assert body["servers"] == [{"url": prefix}]
    operation_ids = {op["operationId"] for item in body["paths"].values() for op in item.values()
                     if isinstance(op, dict) and "operationId" in op}
    # upstream's routes of the four resources and its job submissions, and the cron jobs' (an extension)
    assert len(operation_ids) == 27 + 7


def test_a_server_with_a_wrong_kubernetes_setup_stops_at_start_up(tmp_path: Path) -> None:
    """Serving (the lifespan start-up) builds the Kubernetes client, unlike merely creating the app."""
    app = create_app(Settings(kubeconfig=str(tmp_path / "missing")))
    with pytest.raises(Unavailable, match="no Kubernetes client") as stopped, app.test_client():
        pass
    assert "kube-config" in str(stopped.value.__cause__)  # the client's own reason, in the log too
