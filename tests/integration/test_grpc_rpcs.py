"""Every RPC of the five services, through the stubs generated from our protos, against the real
control plane (and, for job submissions, a real Ray head).

The oracle is the HTTP front of the same app, which tests/integration/test_*.py check on their own:
* after each create and update, Kubernetes holds for the gRPC request what it holds for the same
  request sent over HTTP into a second namespace (compared whole, the namespace renamed, the
  server's time stamps and the operator's zero values set aside);
* each gRPC answer is the HTTP answer of the same object: whole when two HTTP reads around it agree,
  else but for what the operator changed in between (`VOLATILE`);
* each failing request is sent both ways: the gRPC status code is the code of the HTTP error body
  (and the table's), the gRPC details its message. The HTTP body is the request message's body
  field in protojson, so that both fronts get the very same request; the RPC is found with
  upstream's route table (rpc.ROUTES), not with the spec's annotations.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import grpc
import pytest
import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from kubernetes.client import V1ConfigMap
from starlette.testclient import TestClient

from app.http.validators import EMPTY_BODY
from app.k8s import K8s
from app.rpc.generated import cluster_pb2, config_pb2, job_pb2, job_submission_pb2, serve_pb2
from app.types import Json
from tests.support.api import ok, own_app_with_rpc, refused, served_eventually
from tests.support.bodies import SERVE_CONFIG_V2, cluster_body, job_body, raycluster_spec, service_body, template_body
from tests.support.empty_names import REFUSALS, refusal_operation
from tests.support.kube import (
    MANAGED,
    PLURALS,
    STAMPS,
    Cluster,
    Kube,
    fresh_namespaces,
    present,
    without_operator_defaults,
)
from tests.support.relay import Relay
from tests.support.rpc import ROUTES, STUBS, as_json, call, to_rpc
from tests.support.waiting import wait_for

API = "/apis/v1"
TIMEOUT = 30.0  # seconds any one RPC may take here
Code: TypeAlias = grpc.StatusCode
# What the operator may change between two reads of one object: its state, events and progress,
# and (for a list) the continue token Kubernetes issues with the collection's version.
VOLATILE = frozenset({
    "events", "clusterState", "serviceEndpoint", "jobStatus", "jobDeploymentStatus", "message", "jobId",
    "rayClusterName", "startTime", "endTime", "rayServiceStatus", "continue", "nextPageToken"})
BODY_FIELD = {(service, rpc): body for _, _, service, rpc, _, body in ROUTES}



def grpc_wording(http_message: str, body_field: str | None) -> str:
    """The HTTP front's message as the gRPC front words it (docs/compatibility.md, "gRPC"): a path
    or query parameter is a field of the request message, and a missing body is its unset field."""
    if http_message == EMPTY_BODY and body_field is not None:
        return f"Missing required field '{_camel(body_field)}'."
    return re.sub(r"^The (path|query) parameter ", "Field ", http_message)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


# -- helpers ---------------------------------------------------------------------------------------

def parse(body: Json, kind: type[Message]) -> Any:
    """A message of `kind` from a body of the user guide (JSON names, enum names)."""
    return json_format.ParseDict(body, kind())


def stable(value: Any) -> Any:
    """`value` without what the operator may change between two reads."""
    if isinstance(value, dict):
        return {key: stable(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


def assert_between(answer: Json, before: Json, after: Json) -> None:
    """`answer` (gRPC) is what HTTP answered just before and just after it: whole when those two
    agree, else but for what the operator changed meanwhile."""
    if before == after:
        assert answer == before
    else:
        assert stable(answer) == stable(before) == stable(after)


def pages_alike(app_client: TestClient, base: str, http_page: Callable[[str], Json], rpc_page: Callable[[str], Message],
                items: str, token_key: str) -> list[list[str]]:
    """The names on each page of a namespace's list over gRPC, from the first to the last, each
    page compared with HTTP's same page read just before and just after it. `http_page(token)`:
    HTTP's query parameters; `rpc_page(token)`: the RPC's answer."""
    pages: list[list[str]] = []
    token = ""
    while True:
        before = ok(app_client.get(base, params=http_page(token)))
        page = as_json(rpc_page(token))
        assert_between(page, before, ok(app_client.get(base, params=http_page(token))))
        pages.append([item["name"] for item in page[items]])
        token = page.get(token_key, "")
        if not token:
            return pages


def own(answer: Json, namespaces: set[str]) -> Json:
    """A list across all namespaces cut to the test's own: other tests' objects come and go."""
    return {key: [item for item in value if item.get("namespace") in namespaces] if isinstance(value, list)
            else value for key, value in answer.items() if key not in ("continue", "nextPageToken")}


def renamed(value: Any, namespace: str) -> Any:
    """`value` with every mention of `namespace` written as `<ns>`."""
    return json.loads(json.dumps(value).replace(namespace, "<ns>"))


def held(kube: Kube, plural: str, namespace: str, name: str) -> Json:
    """What Kubernetes holds for an object the server wrote, comparable across namespaces: the
    namespace renamed, time stamps as their presence, the operator's zero values set aside."""
    obj = present(kube.configmap(namespace, name) if plural == "configmaps" else kube.get(plural, namespace, name),
                  f"{plural} {namespace}/{name}")
    metadata = obj["metadata"]
    view = {
        "labels": metadata.get("labels") or {},
        "annotations": {key: "<time>" if key in STAMPS else value
                        for key, value in (metadata.get("annotations") or {}).items()},
        "content": obj.get("data") if plural == "configmaps" else without_operator_defaults(obj["spec"]),
    }
    comparable: Json = renamed(view, namespace)
    return comparable


def rpc_error(send: Callable[[], Any]) -> grpc.RpcError:
    try:
        answer = send()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError(f"answered {answer!r}, expected an error")


def assert_refused_alike(app_client: TestClient, channel: grpc.Channel, method: str, path: str, body: Json | None,
                         code: Code, rpc: str | None = None) -> str:
    """The request refused with `code` over both fronts, with the same message (returned)."""
    service, found, request = to_rpc(method, path, body)
    if rpc is not None:
        assert found == rpc, (method, path, found)
    field = BODY_FIELD[(service, found)]
    http_body = as_json(getattr(request, field)) if field and request.HasField(field) else None
    response = app_client.request(method, path, json=http_body)
    assert response.status_code >= 400, (response.status_code, response.text)
    http = response.json()
    assert set(http) == {"code", "message"}, http
    exc = rpc_error(lambda: call(channel, service, found, request))
    assert (exc.code(), exc.details()) == (code, grpc_wording(http["message"], field)), (exc.code(), exc.details(), http)
    assert http["code"] == code.value[0], http
    return str(http["message"])


# -- ComputeTemplateService ------------------------------------------------------------------------

def full_template(ns: str) -> Json:
    return {**template_body(ns, "gpu"), "memory": 512, "memoryUnit": "Mi", "gpu": 1, "gpuAccelerator": "amd.com/gpu",
            "extendedResources": {"vpc.amazonaws.com/efa": 32},
            "tolerations": [{"key": "ray.io/node-type", "operator": "Equal", "value": "worker",
                             "effect": "NoSchedule"}]}


def test_compute_template_rpcs(rpc_channel: grpc.Channel, app_client: TestClient, kube: Kube, namespace: str,
                               other_namespace: str) -> None:
    templates = STUBS["ComputeTemplateService"](rpc_channel)
    ns, other = namespace, other_namespace
    base, url = f"{API}/namespaces/{ns}/compute_templates", f"{API}/namespaces/{ns}/compute_templates/gpu"

    created = as_json(templates.CreateComputeTemplate(config_pb2.CreateComputeTemplateRequest(
        namespace=ns, compute_template=parse(full_template(ns), config_pb2.ComputeTemplate)), timeout=TIMEOUT))
    ok(app_client.post(f"{API}/namespaces/{other}/compute_templates", json=full_template(other)))

    assert held(kube, "configmaps", ns, "gpu") == held(kube, "configmaps", other, "gpu")
    assert created == ok(app_client.get(url))
    request = config_pb2.GetComputeTemplateRequest(namespace=ns, name="gpu")
    assert as_json(templates.GetComputeTemplate(request, timeout=TIMEOUT)) == ok(app_client.get(url))
    listed = as_json(templates.ListComputeTemplates(config_pb2.ListComputeTemplatesRequest(namespace=ns),
                                                    timeout=TIMEOUT))
    assert listed == ok(app_client.get(base))
    assert [t["name"] for t in listed["computeTemplates"]] == ["gpu"]
    everywhere = own(as_json(templates.ListAllComputeTemplates(config_pb2.ListAllComputeTemplatesRequest(),
                                                               timeout=TIMEOUT)), {ns, other})
    assert everywhere == own(ok(app_client.get(f"{API}/compute_templates")), {ns, other})
    assert sorted(t["namespace"] for t in everywhere["computeTemplates"]) == sorted([ns, other])

    deleted = templates.DeleteComputeTemplate(config_pb2.DeleteComputeTemplateRequest(namespace=ns, name="gpu"),
                                              timeout=TIMEOUT)
    assert as_json(deleted) == {}
    assert kube.configmap(ns, "gpu") is None
    gone = rpc_error(lambda: templates.GetComputeTemplate(request, timeout=TIMEOUT))
    assert (gone.code(), gone.details()) == (Code.NOT_FOUND, refused(app_client.get(url), 404, 5))
    assert as_json(templates.ListComputeTemplates(config_pb2.ListComputeTemplatesRequest(namespace=ns),
                                                  timeout=TIMEOUT)) == {} == ok(app_client.get(base))


# -- ClusterService, RayJobService, RayServeService --------------------------------------------------

def rich_cluster(ns: str, name: str = "test-cluster") -> Json:
    """The guide's cluster, with a value in most fields the protos carry (enums by name, maps, an
    optional bool set to false, volumes, environment from a Secret, the autoscaler's options)."""
    body = cluster_body(ns, name)
    body.update(environment="STAGING", annotations={"example.com/team": "ray"},
                envs={"values": {"MODE": "test"}})
    spec = body["clusterSpec"]
    spec.update(enableInTreeAutoscaling=True, headServiceAnnotations={"example.com/lb": "internal"},
                autoscalerOptions={"idleTimeoutSeconds": 60, "upscalingMode": "Default", "cpu": "500m",
                                   "memory": "512Mi"})
    spec["headGroupSpec"].update(
        volumes=[{"name": "code", "mountPath": "/code", "volumeType": "CONFIGMAP", "source": "code",
                  "items": {"main.py": "main.py"}}],
        environment={"values": {"A": "1"}, "valuesFrom": {"TOKEN": {"source": "SECRET", "name": "s", "key": "t"}}},
        labels={"team": "ray"}, securityContext={"privileged": False, "capabilities": {"add": ["SYS_PTRACE"]}})
    spec["workerGroupSpec"][0].update(environment={"values": {"B": "2"}}, annotations={"example.com/w": "x"})
    return body


def rich_job(ns: str, name: str = "rayjob-test") -> Json:
    body = job_body(ns, name)
    body.update(metadata={"team": "ray"}, runtimeEnv="env_vars:\n  GREETING: hello\n", shutdownAfterJobFinishes=True,
                ttlSecondsAfterFinished=60, jobSubmitter={"image": "rayproject/ray:2.7.0", "cpu": "500m"},
                entrypointNumCpus=0.5, activeDeadlineSeconds=600)
    return body


def scaled(body: Json, replicas: int) -> Json:
    worker = body["clusterSpec"]["workerGroupSpec"][0]
    worker.update(replicas=replicas, minReplicas=replicas)
    return body


@dataclass(frozen=True)
class Run:
    """One lifecycle test's run, for what a kind adds to it."""

    app_client: TestClient
    kube: Kube
    stub: Any
    ns: str
    other: str  # the namespace where HTTP makes the same requests
    created: Json  # the create's answer
    listed: list[tuple[str, str]]  # the list across all namespaces, cut to the two


@dataclass(frozen=True)
class ObjectRpcs:
    """A gRPC service of KubeRay objects, each RPC a call of its generated stub, as the lifecycle
    test drives it: create, get, list by pages, list across namespaces, delete."""

    kind: str  # in the V1 paths: clusters, jobs, services
    name: str  # the object the test creates
    body: Callable[[str], Json]  # its request body, in a namespace
    planted: Json  # the spec of the two objects the test writes past the server
    stub: Callable[[grpc.Channel], Any]
    create: Callable[[Any, str, Json], Message]  # (stub, namespace, body)
    get: Callable[[Any, str, str], Message]  # (stub, namespace, name)
    page: Callable[[Any, str, str], Message]  # (stub, namespace, token): a page of two
    http_page: Callable[[str], Json]  # token -> HTTP's query parameters for the same page
    next_page: str  # the answer's field that holds the next page's token
    list_all: Callable[[Any], Message]
    delete: Callable[[Any, str, str], Message]  # (stub, namespace, name)
    more: Callable[[Run], None]  # what the kind adds


def _pages_across_namespaces(run: Run) -> None:
    assert run.created["clusterSpec"]["headGroupSpec"]["securityContext"]["privileged"] is False
    seen, token = [], ""  # the list across namespaces, page by page
    while True:
        page = as_json(run.stub.ListAllClusters(cluster_pb2.ListAllClustersRequest(limit=5, **{"continue": token}),
                                                timeout=TIMEOUT))
        assert len(page.get("clusters", [])) <= 5
        seen += [(c["namespace"], c["name"]) for c in page.get("clusters", []) if c["namespace"] in (run.ns, run.other)]
        token = page.get("continue", "")
        if not token:
            break
    assert seen == run.listed


def _nothing_more(run: Run) -> None:
    """RayJobs have no update, and their list across namespaces no pages."""


def _update(run: Run) -> None:
    assert run.created["serveConfigV2"] == SERVE_CONFIG_V2
    ns, other, kube = run.ns, run.other, run.kube
    uid = present(kube.get("rayservices", ns, "test-v2"))["metadata"]["uid"]
    updated = as_json(run.stub.UpdateRayService(serve_pb2.UpdateRayServiceRequest(
        namespace=ns, name="test-v2", service=parse(scaled(service_body(ns), 2), serve_pb2.RayService)),
        timeout=TIMEOUT))
    ok(run.app_client.put(f"{API}/namespaces/{other}/services/test-v2", json=scaled(service_body(other), 2)))
    after = present(kube.get("rayservices", ns, "test-v2"))
    assert after["metadata"]["uid"] == uid
    assert after["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == 2
    assert held(kube, "rayservices", ns, "test-v2") == held(kube, "rayservices", other, "test-v2")
    assert stable(updated) == stable(ok(run.app_client.get(f"{API}/namespaces/{ns}/services/test-v2")))
    assert updated["clusterSpec"]["workerGroupSpec"][0]["replicas"] == 2


OBJECT_RPCS = [
    ObjectRpcs(
        "clusters", "test-cluster", rich_cluster, raycluster_spec(), STUBS["ClusterService"],
        lambda stub, ns, body: stub.CreateCluster(cluster_pb2.CreateClusterRequest(
            namespace=ns, cluster=parse(body, cluster_pb2.Cluster)), timeout=TIMEOUT),
        lambda stub, ns, name: stub.GetCluster(cluster_pb2.GetClusterRequest(namespace=ns, name=name), timeout=TIMEOUT),
        lambda stub, ns, token: stub.ListCluster(cluster_pb2.ListClustersRequest(
            namespace=ns, limit=2, **{"continue": token}), timeout=TIMEOUT),
        lambda token: {"limit": 2, "continue": token}, "continue",
        lambda stub: stub.ListAllClusters(cluster_pb2.ListAllClustersRequest(), timeout=TIMEOUT),
        lambda stub, ns, name: stub.DeleteCluster(cluster_pb2.DeleteClusterRequest(namespace=ns, name=name),
                                                  timeout=TIMEOUT),
        _pages_across_namespaces),
    ObjectRpcs(
        "jobs", "rayjob-test", rich_job, {"entrypoint": "python -V", "clusterSelector": {"x": "y"}},
        STUBS["RayJobService"],
        lambda stub, ns, body: stub.CreateRayJob(job_pb2.CreateRayJobRequest(
            namespace=ns, job=parse(body, job_pb2.RayJob)), timeout=TIMEOUT),
        lambda stub, ns, name: stub.GetRayJob(job_pb2.GetRayJobRequest(namespace=ns, name=name), timeout=TIMEOUT),
        lambda stub, ns, token: stub.ListRayJobs(job_pb2.ListRayJobsRequest(
            namespace=ns, limit=2, **{"continue": token}), timeout=TIMEOUT),
        lambda token: {"limit": 2, "continue": token}, "continue",
        lambda stub: stub.ListAllRayJobs(job_pb2.ListAllRayJobsRequest(), timeout=TIMEOUT),
        lambda stub, ns, name: stub.DeleteRayJob(job_pb2.DeleteRayJobRequest(namespace=ns, name=name),
                                                 timeout=TIMEOUT),
        _nothing_more),
    ObjectRpcs(
        "services", "test-v2", service_body, {"serveConfigV2": "applications: []\n", "rayClusterConfig": raycluster_spec()},
        STUBS["RayServeService"],
        lambda stub, ns, body: stub.CreateRayService(serve_pb2.CreateRayServiceRequest(
            namespace=ns, service=parse(body, serve_pb2.RayService)), timeout=TIMEOUT),
        lambda stub, ns, name: stub.GetRayService(serve_pb2.GetRayServiceRequest(namespace=ns, name=name),
                                                  timeout=TIMEOUT),
        lambda stub, ns, token: stub.ListRayServices(serve_pb2.ListRayServicesRequest(
            namespace=ns, page_size=2, page_token=token), timeout=TIMEOUT),
        lambda token: {"pageSize": 2, "pageToken": token}, "nextPageToken",
        lambda stub: stub.ListAllRayServices(serve_pb2.ListAllRayServicesRequest(), timeout=TIMEOUT),
        lambda stub, ns, name: stub.DeleteRayService(serve_pb2.DeleteRayServiceRequest(namespace=ns, name=name),
                                                     timeout=TIMEOUT),
        _update),
]


@pytest.mark.parametrize("rpcs", OBJECT_RPCS, ids=[rpcs.kind for rpcs in OBJECT_RPCS])
def test_the_rpcs_of_kuberay_objects(rpcs: ObjectRpcs, rpc_channel: grpc.Channel, app_client: TestClient, kube: Kube,
                                     with_template: str, other_namespace: str) -> None:
    """Each answer over gRPC is HTTP's answer to the same request, and each write holds the same
    object in Kubernetes as the same write over HTTP in another namespace."""
    stub, ns, other, kind, name = rpcs.stub(rpc_channel), with_template, other_namespace, rpcs.kind, rpcs.name
    ok(app_client.post(f"{API}/namespaces/{other}/compute_templates", json=template_body(other)))
    base, url = f"{API}/namespaces/{ns}/{kind}", f"{API}/namespaces/{ns}/{kind}/{name}"

    created = as_json(rpcs.create(stub, ns, rpcs.body(ns)))
    ok(app_client.post(f"{API}/namespaces/{other}/{kind}", json=rpcs.body(other)))
    assert held(kube, PLURALS[kind], ns, name) == held(kube, PLURALS[kind], other, name)
    assert stable(created) == stable(ok(app_client.get(url)))
    before = ok(app_client.get(url))
    assert_between(as_json(rpcs.get(stub, ns, name)), before, ok(app_client.get(url)))

    # pages: two more objects, written past the server, and pages of two
    kube.plant(kind, ns, rpcs.planted, ["a", "b"])
    served_eventually(app_client, base, kind, ["a", "b", name])
    pages = pages_alike(app_client, base, rpcs.http_page, partial(rpcs.page, stub, ns), kind, rpcs.next_page)
    assert pages == [["a", "b"], [name]]

    before = own(ok(app_client.get(f"{API}/{kind}")), {ns, other})
    answer = own(as_json(rpcs.list_all(stub)), {ns, other})
    assert_between(answer, before, own(ok(app_client.get(f"{API}/{kind}")), {ns, other}))
    listed = [(item["namespace"], item["name"]) for item in answer[kind]]
    assert listed == sorted([(ns, "a"), (ns, "b"), (ns, name), (other, name)])

    rpcs.more(Run(app_client, kube, stub, ns, other, created, listed))

    assert as_json(rpcs.delete(stub, ns, name)) == {}
    wait_for(lambda: kube.get(PLURALS[kind], ns, name) is None, timeout=30, what=f"{PLURALS[kind]}/{name} to be deleted")
    gone = rpc_error(lambda: rpcs.get(stub, ns, name))
    assert (gone.code(), gone.details()) == (Code.NOT_FOUND, refused(app_client.get(url), 404, 5))
    assert kube.get(PLURALS[kind], ns, "a") is not None  # only the one named


# -- the refusals of the four services of Kubernetes objects -----------------------------------------

Setup = Callable[[Any, Kube, str], None]
Request = Callable[[str], tuple[str, str, "Json | None"]]  # namespace -> (method, path, body)


def template(client: Any, kube: Kube, ns: str) -> None:
    ok(client.post(f"{API}/namespaces/{ns}/compute_templates", json=template_body(ns)))


def plain_configmap(name: str) -> Setup:
    """A ConfigMap another client made, without the template labels."""
    def setup(client: Any, kube: Kube, ns: str) -> None:
        kube.core.create_namespaced_config_map(ns, V1ConfigMap.model_validate(
            {"metadata": {"name": name}, "data": {"cpu": "2", "memory": "4"}}))
    return setup


UNMANAGED_SPECS: dict[str, Callable[[], Json]] = {
    "rayclusters": raycluster_spec,
    "rayjobs": lambda: {"entrypoint": "python -V", "rayClusterSpec": raycluster_spec()},
    "rayservices": lambda: {"serveConfigV2": "applications: []\n", "rayClusterConfig": raycluster_spec()},
}


def unmanaged(plural: str) -> Setup:
    """An object of the kind named `theirs`, made by another client: without the managed-by label."""
    def setup(client: Any, kube: Kube, ns: str) -> None:
        kube.create(plural, ns, {"metadata": {"name": "theirs"}, "spec": UNMANAGED_SPECS[plural]()})
    return setup


def made(resource: str, body: Callable[[str], Json]) -> Setup:
    """An object created through the API (its compute template first)."""
    def setup(client: Any, kube: Kube, ns: str) -> None:
        ok(client.post(f"{API}/namespaces/{ns}/{resource}", json=body(ns)))
    return setup


def at(ns: str, rest: str) -> str:
    return f"{API}/namespaces/{ns}/{rest}"


def changed(body: Callable[[str], Json], change: Callable[[Json], None]) -> Callable[[str], Json]:
    def build(ns: str) -> Json:
        value = body(ns)
        change(value)
        return value
    return build


def head(change: Json) -> Callable[[Json], None]:
    return lambda body: body["clusterSpec"]["headGroupSpec"].update(change)


def worker(change: Json) -> Callable[[Json], None]:
    return lambda body: body["clusterSpec"]["workerGroupSpec"][0].update(change)


def without(key: str) -> Callable[[Json], None]:
    return lambda body: body.pop(key)


@dataclass(frozen=True)
class Row:
    rpc: str
    case: str
    request: Request
    code: Code
    setup: tuple[Setup, ...] = ()


def row(rpc: str, case: str, request: Request, code: Code, *setup: Setup) -> Any:
    return pytest.param(Row(rpc, case, request, code, setup), id=f"{rpc}: {case}")


INVALID, NOT_FOUND, EXISTS = Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ALREADY_EXISTS
TEMPLATE = template_body
CLUSTER, JOB, SERVICE = cluster_body, job_body, service_body
CT, CL, JB, SV = "compute_templates", "clusters", "jobs", "services"

ROWS = [
    # ComputeTemplateService
    row("CreateComputeTemplate", "unknown memoryUnit",
        lambda ns: ("POST", at(ns, CT), {**TEMPLATE(ns), "memoryUnit": "GB"}), INVALID),
    row("CreateComputeTemplate", "cpu unset", lambda ns: ("POST", at(ns, CT), {**TEMPLATE(ns), "cpu": 0}), INVALID),
    row("CreateComputeTemplate", "uppercase name (the protos take it, the schema refuses)",
        lambda ns: ("POST", at(ns, CT), TEMPLATE(ns, "Default-Template")), INVALID),
    row("CreateComputeTemplate", "another namespace in the body",
        lambda ns: ("POST", at(ns, CT), {**TEMPLATE(ns), "namespace": "elsewhere"}), INVALID),
    row("CreateComputeTemplate", "empty body", lambda ns: ("POST", at(ns, CT), {}), INVALID),
    row("CreateComputeTemplate", "body unset", lambda ns: ("POST", at(ns, CT), None), INVALID),
    row("CreateComputeTemplate", "name taken", lambda ns: ("POST", at(ns, CT), TEMPLATE(ns)), EXISTS, template),
    row("CreateComputeTemplate", "name of a plain ConfigMap", lambda ns: ("POST", at(ns, CT), TEMPLATE(ns)), EXISTS,
        plain_configmap("default-template")),
    row("CreateComputeTemplate", "namespace that does not exist",
        lambda ns: ("POST", at(f"{ns}-nowhere", CT), TEMPLATE(f"{ns}-nowhere")), NOT_FOUND),
    row("CreateComputeTemplate", "invalid namespace in the path",
        lambda ns: ("POST", at("Bad_Ns", CT), TEMPLATE("Bad_Ns")), INVALID),
    row("GetComputeTemplate", "absent", lambda ns: ("GET", at(ns, f"{CT}/nope"), None), NOT_FOUND),
    row("GetComputeTemplate", "plain ConfigMap", lambda ns: ("GET", at(ns, f"{CT}/settings"), None), NOT_FOUND,
        plain_configmap("settings")),
    row("GetComputeTemplate", "uppercase name", lambda ns: ("GET", at(ns, f"{CT}/Nope"), None), INVALID),
    row("ListComputeTemplates", "invalid namespace", lambda ns: ("GET", at("Bad_Ns", CT), None), INVALID),
    row("DeleteComputeTemplate", "absent", lambda ns: ("DELETE", at(ns, f"{CT}/nope"), None), NOT_FOUND),
    row("DeleteComputeTemplate", "plain ConfigMap", lambda ns: ("DELETE", at(ns, f"{CT}/settings"), None), NOT_FOUND,
        plain_configmap("settings")),
    row("DeleteComputeTemplate", "uppercase name", lambda ns: ("DELETE", at(ns, f"{CT}/Nope"), None), INVALID),
    # ClusterService
    row("CreateCluster", "user unset", lambda ns: ("POST", at(ns, CL), {**CLUSTER(ns), "user": ""}), INVALID, template),
    row("CreateCluster", "unknown environment number",
        lambda ns: ("POST", at(ns, CL), {**CLUSTER(ns), "environment": 9}), INVALID, template),
    row("CreateCluster", "unknown volume type number", lambda ns: ("POST", at(ns, CL), changed(CLUSTER, head(
        {"volumes": [{"name": "v", "mountPath": "/v", "volumeType": 9, "source": "v"}]}))(ns)), INVALID, template),
    row("CreateCluster", "uppercase name (the protos take it, the schema refuses)",
        lambda ns: ("POST", at(ns, CL), CLUSTER(ns, "Test-Cluster")), INVALID, template),
    row("CreateCluster", "another namespace in the body",
        lambda ns: ("POST", at(ns, CL), {**CLUSTER(ns), "namespace": "elsewhere"}), INVALID, template),
    row("CreateCluster", "minReplicas above replicas",
        lambda ns: ("POST", at(ns, CL), changed(CLUSTER, worker({"minReplicas": 2, "maxReplicas": 3}))(ns)),
        INVALID, template),
    row("CreateCluster", "annotation key Kubernetes refuses",
        lambda ns: ("POST", at(ns, CL), {**CLUSTER(ns), "annotations": {"not a valid key!": "x"}}), INVALID, template),
    row("CreateCluster", "empty body", lambda ns: ("POST", at(ns, CL), {}), INVALID),
    row("CreateCluster", "body unset", lambda ns: ("POST", at(ns, CL), None), INVALID),
    row("CreateCluster", "compute template missing", lambda ns: ("POST", at(ns, CL), CLUSTER(ns)), INVALID),
    row("CreateCluster", "compute template a plain ConfigMap", lambda ns: ("POST", at(ns, CL), CLUSTER(ns)), INVALID,
        plain_configmap("default-template")),
    row("CreateCluster", "name taken", lambda ns: ("POST", at(ns, CL), CLUSTER(ns)), EXISTS, template,
        made(CL, CLUSTER)),
    row("GetCluster", "absent", lambda ns: ("GET", at(ns, f"{CL}/nope"), None), NOT_FOUND),
    row("GetCluster", "not managed", lambda ns: ("GET", at(ns, f"{CL}/theirs"), None), NOT_FOUND,
        unmanaged("rayclusters")),
    row("GetCluster", "uppercase name", lambda ns: ("GET", at(ns, f"{CL}/Nope"), None), INVALID),
    row("ListCluster", "continue token Kubernetes refuses",
        lambda ns: ("GET", at(ns, f"{CL}?limit=1&continue=not-a-token"), None), INVALID),
    row("ListCluster", "continue token of no list", lambda ns: ("GET", at(ns, f"{CL}?continue=bm90LWEtdG9rZW4="), None),
        INVALID),
    row("ListCluster", "negative limit", lambda ns: ("GET", at(ns, f"{CL}?limit=-1"), None), INVALID),
    row("ListAllClusters", "continue token Kubernetes refuses",
        lambda ns: ("GET", f"{API}/clusters?limit=1&continue=not-a-token", None), INVALID),
    row("ListAllClusters", "negative limit", lambda ns: ("GET", f"{API}/clusters?limit=-1", None), INVALID),
    row("DeleteCluster", "absent", lambda ns: ("DELETE", at(ns, f"{CL}/nope"), None), NOT_FOUND),
    row("DeleteCluster", "not managed", lambda ns: ("DELETE", at(ns, f"{CL}/theirs"), None), NOT_FOUND,
        unmanaged("rayclusters")),
    row("DeleteCluster", "uppercase name", lambda ns: ("DELETE", at(ns, f"{CL}/Nope"), None), INVALID),
    # RayJobService
    row("CreateRayJob", "user unset", lambda ns: ("POST", at(ns, JB), {**JOB(ns), "user": ""}), INVALID, template),
    row("CreateRayJob", "neither clusterSpec nor clusterSelector",
        lambda ns: ("POST", at(ns, JB), changed(JOB, without("clusterSpec"))(ns)), INVALID, template),
    row("CreateRayJob", "uppercase name (the protos take it, the schema refuses)",
        lambda ns: ("POST", at(ns, JB), JOB(ns, "RayJob-Test")), INVALID, template),
    row("CreateRayJob", "another namespace in the body",
        lambda ns: ("POST", at(ns, JB), {**JOB(ns), "namespace": "elsewhere"}), INVALID, template),
    row("CreateRayJob", "empty body", lambda ns: ("POST", at(ns, JB), {}), INVALID),
    row("CreateRayJob", "body unset", lambda ns: ("POST", at(ns, JB), None), INVALID),
    row("CreateRayJob", "compute template missing", lambda ns: ("POST", at(ns, JB), JOB(ns)), INVALID),
    row("CreateRayJob", "name taken", lambda ns: ("POST", at(ns, JB), JOB(ns)), EXISTS, template, made(JB, JOB)),
    row("GetRayJob", "absent", lambda ns: ("GET", at(ns, f"{JB}/nope"), None), NOT_FOUND),
    row("GetRayJob", "not managed", lambda ns: ("GET", at(ns, f"{JB}/theirs"), None), NOT_FOUND, unmanaged("rayjobs")),
    row("GetRayJob", "uppercase name", lambda ns: ("GET", at(ns, f"{JB}/Nope"), None), INVALID),
    row("ListRayJobs", "continue token Kubernetes refuses", lambda ns: ("GET", at(ns, f"{JB}?continue=garbage"), None),
        INVALID),
    row("ListRayJobs", "negative limit", lambda ns: ("GET", at(ns, f"{JB}?limit=-1"), None), INVALID),
    row("ListAllRayJobs", "continue token Kubernetes refuses", lambda ns: ("GET", f"{API}/jobs?continue=garbage", None),
        INVALID),
    row("DeleteRayJob", "absent", lambda ns: ("DELETE", at(ns, f"{JB}/nope"), None), NOT_FOUND),
    row("DeleteRayJob", "not managed", lambda ns: ("DELETE", at(ns, f"{JB}/theirs"), None), NOT_FOUND,
        unmanaged("rayjobs")),
    # RayServeService
    row("CreateRayService", "serve config unset",
        lambda ns: ("POST", at(ns, SV), {**SERVICE(ns), "serveConfigV2": ""}), INVALID, template),
    row("CreateRayService", "user unset", lambda ns: ("POST", at(ns, SV), {**SERVICE(ns), "user": ""}), INVALID,
        template),
    row("CreateRayService", "uppercase name (the protos take it, the schema refuses)",
        lambda ns: ("POST", at(ns, SV), SERVICE(ns, "Test-V2")), INVALID, template),
    row("CreateRayService", "empty body", lambda ns: ("POST", at(ns, SV), {}), INVALID),
    row("CreateRayService", "body unset", lambda ns: ("POST", at(ns, SV), None), INVALID),
    row("CreateRayService", "compute template missing", lambda ns: ("POST", at(ns, SV), SERVICE(ns)), INVALID),
    row("CreateRayService", "name taken", lambda ns: ("POST", at(ns, SV), SERVICE(ns)), EXISTS, template,
        made(SV, SERVICE)),
    row("UpdateRayService", "absent", lambda ns: ("PUT", at(ns, f"{SV}/test-v2"), SERVICE(ns)), NOT_FOUND, template),
    row("UpdateRayService", "not managed", lambda ns: ("PUT", at(ns, f"{SV}/theirs"), SERVICE(ns, "theirs")),
        NOT_FOUND, template, unmanaged("rayservices")),
    row("UpdateRayService", "body naming another service",
        lambda ns: ("PUT", at(ns, f"{SV}/first"), SERVICE(ns, "second")), INVALID, template,
        made(SV, lambda ns: SERVICE(ns, "first")), made(SV, lambda ns: SERVICE(ns, "second"))),
    row("UpdateRayService", "compute template missing", lambda ns: ("PUT", at(ns, f"{SV}/test-v2"), changed(
        SERVICE, worker({"computeTemplate": "missing"}))(ns)), INVALID, template, made(SV, SERVICE)),
    row("UpdateRayService", "body unset", lambda ns: ("PUT", at(ns, f"{SV}/test-v2"), None), INVALID, template,
        made(SV, SERVICE)),
    row("UpdateRayService", "uppercase name", lambda ns: ("PUT", at(ns, f"{SV}/Test-V2"), SERVICE(ns, "Test-V2")),
        INVALID, template),
    row("GetRayService", "absent", lambda ns: ("GET", at(ns, f"{SV}/nope"), None), NOT_FOUND),
    row("GetRayService", "not managed", lambda ns: ("GET", at(ns, f"{SV}/theirs"), None), NOT_FOUND,
        unmanaged("rayservices")),
    row("ListRayServices", "page token Kubernetes refuses",
        lambda ns: ("GET", at(ns, f"{SV}?pageToken=garbage"), None), INVALID),
    row("ListRayServices", "negative page size", lambda ns: ("GET", at(ns, f"{SV}?pageSize=-1"), None), INVALID),
    row("ListAllRayServices", "page token Kubernetes refuses",
        lambda ns: ("GET", f"{API}/services?pageToken=garbage", None), INVALID),
    row("DeleteRayService", "absent", lambda ns: ("DELETE", at(ns, f"{SV}/nope"), None), NOT_FOUND),
    row("DeleteRayService", "not managed", lambda ns: ("DELETE", at(ns, f"{SV}/theirs"), None), NOT_FOUND,
        unmanaged("rayservices")),
]


@pytest.mark.parametrize("case", ROWS)
def test_a_refusal_is_the_same_over_grpc_as_over_http(rpc_channel: grpc.Channel, app_client: TestClient, kube: Kube,
                                                      namespace: str, case: Row) -> None:
    for setup in case.setup:
        setup(app_client, kube, namespace)
    method, path, body = case.request(namespace)
    before = _objects(kube, namespace)

    assert_refused_alike(app_client, rpc_channel, method, path, body, case.code, case.rpc)

    assert _objects(kube, namespace) == before  # neither front wrote anything


def _objects(kube: Kube, ns: str) -> Json:
    """What the namespace holds that the server may write: its ConfigMaps, and its KubeRay objects
    but those the operator makes (owned), as their labels, annotations and spec (the operator keeps
    changing their status, and fills zero values into a RayJob's spec: app/k8s writes neither)."""
    held_now: Json = {plural: {o["metadata"]["name"]: (o["metadata"].get("labels"), o["metadata"].get("annotations"),
                                                      without_operator_defaults(o["spec"]))
                               for o in kube.items(plural, ns) if not o["metadata"].get("ownerReferences")}
                      for plural in PLURALS.values()}
    held_now["configmaps"] = {c.metadata.name: c.data for c in kube.core.list_namespaced_config_map(ns).items
                              if c.metadata and c.metadata.name != "kube-root-ca.crt"}  # Kubernetes' own, made in its time
    return held_now


UNSET_PATH_FIELDS = [
    ("ComputeTemplateService", "GetComputeTemplate", config_pb2.GetComputeTemplateRequest, "name"),
    ("ComputeTemplateService", "DeleteComputeTemplate", config_pb2.DeleteComputeTemplateRequest, "name"),
    ("ComputeTemplateService", "ListComputeTemplates", config_pb2.ListComputeTemplatesRequest, "namespace"),
    ("ClusterService", "GetCluster", cluster_pb2.GetClusterRequest, "name"),
    ("ClusterService", "DeleteCluster", cluster_pb2.DeleteClusterRequest, "name"),
    ("ClusterService", "ListCluster", cluster_pb2.ListClustersRequest, "namespace"),
    ("RayJobService", "GetRayJob", job_pb2.GetRayJobRequest, "name"),
    ("RayJobService", "DeleteRayJob", job_pb2.DeleteRayJobRequest, "name"),
    ("RayServeService", "GetRayService", serve_pb2.GetRayServiceRequest, "name"),
    ("RayServeService", "UpdateRayService", serve_pb2.UpdateRayServiceRequest, "name"),
    ("RayServeService", "DeleteRayService", serve_pb2.DeleteRayServiceRequest, "name"),
    ("RayJobSubmissionService", "ListJobDetails", job_submission_pb2.ListJobDetailsRequest, "clustername"),
    ("RayJobSubmissionService", "GetJobDetails", job_submission_pb2.GetJobDetailsRequest, "submissionid"),
]


@pytest.mark.parametrize(("service", "rpc", "kind", "unset"), UNSET_PATH_FIELDS,
                         ids=[f"{rpc}: {unset}" for _, rpc, _, unset in UNSET_PATH_FIELDS])
def test_an_unset_path_field_is_invalid_argument_naming_it(rpc_channel: grpc.Channel, namespace: str, service: str,
                                                           rpc: str, kind: type[Message], unset: str) -> None:
    """An empty field that HTTP takes from the path: refused before anything is read, with upstream's text."""
    fields = {"namespace": namespace, "name": "x", "clustername": "x", "submissionid": "x"}
    request = kind(**{name: value for name, value in fields.items()
                      if name in kind.DESCRIPTOR.fields_by_name and name != unset})
    if isinstance(request, serve_pb2.UpdateRayServiceRequest):
        request.service.CopyFrom(parse(service_body(namespace, "x"), serve_pb2.RayService))
    exc = rpc_error(lambda: call(rpc_channel, service, rpc, request))
    assert exc.code() == Code.INVALID_ARGUMENT, (exc.code(), exc.details())
    [operation_id] = [refusal_operation(method, path) for method, path, *route in ROUTES if route[:2] == [service, rpc]]
    assert exc.details() == REFUSALS[operation_id][unset]


def test_every_rpc_with_a_failing_request_has_rows() -> None:
    """The tables above cover each RPC but ListAllComputeTemplates, which no request can fail."""
    covered = {case.values[0].rpc for case in ROWS} | {case.values[0].rpc for case in SUBMISSION_ROWS}
    declared = {rpc for _, _, _, rpc, _, _ in ROUTES}
    assert declared - covered == {"ListAllComputeTemplates"}
    assert covered <= declared


# -- RayJobSubmissionService, against a real Ray head -------------------------------------------------

READY, PENDING, THEIRS = "ray-target", "pending", "unmanaged"
PRINT_42 = 'python -c "print(42)"'
SLEEP = 'python -c "import time; time.sleep(600)"'
TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}
JOB_TIMEOUT = 90.0  # a job's first run on a fresh head starts its worker processes


@dataclass(frozen=True)
class Submissions:
    ns: str
    api: Any  # the test client of an app whose dashboards are the Ray head
    channel: grpc.Channel  # to the same app's gRPC front

    @property
    def stub(self) -> Any:
        return STUBS["RayJobSubmissionService"](self.channel)

    def url(self, rest: str = "") -> str:
        return f"{API}/namespaces/{self.ns}/jobsubmissions/{READY}{rest}"


@pytest.fixture(scope="module")
def submissions(cluster: Cluster, ray_head: Any) -> Iterator[Submissions]:
    """A namespace with the ready, managed RayCluster READY, a managed one that never gets ready
    (its head asks for more CPUs than any node has) and one the server does not manage; and an app
    that reaches every cluster's dashboard at the session's Ray head, over HTTP and gRPC."""
    with fresh_namespaces(cluster, prefix="grpc-jobsub") as [ns], \
            own_app_with_rpc(K8s.from_kubeconfig(str(cluster.kubeconfig)), dashboard_url=ray_head.url) as (api, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        ok(api.post(f"{API}/namespaces/{ns}/compute_templates", json=template_body(ns)))
        ok(api.post(f"{API}/namespaces/{ns}/compute_templates", json={**template_body(ns, "huge"), "cpu": 500}))
        ok(api.post(f"{API}/namespaces/{ns}/clusters", json=cluster_body(ns, READY)))
        ok(api.post(f"{API}/namespaces/{ns}/clusters", json=changed(
            lambda n: cluster_body(n, PENDING), head({"computeTemplate": "huge"}))(ns)))
        Kube(cluster.api).create("rayclusters", ns, {"metadata": {"name": THEIRS}, "spec": raycluster_spec()})
        wait_for(lambda: ok(api.get(f"{API}/namespaces/{ns}/clusters/{READY}")).get("clusterState") == "ready",
                 timeout=90, what="the operator to make the cluster ready")
        yield Submissions(ns, api, channel)


def wait_status(sub: Submissions, sid: str, statuses: set[str]) -> Json:
    request = job_submission_pb2.GetJobDetailsRequest(namespace=sub.ns, clustername=READY, submissionid=sid)
    return wait_for(lambda: as_json(sub.stub.GetJobDetails(request, timeout=TIMEOUT)),
                    until=lambda info: info.get("status") in statuses, timeout=JOB_TIMEOUT, interval=0.5, what=f"the job to reach {sorted(statuses)}")


def test_job_submission_rpcs(submissions: Submissions) -> None:
    sub, stub = submissions, submissions.stub
    ns = sub.ns
    sid = f"grpc-{uuid.uuid4().hex[:8]}"
    body = {"entrypoint": 'python -c "import os; print(os.environ[\'GREETING\'])"', "submissionId": sid,
            "runtimeEnv": "env_vars: {GREETING: hello}", "metadata": {"team": "a"}, "entrypointNumCpus": 0.5}

    answer = stub.SubmitRayJob(job_submission_pb2.SubmitRayJobRequest(
        namespace=ns, clustername=READY, jobsubmission=parse(body, job_submission_pb2.RayJobSubmission)),
        timeout=TIMEOUT)
    assert as_json(answer) == {"submissionId": sid}
    http_sid = ok(sub.api.post(sub.url(), json={**body, "submissionId": f"{sid}-http"}))["submissionId"]

    info = wait_status(sub, sid, TERMINAL)
    assert info["status"] == "SUCCEEDED", info
    wait_status(sub, f"{sid}-http", TERMINAL)  # both finished: the lists below compare them whole
    http_info = ok(sub.api.get(sub.url(f"/{sid}")))
    assert info == http_info  # a finished job no longer changes
    assert info["metadata"] == {"team": "a"}
    assert info["entrypoint"] == body["entrypoint"]
    http_twin = {**ok(sub.api.get(sub.url(f"/{http_sid}"))), "submissionId": sid}  # submitted alike over HTTP
    assert {key: http_twin.get(key) for key in ("entrypoint", "metadata", "runtimeEnv")} == {
        key: info.get(key) for key in ("entrypoint", "metadata", "runtimeEnv")}

    log = as_json(stub.GetJobLog(job_submission_pb2.GetJobLogRequest(
        namespace=ns, clustername=READY, submissionid=sid), timeout=TIMEOUT))
    assert log == ok(sub.api.get(sub.url(f"/log/{sid}")))
    assert "hello" in log["log"].splitlines()

    def ours(listing: Json) -> list[Json]:
        return sorted((i for i in listing.get("submissions", []) if i.get("submissionId", "").startswith(sid)),
                      key=lambda i: i["submissionId"])
    before = ours(ok(sub.api.get(sub.url())))
    listed = ours(as_json(stub.ListJobDetails(job_submission_pb2.ListJobDetailsRequest(
        namespace=ns, clustername=READY), timeout=TIMEOUT)))
    assert_between({"submissions": listed}, {"submissions": before}, {"submissions": ours(ok(sub.api.get(sub.url())))})
    assert [i["submissionId"] for i in listed] == [sid, f"{sid}-http"]

    running = as_json(stub.SubmitRayJob(job_submission_pb2.SubmitRayJobRequest(
        namespace=ns, clustername=READY, jobsubmission=job_submission_pb2.RayJobSubmission(entrypoint=SLEEP)),
        timeout=TIMEOUT))["submissionId"]
    wait_status(sub, running, {"RUNNING"})
    # the dashboard's own refusal: a running job cannot be deleted
    assert_refused_alike(sub.api, sub.channel, "DELETE", sub.url(f"/{running}"), None, Code.INVALID_ARGUMENT,
                         "DeleteRayJob")
    stop = job_submission_pb2.StopRayJobSubmissionRequest(namespace=ns, clustername=READY, submissionid=running)
    assert as_json(stub.StopRayJob(stop, timeout=TIMEOUT)) == {}
    assert wait_status(sub, running, TERMINAL)["status"] == "STOPPED"
    assert as_json(stub.StopRayJob(stop, timeout=TIMEOUT)) == {} == ok(sub.api.post(sub.url(f"/{running}")))

    # The stopped job stays: deleted right after its stop, Ray writes it back a moment later
    # ("Entrypoint not found.", FAILED), which would surprise later tests' lists of this head.
    delete = job_submission_pb2.DeleteRayJobSubmissionRequest(namespace=ns, clustername=READY, submissionid=sid)
    assert as_json(stub.DeleteRayJob(delete, timeout=TIMEOUT)) == {}
    assert_refused_alike(sub.api, sub.channel, "GET", sub.url(f"/{sid}"), None, Code.NOT_FOUND, "GetJobDetails")
    assert_refused_alike(sub.api, sub.channel, "GET", sub.url(f"/log/{sid}"), None, Code.NOT_FOUND, "GetJobLog")
    assert ok(sub.api.delete(sub.url(f"/{http_sid}"))) == {}
    assert not ours(ok(sub.api.get(sub.url())))


def sub_at(cluster: str, rest: str = "") -> Callable[[str], str]:
    return lambda ns: f"{API}/namespaces/{ns}/jobsubmissions/{cluster}{rest}"


SubRequest = Callable[[str], tuple[str, str, "Json | None"]]


def sub_row(rpc: str, case: str, method: str, path: Callable[[str], str], code: Code,
            body: Json | None = None) -> Any:
    request: SubRequest = lambda ns: (method, path(ns), body)  # noqa: E731
    return pytest.param(Row(rpc, case, request, code), id=f"{rpc}: {case}")


GOOD = {"entrypoint": PRINT_42}
NOT_READY = Code.FAILED_PRECONDITION
SUBMISSION_ROWS = [
    sub_row("SubmitRayJob", "cluster absent", "POST", sub_at("no-such-cluster"), NOT_FOUND, GOOD),
    sub_row("SubmitRayJob", "cluster not managed", "POST", sub_at(THEIRS), NOT_FOUND, GOOD),
    sub_row("SubmitRayJob", "cluster not ready", "POST", sub_at(PENDING), NOT_READY, GOOD),
    sub_row("SubmitRayJob", "blank entrypoint", "POST", sub_at(READY), INVALID, {"entrypoint": " "}),
    sub_row("SubmitRayJob", "entrypoint unset", "POST", sub_at(READY), INVALID, {"metadata": {"a": "b"}}),
    sub_row("SubmitRayJob", "submission id with a slash", "POST", sub_at(READY), INVALID,
            {**GOOD, "submissionId": "a/b"}),
    sub_row("SubmitRayJob", "runtimeEnv not YAML", "POST", sub_at(READY), INVALID, {**GOOD, "runtimeEnv": "pip: [x"}),
    sub_row("SubmitRayJob", "runtimeEnv not a mapping", "POST", sub_at(READY), INVALID,
            {**GOOD, "runtimeEnv": "just text"}),
    sub_row("SubmitRayJob", "negative entrypointNumCpus", "POST", sub_at(READY), INVALID,
            {**GOOD, "entrypointNumCpus": -1}),
    sub_row("SubmitRayJob", "entrypointResources not a number", "POST", sub_at(READY), INVALID,
            {**GOOD, "entrypointResources": {"custom": "lots"}}),
    sub_row("SubmitRayJob", "body unset", "POST", sub_at(READY), INVALID, None),
    sub_row("SubmitRayJob", "uppercase cluster name", "POST", sub_at("Ray-Target"), INVALID, GOOD),
    sub_row("GetJobDetails", "submission unknown", "GET", sub_at(READY, "/never-submitted"), NOT_FOUND),
    sub_row("GetJobDetails", "cluster absent", "GET", sub_at("no-such-cluster", "/x"), NOT_FOUND),
    sub_row("GetJobDetails", "cluster not ready", "GET", sub_at(PENDING, "/x"), NOT_READY),
    sub_row("GetJobLog", "submission unknown", "GET", sub_at(READY, "/log/never-submitted"), NOT_FOUND),
    sub_row("GetJobLog", "cluster absent", "GET", sub_at("no-such-cluster", "/log/x"), NOT_FOUND),
    sub_row("GetJobLog", "cluster not ready", "GET", sub_at(PENDING, "/log/x"), NOT_READY),
    sub_row("ListJobDetails", "cluster absent", "GET", sub_at("no-such-cluster"), NOT_FOUND),
    sub_row("ListJobDetails", "cluster not managed", "GET", sub_at(THEIRS), NOT_FOUND),
    sub_row("ListJobDetails", "cluster not ready", "GET", sub_at(PENDING), NOT_READY),
    sub_row("ListJobDetails", "uppercase cluster name", "GET", sub_at("Ray-Target"), INVALID),
    sub_row("StopRayJob", "submission unknown", "POST", sub_at(READY, "/never-submitted"), NOT_FOUND),
    sub_row("StopRayJob", "cluster absent", "POST", sub_at("no-such-cluster", "/x"), NOT_FOUND),
    sub_row("StopRayJob", "cluster not ready", "POST", sub_at(PENDING, "/x"), NOT_READY),
    sub_row("DeleteRayJob", "submission unknown", "DELETE", sub_at(READY, "/never-submitted"), NOT_FOUND),
    sub_row("DeleteRayJob", "cluster absent", "DELETE", sub_at("no-such-cluster", "/x"), NOT_FOUND),
    sub_row("DeleteRayJob", "cluster not ready", "DELETE", sub_at(PENDING, "/x"), NOT_READY),
]


@pytest.mark.parametrize("case", SUBMISSION_ROWS)
def test_a_submission_refusal_is_the_same_over_grpc_as_over_http(submissions: Submissions, case: Row) -> None:
    method, path, body = case.request(submissions.ns)
    known = {info["submissionId"] for info in ok(submissions.api.get(submissions.url())).get("submissions", [])}

    assert_refused_alike(submissions.api, submissions.channel, method, path, body, case.code, case.rpc)

    # No job of this request reached Ray. (Not: the list is unchanged. Ray itself may add a record
    # meanwhile: a job stopped and deleted just before can come back, "Entrypoint not found.", FAILED.)
    entrypoint = (body or {}).get("entrypoint", "")
    assert not [info for info in ok(submissions.api.get(submissions.url())).get("submissions", [])
                if info["submissionId"] not in known and info.get("entrypoint", "") == entrypoint]


# -- what is not served, and deadlines ---------------------------------------------------------------

IMAGE_TEMPLATE_RPCS = [
    ("CreateImageTemplate", config_pb2.CreateImageTemplateRequest(namespace="default")),
    ("GetImageTemplate", config_pb2.GetImageTemplateRequest(namespace="default", name="x")),
    ("ListImageTemplates", config_pb2.ListImageTemplatesRequest(namespace="default")),
    ("DeleteImageTemplate", config_pb2.DeleteImageTemplateRequest(namespace="default", name="x")),
]


def test_a_stored_number_no_float32_holds_is_left_out_not_an_internal_error(
        rpc_channel: grpc.Channel, app_client: TestClient, kube: Kube, namespace: str) -> None:
    """A RayJob written past this server with an `entrypointNumCpus` beyond float32 (the CRD says
    `number`: Kubernetes keeps it), which made every list of all jobs over gRPC an internal error:
    it is answered without that field, over gRPC as over HTTP. KubeRay's operator cannot decode the
    job (its RayJob informer fails while the job exists), so it lives for these reads only."""
    name = f"huge-{uuid.uuid4().hex[:6]}"
    kube.create("rayjobs", namespace, {"metadata": {"name": name, "labels": dict(MANAGED)}, "spec": {
        "entrypoint": "python -V", "entrypointNumCpus": 1e39, "entrypointNumGpus": 2,
        "clusterSelector": {"ray.io/cluster": "none"}}})
    try:
        served_eventually(app_client, f"{API}/namespaces/{namespace}/jobs", "jobs", [name])
        http = ok(app_client.get(f"{API}/namespaces/{namespace}/jobs/{name}"))
        assert "entrypointNumCpus" not in http
        assert http["entrypointNumGpus"] == 2
        every = call(rpc_channel, "RayJobService", "ListAllRayJobs", job_pb2.ListAllRayJobsRequest())
        assert [as_json(job) for job in every.jobs if job.namespace == namespace] == [http]  # type: ignore[attr-defined]
        one = call(rpc_channel, "RayJobService", "GetRayJob", job_pb2.GetRayJobRequest(namespace=namespace, name=name))
        assert as_json(one) == http
        assert (kube.get("rayjobs", namespace, name) or {})["spec"]["entrypointNumCpus"] == 1e39  # left as it is
    finally:
        kube.custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayjobs", name)


@pytest.mark.parametrize(("rpc", "request_message"), IMAGE_TEMPLATE_RPCS, ids=[rpc for rpc, _ in IMAGE_TEMPLATE_RPCS])
def test_the_declared_image_template_service_is_unimplemented(rpc_channel: grpc.Channel, rpc: str,
                                                              request_message: Message) -> None:
    stub = STUBS["ImageTemplateService"](rpc_channel)
    exc = rpc_error(lambda: getattr(stub, rpc)(request_message, timeout=TIMEOUT))
    assert exc.code() == Code.UNIMPLEMENTED, (exc.code(), exc.details())


def test_a_deadline_too_short_for_a_write_ends_it_at_once_and_writes_nothing(
        rpc_channel: grpc.Channel, app_client: TestClient, kube: Kube, namespace: str) -> None:
    """A write needs time to learn its outcome (app/k8s/deadline.py, WRITE_MARGIN): a caller's 1.5 s is too
    little, so the server refuses before writing, with 4, rather than the write's fate being unknown."""
    templates = STUBS["ComputeTemplateService"](rpc_channel)
    request = config_pb2.CreateComputeTemplateRequest(
        namespace=namespace, compute_template=parse(template_body(namespace), config_pb2.ComputeTemplate))

    started = time.monotonic()
    exc = rpc_error(lambda: templates.CreateComputeTemplate(request, timeout=1.5))
    waited = time.monotonic() - started

    assert exc.code() == Code.DEADLINE_EXCEEDED, (exc.code(), exc.details())
    assert waited < 2.5, waited  # not a hang
    assert kube.configmap(namespace, "default-template") is None
    assert as_json(templates.CreateComputeTemplate(request, timeout=TIMEOUT))["name"] == "default-template"


LATENCY = 0.2  # seconds, each way: a Kubernetes call through the link takes 0.4 s or more


def test_a_read_deadline_too_short_ends_in_deadline_exceeded_and_spares_other_callers(
        cluster: Cluster, tmp_path: Path) -> None:
    """Reads from Kubernetes (no caches) through a slow link, each with a deadline half the link's
    latency: each ends in DEADLINE_EXCEEDED, and the server keeps answering everybody else, slowly,
    as the API server does: nothing is down."""
    server = urlsplit(cluster.server)
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    with Relay((str(server.hostname), int(server.port or 443)), latency=LATENCY) as link:
        for entry in kubeconfig["clusters"]:
            entry["cluster"]["server"] = f"https://{server.hostname}:{link.port}"  # the same certificate
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        with own_app_with_rpc(K8s.from_kubeconfig(str(tmp_path / "kubeconfig")), cache=False) as (api, port), \
                grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            clusters = STUBS["ClusterService"](channel)
            ok(api.get(f"{API}/clusters"))  # through the link: slow, but answered
            codes = [rpc_error(lambda: clusters.ListAllClusters(cluster_pb2.ListAllClustersRequest(),
                                                                timeout=LATENCY / 2)).code() for _ in range(3)]
            started = time.monotonic()
            answer = api.get(f"{API}/clusters")
            waited = time.monotonic() - started

    assert codes == [Code.DEADLINE_EXCEEDED] * 3, codes
    assert answer.status_code == 200, answer.text
    assert waited >= 2 * LATENCY  # it did ask Kubernetes
