"""A gRPC client of the server, generated from our protos, and upstream's HTTP routes as RPCs.

`ROUTES` is upstream's own table of which RPC each V1 route calls (the `google.api.http` rules of
`proto/*.proto@v1.7.0`), written out here rather than read from the spec's `x-grpc`, so that a wrong
annotation in the spec fails the tests that use it. `grpc_send` turns a `(method, path, body)` of
the user guide into that RPC over a channel and answers `(HTTP status, JSON)` as the HTTP front
would: the response message in protojson (JSON names, enum numbers, no zero values), or the
status as the `{code, message}` body with grpc-gateway's HTTP status for the code.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from app.rpc.generated import (
    cluster_pb2,
    cluster_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    cronjob_pb2,
    cronjob_pb2_grpc,
    error_pb2,
    error_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    job_submission_pb2,
    job_submission_pb2_grpc,
    serve_pb2,
    serve_pb2_grpc,
)
from app.types import Json
from tests.support.api import Send

MODULES: dict[str, tuple[ModuleType, ModuleType]] = {  # proto file -> (messages, gRPC stubs)
    "cluster.proto": (cluster_pb2, cluster_pb2_grpc),
    "config.proto": (config_pb2, config_pb2_grpc),
    "error.proto": (error_pb2, error_pb2_grpc),
    "job.proto": (job_pb2, job_pb2_grpc),
    "job_submission.proto": (job_submission_pb2, job_submission_pb2_grpc),
    "serve.proto": (serve_pb2, serve_pb2_grpc),
}
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {  # service -> its generated client
    "ComputeTemplateService": config_pb2_grpc.ComputeTemplateServiceStub,
    "ImageTemplateService": config_pb2_grpc.ImageTemplateServiceStub,  # declared, never served
    "ClusterService": cluster_pb2_grpc.ClusterServiceStub,
    "RayJobService": job_pb2_grpc.RayJobServiceStub,
    "RayServeService": serve_pb2_grpc.RayServeServiceStub,
    "RayJobSubmissionService": job_submission_pb2_grpc.RayJobSubmissionServiceStub,
    "RayCronJobService": cronjob_pb2_grpc.RayCronJobServiceStub,  # ours: kuberay_api.v1, no upstream route
}

# (HTTP method, path under the API prefix, service, RPC, request message, field holding the body)
ROUTES: list[tuple[str, str, str, str, type[Message], str | None]] = [
    ("POST", "/namespaces/{namespace}/compute_templates", "ComputeTemplateService", "CreateComputeTemplate",
     config_pb2.CreateComputeTemplateRequest, "compute_template"),
    ("GET", "/namespaces/{namespace}/compute_templates", "ComputeTemplateService", "ListComputeTemplates",
     config_pb2.ListComputeTemplatesRequest, None),
    ("GET", "/namespaces/{namespace}/compute_templates/{name}", "ComputeTemplateService", "GetComputeTemplate",
     config_pb2.GetComputeTemplateRequest, None),
    ("DELETE", "/namespaces/{namespace}/compute_templates/{name}", "ComputeTemplateService", "DeleteComputeTemplate",
     config_pb2.DeleteComputeTemplateRequest, None),
    ("GET", "/compute_templates", "ComputeTemplateService", "ListAllComputeTemplates",
     config_pb2.ListAllComputeTemplatesRequest, None),
    ("POST", "/namespaces/{namespace}/clusters", "ClusterService", "CreateCluster",
     cluster_pb2.CreateClusterRequest, "cluster"),
    ("GET", "/namespaces/{namespace}/clusters", "ClusterService", "ListCluster",
     cluster_pb2.ListClustersRequest, None),
    ("GET", "/namespaces/{namespace}/clusters/{name}", "ClusterService", "GetCluster",
     cluster_pb2.GetClusterRequest, None),
    ("DELETE", "/namespaces/{namespace}/clusters/{name}", "ClusterService", "DeleteCluster",
     cluster_pb2.DeleteClusterRequest, None),
    ("GET", "/clusters", "ClusterService", "ListAllClusters", cluster_pb2.ListAllClustersRequest, None),
    ("POST", "/namespaces/{namespace}/jobs", "RayJobService", "CreateRayJob", job_pb2.CreateRayJobRequest, "job"),
    ("GET", "/namespaces/{namespace}/jobs", "RayJobService", "ListRayJobs", job_pb2.ListRayJobsRequest, None),
    ("GET", "/namespaces/{namespace}/jobs/{name}", "RayJobService", "GetRayJob", job_pb2.GetRayJobRequest, None),
    ("DELETE", "/namespaces/{namespace}/jobs/{name}", "RayJobService", "DeleteRayJob",
     job_pb2.DeleteRayJobRequest, None),
    ("GET", "/jobs", "RayJobService", "ListAllRayJobs", job_pb2.ListAllRayJobsRequest, None),
    ("POST", "/namespaces/{namespace}/services", "RayServeService", "CreateRayService",
     serve_pb2.CreateRayServiceRequest, "service"),
    ("PUT", "/namespaces/{namespace}/services/{name}", "RayServeService", "UpdateRayService",
     serve_pb2.UpdateRayServiceRequest, "service"),
    ("GET", "/namespaces/{namespace}/services", "RayServeService", "ListRayServices",
     serve_pb2.ListRayServicesRequest, None),
    ("GET", "/namespaces/{namespace}/services/{name}", "RayServeService", "GetRayService",
     serve_pb2.GetRayServiceRequest, None),
    ("DELETE", "/namespaces/{namespace}/services/{name}", "RayServeService", "DeleteRayService",
     serve_pb2.DeleteRayServiceRequest, None),
    ("GET", "/services", "RayServeService", "ListAllRayServices", serve_pb2.ListAllRayServicesRequest, None),
    ("POST", "/namespaces/{namespace}/jobsubmissions/{clustername}", "RayJobSubmissionService", "SubmitRayJob",
     job_submission_pb2.SubmitRayJobRequest, "jobsubmission"),
    ("GET", "/namespaces/{namespace}/jobsubmissions/{clustername}", "RayJobSubmissionService", "ListJobDetails",
     job_submission_pb2.ListJobDetailsRequest, None),
    ("GET", "/namespaces/{namespace}/jobsubmissions/{clustername}/log/{submissionid}", "RayJobSubmissionService",
     "GetJobLog", job_submission_pb2.GetJobLogRequest, None),
    ("GET", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}", "RayJobSubmissionService",
     "GetJobDetails", job_submission_pb2.GetJobDetailsRequest, None),
    ("POST", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}", "RayJobSubmissionService",
     "StopRayJob", job_submission_pb2.StopRayJobSubmissionRequest, None),
    ("DELETE", "/namespaces/{namespace}/jobsubmissions/{clustername}/{submissionid}", "RayJobSubmissionService",
     "DeleteRayJob", job_submission_pb2.DeleteRayJobSubmissionRequest, None),
]

# The extensions' routes (ours, not upstream's: proto/cronjob.proto, package kuberay_api.v1), in the same form.
EXTENSION_ROUTES: list[tuple[str, str, str, str, type[Message], str | None]] = [
    ("POST", "/namespaces/{namespace}/cronjobs", "RayCronJobService", "CreateRayCronJob",
     cronjob_pb2.CreateRayCronJobRequest, "cronjob"),
    ("GET", "/namespaces/{namespace}/cronjobs", "RayCronJobService", "ListRayCronJobs",
     cronjob_pb2.ListRayCronJobsRequest, None),
    ("GET", "/namespaces/{namespace}/cronjobs/{name}", "RayCronJobService", "GetRayCronJob",
     cronjob_pb2.GetRayCronJobRequest, None),
    ("DELETE", "/namespaces/{namespace}/cronjobs/{name}", "RayCronJobService", "DeleteRayCronJob",
     cronjob_pb2.DeleteRayCronJobRequest, None),
    ("POST", "/namespaces/{namespace}/cronjobs/{name}/suspend", "RayCronJobService", "SuspendRayCronJob",
     cronjob_pb2.SuspendRayCronJobRequest, None),
    ("POST", "/namespaces/{namespace}/cronjobs/{name}/resume", "RayCronJobService", "ResumeRayCronJob",
     cronjob_pb2.ResumeRayCronJobRequest, None),
    ("GET", "/cronjobs", "RayCronJobService", "ListAllRayCronJobs", cronjob_pb2.ListAllRayCronJobsRequest, None),
]

# grpc-gateway's HTTP status for each gRPC code: the gateway of `apiserver/cmd/main.go@v1.7.0` answers errors
# with grpc-gateway v2's runtime.DefaultHTTPErrorHandler (`apiserver/go.mod@v1.7.0`)
HTTP_STATUS = {0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
               11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
PREFIX = re.compile(r"^/apis/(v1|v1alpha2)(?=/)")


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]*)", path) + "$")


_MATCHERS = [(method, _template(path), service, rpc, request, body)
             for method, path, service, rpc, request, body in ROUTES + EXTENSION_ROUTES]


def to_rpc(method: str, path: str, body: Json | None) -> tuple[str, str, Message]:
    """The RPC an HTTP request of the V1 API calls, and its request message: path parameters,
    query parameters (by either name) and the body, in their fields."""
    url = urlsplit(path)
    route = PREFIX.sub("", url.path)
    for verb, pattern, service, rpc, request_type, body_field in _MATCHERS:
        match = pattern.match(route)
        if verb == method and match:
            fields: Json = dict(match.groupdict())
            fields.update(parse_qsl(url.query))
            if body_field is not None and body is not None:
                fields[body_field] = body
            request = json_format.ParseDict(fields, request_type(), ignore_unknown_fields=True)
            return service, rpc, request
    raise LookupError(f"no RPC for {method} {path}")


def call(channel: grpc.Channel, service: str, rpc: str, request: Message,
         metadata: tuple[tuple[str, str], ...] = ()) -> Message:
    """One RPC through the generated stub; a failure raises grpc.RpcError."""
    answer: Message = getattr(STUBS[service](channel), rpc)(request, timeout=30, metadata=metadata)
    return answer


def as_json(message: Message) -> Json:
    """A response as the HTTP front writes it."""
    return json_format.MessageToDict(message, use_integers_for_enums=True)


def grpc_send(channel: grpc.Channel, sent: list[str] | None = None,
              metadata: tuple[tuple[str, str], ...] = ()) -> Send:
    """A `Send` over gRPC; `sent` collects the RPCs made; `metadata` goes with each."""

    def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
        service, rpc, request = to_rpc(method, path, body)
        if sent is not None:
            sent.append(f"{service}/{rpc}")
        try:
            return 200, as_json(call(channel, service, rpc, request, metadata))
        except grpc.RpcError as exc:
            code = exc.code().value[0]
            return HTTP_STATUS[code], {"code": code, "message": exc.details()}

    return send


def refused(channel: grpc.Channel, service: str, rpc: str, request: Message, code: grpc.StatusCode) -> str:
    """The message of an RPC refused with `code` (and failing the test if it was not)."""
    try:
        answer = call(channel, service, rpc, request)
    except grpc.RpcError as exc:
        refusal = exc
    else:
        raise AssertionError(f"{rpc} answered {answer!r}, expected {code}")
    assert refusal.code() == code, (rpc, refusal.code(), refusal.details())
    return str(refusal.details())
