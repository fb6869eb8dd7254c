"""The gRPC front up to the handlers, with no Kubernetes: routing, validation, status codes, health.

As in test_app_errors.py, the server's Kubernetes client points at a kubeconfig that does not
exist: a request that passes every check reaches its handler and fails at the first Kubernetes
call (UNAVAILABLE, code 14), so everything a check refuses must be refused before that. Each
refusal is compared with the HTTP front's answer to the same request (tests/support/rpc.py
maps one to the other by upstream's route table), so both fronts must refuse alike.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from connexion.spec import Specification
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc

import handlers
from app.errors import ApiError
from app.k8s import K8s
from app.main import OPENAPI_DIR, SPEC, create_app
from app.rpc.generated import cluster_pb2, config_pb2
from app.rpc.routes import rpc_routes
from app.rpc.server import CODE_NAMES, RpcServer, peer_host
from app.services import Services
from app.settings import Settings
from app.validation import Limits
from tests.support.empty_names import FILLED, REFUSALS, path_parameters, refusal_operation
from tests.support.rpc import EXTENSION_ROUTES, ROUTES, call, to_rpc

NO_CLIENT = "no Kubernetes client (ConfigException); see the server log"
SERVICES = ("ComputeTemplateService", "ClusterService", "RayJobService", "RayServeService", "RayJobSubmissionService")
EXTENSION_SERVICES = ("RayCronJobService",)
NS = "/apis/v1/namespaces/ns"


@pytest.fixture(scope="module")
def missing_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("kube") / "no-such-kubeconfig")


@pytest.fixture(scope="module")
def http(missing_kubeconfig: str) -> Any:
    return create_app(Settings(kubeconfig=missing_kubeconfig, validate_responses=True)).test_client()


@pytest.fixture(scope="module")
def channel(missing_kubeconfig: str) -> Iterator[grpc.Channel]:
    settings = Settings(kubeconfig=missing_kubeconfig)
    k8s = K8s.from_settings(settings)
    services = Services.build(k8s, Limits(settings.max_workers_per_cluster))
    server = RpcServer(rpc_routes(Specification.load(OPENAPI_DIR / SPEC)), handlers.operations(services),
                       k8s.request_scope, lambda: "Not ready: no Kubernetes.")
    port = server.start("127.0.0.1:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
            yield opened
    finally:
        server.stop(1)


def _grpc_answer(channel: grpc.Channel, method: str, path: str, body: Any) -> tuple[int, str]:
    service, rpc, request = to_rpc(method, path, body)
    try:
        call(channel, service, rpc, request)
    except grpc.RpcError as exc:
        return exc.code().value[0], str(exc.details())
    raise AssertionError(f"{rpc} succeeded without Kubernetes")


def _http_answer(http: Any, method: str, path: str, body: Any) -> tuple[int, str]:
    answer = http.request(method, path, json=body).json()
    return answer["code"], answer["message"]


def test_the_spec_names_every_rpc_of_the_six_services_once() -> None:
    """Upstream's five in its package `proto`, the extensions' in `kuberay_api.v1` (the tag's
    `x-grpc-package`)."""
    routes = rpc_routes(Specification.load(OPENAPI_DIR / SPEC))
    served = sorted(route.path for route in routes)
    pool = descriptor_pool.Default()
    declared = sorted(f"/{package}.{name}/{method.name}"
                      for package, names in (("proto", SERVICES), ("kuberay_api.v1", EXTENSION_SERVICES))
                      for name in names for method in pool.FindServiceByName(f"{package}.{name}").methods)
    assert served == declared
    assert len({route.operation_id for route in routes}) == len(routes) == 34


def test_a_tag_without_a_package_is_upstreams() -> None:
    """The package comes from the tag's `x-grpc-package` alone: dropping it moves the service to
    `proto`, where no RayCronJobService is declared."""
    spec = Specification.load(OPENAPI_DIR / SPEC)
    assert {route.service for route in rpc_routes(spec)} >= {"kuberay_api.v1.RayCronJobService", "proto.ClusterService"}
    unpackaged = {**dict(spec), "tags": [{key: value for key, value in tag.items() if key != "x-grpc-package"}
                                         for tag in spec["tags"]]}
    with pytest.raises(KeyError, match="proto.RayCronJobService"):
        rpc_routes(unpackaged)


@pytest.mark.parametrize("route", ROUTES + EXTENSION_ROUTES,
                         ids=[f"{service}.{rpc}" for _, _, service, rpc, _, _ in ROUTES + EXTENSION_ROUTES])
def test_every_rpc_reaches_its_handler(channel: grpc.Channel, route: tuple[Any, ...]) -> None:
    """A valid request of each RPC gets as far as Kubernetes: the handler ran, with the request's
    fields as its arguments, and its failure is the call's status."""
    method, path, service, rpc, _, body_field = route
    filled = path.format(namespace="ns", name="n", clustername="c", submissionid="s")
    bodies = {"compute_template": {"name": "t", "cpu": 1, "memory": 1},
              "cluster": {"name": "c", "user": "u", "clusterSpec": {"headGroupSpec": {
                  "computeTemplate": "t", "rayStartParams": {"a": "b"}}}},
              "job": {"name": "j", "user": "u", "entrypoint": "python -V", "clusterSelector": {"a": "b"}},
              "service": {"name": "n", "user": "u", "serveConfigV2": "applications: []", "clusterSpec": {
                  "headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"}}}},
              "jobsubmission": {"entrypoint": "python -V"},
              "cronjob": {"name": "c", "user": "u", "entrypoint": "python -V", "schedule": "*/5 * * * *",
                          "timeZone": "Europe/Paris", "clusterSelector": {"ray.io/cluster": "c"}}}
    body = bodies[body_field] if body_field else None
    assert _grpc_answer(channel, method, f"/apis/v1{filled}", body) == (14, NO_CLIENT)


REFUSED = [  # requests the protos can carry and the spec refuses
    ("POST", f"{NS}/compute_templates", {"name": "Bad_Name", "cpu": 1, "memory": 1}),
    ("POST", f"{NS}/compute_templates", {"name": "t", "memory": 1}),
    ("POST", f"{NS}/compute_templates", {"name": "t", "namespace": "other", "cpu": 1, "memory": 1}),
    ("POST", f"{NS}/compute_templates", {"name": "t", "cpu": 1, "memory": 1, "memoryUnit": "GB"}),
    ("POST", f"{NS}/clusters", {"name": "9c", "user": "u", "clusterSpec": {"headGroupSpec": {
        "computeTemplate": "t", "rayStartParams": {"a": "b"}}}}),
    ("POST", f"{NS}/clusters", {"name": "c", "clusterSpec": {"headGroupSpec": {
        "computeTemplate": "t", "rayStartParams": {"a": "b"}}}}),
    ("POST", f"{NS}/clusters", {"name": "c", "user": "u", "clusterSpec": {"headGroupSpec": {
        "computeTemplate": "t"}}}),
    ("POST", f"{NS}/clusters", {"name": "c", "user": "u", "clusterSpec": {
        "headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"}},
        "workerGroupSpec": [{"groupName": "g", "computeTemplate": "t", "replicas": 1}]}}),
    ("POST", f"{NS}/clusters", {"name": "c", "user": "u", "clusterSpec": {
        "headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"},
                          "volumes": [{"name": "v", "mountPath": "/v", "volumeType": "EPHEMERAL"}]}}}),
    ("POST", f"{NS}/jobs", {"name": "j", "user": "u", "entrypoint": "python -V"}),
    ("POST", f"{NS}/services", {"name": "s", "user": "u", "clusterSpec": {"headGroupSpec": {
        "computeTemplate": "t", "rayStartParams": {"a": "b"}}}}),
    ("POST", f"{NS}/services", {"name": "s", "user": "u", "serveConfigV2": "x",
                                "serveDeploymentGraphSpec": {"importPath": "a.b"}, "clusterSpec": {
                                    "headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"}}}}),
    ("PUT", f"{NS}/services/s", {"name": "other", "user": "u", "serveConfigV2": "x", "clusterSpec": {
        "headGroupSpec": {"computeTemplate": "t", "rayStartParams": {"a": "b"}}}}),
    ("POST", f"{NS}/jobsubmissions/c", {"runtimeEnv": "a: b"}),
    ("GET", f"{NS}/clusters/UPPER", None),
    ("DELETE", "/apis/v1/namespaces/Bad_Namespace/jobs/j", None),
    ("GET", f"{NS}/clusters?limit=-1", None),
    ("GET", f"{NS}/services?pageSize=-5", None),
    ("GET", f"{NS}/jobs?continue=not%20a%20token", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REFUSED)
def test_a_refusal_is_the_http_fronts_code_and_message(
        channel: grpc.Channel, http: Any, method: str, path: str, body: Any) -> None:
    """The same code and text; a path or query parameter is a field of the request message, and
    named so."""
    code, message = _grpc_answer(channel, method, path, body)
    assert code == 3, message
    http_code, http_message = _http_answer(http, method, path, body)
    assert (code, message) == (http_code, re.sub(r"^The (path|query) parameter ", "Field ", http_message))


EMPTY_FIELDS = [pytest.param(method, path, rpc, empty, id=f"{rpc}-{empty}")
                for method, path, _, rpc, _, _ in ROUTES + EXTENSION_ROUTES for empty in path_parameters(path)]


@pytest.mark.parametrize(("method", "path", "rpc", "empty"), EMPTY_FIELDS)
def test_an_empty_name_is_invalid_argument_with_upstreams_text(
        channel: grpc.Channel, method: str, path: str, rpc: str, empty: str) -> None:
    """Each RPC with a field that HTTP takes from the path, that field empty (the request's body
    unset: the name is checked first): upstream's text, as the HTTP front answers it."""
    filled = f"/apis/v1{path.format(**{**FILLED, empty: ''})}"
    assert _grpc_answer(channel, method, filled, None) == (3, REFUSALS[refusal_operation(method, path)][empty])


def test_an_unset_body_field_is_refused_naming_it(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        call(channel, "ClusterService", "CreateCluster", cluster_pb2.CreateClusterRequest(namespace="ns"))
    assert (refused.value.code(), refused.value.details()) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "Missing required field 'cluster'.")


def test_an_unregistered_service_is_unimplemented(channel: grpc.Channel) -> None:
    image_templates = channel.unary_unary("/proto.ImageTemplateService/GetImageTemplate",
                                          request_serializer=config_pb2.GetImageTemplateRequest.SerializeToString,
                                          response_deserializer=config_pb2.ImageTemplate.FromString)
    with pytest.raises(grpc.RpcError) as refused:
        image_templates(config_pb2.GetImageTemplateRequest(namespace="ns", name="i"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_follows_readiness(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "proto.ClusterService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING  # no Kubernetes: not ready
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="proto.ImageTemplateService"), timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_every_error_code_is_a_grpc_status_of_the_same_number() -> None:
    def subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    numbers = {status.value[0]: status for status in grpc.StatusCode}
    for error in subclasses(ApiError):
        assert error.code in numbers, error
    # upstream's metric label values are Go's names of the same codes
    assert {number: numbers[number].name.replace("_", "").lower() for number in CODE_NAMES} == \
        {number: name.lower().replace("canceled", "cancelled") for number, name in CODE_NAMES.items()}


def test_a_server_started_twice_stops_at_the_last_stop(missing_kubeconfig: str) -> None:
    """A lifespan entered again (test clients do) shares the running server."""
    settings = Settings(kubeconfig=missing_kubeconfig)
    k8s = K8s.from_settings(settings)
    services = Services.build(k8s, Limits(settings.max_workers_per_cluster))
    server = RpcServer(rpc_routes(Specification.load(OPENAPI_DIR / SPEC)), handlers.operations(services),
                       k8s.request_scope, lambda: None)
    port = server.start("127.0.0.1:0")
    assert server.start("127.0.0.1:0") == port
    server.stop(1)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
        health = health_pb2_grpc.HealthStub(opened)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        server.stop(1)
        with pytest.raises(grpc.RpcError):
            health.Check(health_pb2.HealthCheckRequest(), timeout=3)


@pytest.mark.parametrize(("peer", "host"), [
    ("ipv4:10.0.0.7:51234", "10.0.0.7"),
    ("ipv6:[2001:db8::1]:51234", "2001:db8::1"),
    ("ipv6:%5B::1%5D:51234", "::1"),  # as newer gRPC releases write it
    ("unix:/run/grpc.sock", None),
    ("", None),
])
def test_the_address_of_a_peer(peer: str, host: str | None) -> None:
    """The address whose bucket a refused token spends (app/ratelimit.py), as HTTP's `scope["client"]`."""
    assert peer_host(peer) == host
