"""Every rule of BEHAVIOR §4 that a REST create/update checks, as (input, expected message) rows."""
from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from app.errors import InvalidInput
from app.validation import (
    check_cluster,
    check_cluster_spec,
    check_compute_template,
    check_job,
    check_service,
    referenced_templates,
)

NS = "ray-system"

SPEC: dict[str, Any] = {
    "headGroupSpec": {"computeTemplate": "head-t", "rayStartParams": {"dashboard-host": "0.0.0.0"}},
    "workerGroupSpec": [
        {"groupName": "small", "computeTemplate": "worker-t", "replicas": 1, "minReplicas": 0, "maxReplicas": 5},
        {"groupName": "big", "computeTemplate": "head-t", "maxReplicas": 2, "imagePullPolicy": "Always"},
    ],
}
TEMPLATE = {"name": "t", "namespace": NS, "cpu": 2, "memory": 4}
CLUSTER = {"name": "c", "namespace": NS, "user": "u", "clusterSpec": SPEC}
JOB = {"name": "j", "namespace": NS, "user": "u", "entrypoint": "python -V", "clusterSpec": SPEC}
SERVICE = {"name": "s", "namespace": NS, "user": "u", "serveConfigV2": "applications: []", "clusterSpec": SPEC}
GRAPH = {"importPath": "fruit.deployment_graph", "serveConfigs": [{"deploymentName": "A", "replicas": 1}]}

NS_EMPTY = "Namespace is empty. Please specify a valid value."


def edit(base: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = copy.deepcopy(base)
    change(body)
    return body


def drop(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return change


def put(value: Any, *path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        for one in changes:
            one(body)
    return change


# (id, check, body, path namespace, expected message)
REJECTED: list[tuple[str, Callable[..., None], dict[str, Any], str, str]] = [
    # compute templates: V1-V5, V7
    ("V1 template path namespace empty", check_compute_template, TEMPLATE, "", NS_EMPTY),
    ("V2 template namespace differs", check_compute_template, edit(TEMPLATE, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace defined in the compute template."),
    ("V3 template name empty", check_compute_template, edit(TEMPLATE, drop("name")), NS,
     "Compute template name is empty. Please specify a valid value."),
    ("V4 template cpu zero", check_compute_template, edit(TEMPLATE, put(0, "cpu")), NS,
     "Cpu amount is zero. Please specify a valid value."),
    ("V4 template cpu absent", check_compute_template, edit(TEMPLATE, drop("cpu")), NS,
     "Cpu amount is zero. Please specify a valid value."),
    ("V5 template memory zero", check_compute_template, edit(TEMPLATE, put(0, "memory")), NS,
     "Memory amount is zero. Please specify a valid value."),
    ("V7 template memory unit invalid", check_compute_template, edit(TEMPLATE, put("GB", "memoryUnit")), NS,
     'Memory "4GB" is not a valid quantity: memoryUnit must be a unit such as Gi, Mi, G or M.'),
    # clusters: C1-C4
    ("C1 cluster path namespace empty", check_cluster, CLUSTER, "", NS_EMPTY),
    ("C2 cluster namespace differs", check_cluster, edit(CLUSTER, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the cluster definition."),
    ("C3 cluster name empty", check_cluster, edit(CLUSTER, put("", "name")), NS,
     "Cluster name is empty. Please specify a valid value."),
    ("C4 cluster user empty", check_cluster, edit(CLUSTER, drop("user")), NS,
     "User who create the cluster is empty. Please specify a valid value."),
    # cluster spec: S1-S10, through check_cluster
    ("S1 cluster spec absent", check_cluster, edit(CLUSTER, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("S2 head group absent", check_cluster, edit(CLUSTER, drop("clusterSpec", "headGroupSpec")), NS,
     "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one."),
    ("S3 head template empty", check_cluster,
     edit(CLUSTER, put("", "clusterSpec", "headGroupSpec", "computeTemplate")), NS,
     "HeadGroupSpec compute template is empty. Please specify a valid value."),
    ("S4 head rayStartParams empty", check_cluster,
     edit(CLUSTER, put({}, "clusterSpec", "headGroupSpec", "rayStartParams")), NS,
     "HeadGroupSpec RayStartParams is empty. Please specify values."),
    ("S4 head rayStartParams absent", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "headGroupSpec", "rayStartParams")), NS,
     "HeadGroupSpec RayStartParams is empty. Please specify values."),
    ("S5 head pull policy lower case", check_cluster,
     edit(CLUSTER, put("always", "clusterSpec", "headGroupSpec", "imagePullPolicy")), NS,
     "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("S5 head pull policy Never", check_cluster,
     edit(CLUSTER, put("Never", "clusterSpec", "headGroupSpec", "imagePullPolicy")), NS,
     "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("S6 worker group name empty", check_cluster,
     edit(CLUSTER, put("", "clusterSpec", "workerGroupSpec", 1, "groupName")), NS,
     "WorkerNodeSpec 1 group name is empty. Please specify a valid value."),
    ("S7 worker template empty", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "workerGroupSpec", 0, "computeTemplate")), NS,
     "WorkerNodeSpec 0 compute template is empty. Please specify a valid value."),
    ("S8 worker maxReplicas zero", check_cluster,
     edit(CLUSTER, put(0, "clusterSpec", "workerGroupSpec", 0, "maxReplicas")), NS,
     "WorkerNodeSpec 0 MaxReplicas can not be 0. Please specify a valid value."),
    ("S8 worker maxReplicas absent", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "workerGroupSpec", 1, "maxReplicas")), NS,
     "WorkerNodeSpec 1 MaxReplicas can not be 0. Please specify a valid value."),
    ("S9 worker min above max", check_cluster,
     edit(CLUSTER, put(6, "clusterSpec", "workerGroupSpec", 0, "minReplicas")), NS,
     "WorkerNodeSpec 0 MinReplica > MaxReplicas. Please specify a valid value."),
    ("S10 worker pull policy", check_cluster,
     edit(CLUSTER, put("Never", "clusterSpec", "workerGroupSpec", 0, "imagePullPolicy")), NS,
     "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("S-checks stop at the first failure, head before workers", check_cluster,
     edit(CLUSTER, both(put("", "clusterSpec", "headGroupSpec", "computeTemplate"),
                        put("", "clusterSpec", "workerGroupSpec", 0, "groupName"))), NS,
     "HeadGroupSpec compute template is empty. Please specify a valid value."),
    ("C-checks come before S-checks", check_cluster,
     edit(CLUSTER, both(drop("user"), drop("clusterSpec"))), NS,
     "User who create the cluster is empty. Please specify a valid value."),
    ("namespace check comes before name", check_cluster,
     edit(CLUSTER, both(put("other", "namespace"), drop("name"))), NS,
     "The namespace in the request is different from the namespace in the cluster definition."),
    # jobs: J1-J5
    ("J1 job path namespace empty", check_job, JOB, "", NS_EMPTY),
    ("J2 job namespace differs", check_job, edit(JOB, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the job definition."),
    ("J3 job name empty", check_job, edit(JOB, drop("name")), NS,
     "Job name is empty. Please specify a valid value."),
    ("J4 job user empty", check_job, edit(JOB, put("", "user")), NS,
     "User who create the job is empty. Please specify a valid value."),
    ("J5 job without spec or selector", check_job, edit(JOB, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("J5 job with empty selector and no spec", check_job, edit(JOB, both(drop("clusterSpec"), put({}, "clusterSelector"))),
     NS, "A ClusterSpec object is required. Please specify one."),
    ("J5 job spec checked", check_job, edit(JOB, put(0, "clusterSpec", "workerGroupSpec", 1, "maxReplicas")), NS,
     "WorkerNodeSpec 1 MaxReplicas can not be 0. Please specify a valid value."),
    ("J5 job spec checked even with a selector (upstream crashed)", check_job,
     edit(JOB, both(put({"ray.io/cluster": "c"}, "clusterSelector"), drop("clusterSpec", "headGroupSpec"))), NS,
     "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one."),
    # services: R1-R6, then the serve configuration (v1.0.0)
    ("R1 service path namespace empty", check_service, SERVICE, "", NS_EMPTY),
    ("R2 service body empty", check_service, {}, NS, "Service is empty, please input a valid payload."),
    ("R2 service body holds only the filled-in namespace", check_service, {"namespace": NS}, NS,
     "Service is empty, please input a valid payload."),
    ("R3 service namespace differs", check_service, edit(SERVICE, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the service definition."),
    ("R4 service name empty", check_service, edit(SERVICE, drop("name")), NS,
     "Service name is empty. Please specify a valid value."),
    ("R5 service user empty", check_service, edit(SERVICE, drop("user")), NS,
     "User who created the Service is empty. Please specify a valid value."),
    ("R6 service spec absent", check_service, edit(SERVICE, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("R6 service spec checked", check_service, edit(SERVICE, put({}, "clusterSpec", "headGroupSpec", "rayStartParams")),
     NS, "HeadGroupSpec RayStartParams is empty. Please specify values."),
    ("service without serve configuration", check_service, edit(SERVICE, drop("serveConfigV2")), NS,
     "serve configuration is not defined"),
    ("service with empty serveConfigV2", check_service, edit(SERVICE, put("", "serveConfigV2")), NS,
     "serve configuration is not defined"),
    ("service with both serve configurations", check_service, edit(SERVICE, put(GRAPH, "serveDeploymentGraphSpec")), NS,
     "two serve configuration are defined, only one is allowed"),
    ("cluster spec is checked before the serve configuration", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put("", "clusterSpec", "headGroupSpec", "computeTemplate"))), NS,
     "HeadGroupSpec compute template is empty. Please specify a valid value."),
    ("graph spec without importPath", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put({"serveConfigs": []}, "serveDeploymentGraphSpec"))), NS,
     "serveDeploymentGraphSpec importPath is empty. Please specify a valid value."),
    ("graph spec deployment without name", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put({**GRAPH, "serveConfigs": [{"deploymentName": "A"}, {"replicas": 2}]},
                                                    "serveDeploymentGraphSpec"))), NS,
     "serveDeploymentGraphSpec serveConfigs 1 deploymentName is empty. Please specify a valid value."),
]


@pytest.mark.parametrize(("check", "body", "namespace", "message"),
                         [row[1:] for row in REJECTED], ids=[row[0] for row in REJECTED])
def test_rejected(check: Callable[..., None], body: dict[str, Any], namespace: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(body, namespace)
    assert str(caught.value) == message
    assert (caught.value.status, caught.value.code) == (400, 3)


def test_service_update_names_the_updating_user() -> None:
    with pytest.raises(InvalidInput, match="^User who updated the Service is empty. Please specify a valid value.$"):
        check_service(edit(SERVICE, drop("user")), NS, update=True)


# (id, check, body): valid bodies, including the edge of every rule
ACCEPTED: list[tuple[str, Callable[..., None], dict[str, Any]]] = [
    ("template", check_compute_template, TEMPLATE),
    ("template with a memory unit", check_compute_template, {**TEMPLATE, "memoryUnit": "Mi"}),
    ("template with a decimal SI unit", check_compute_template, {**TEMPLATE, "memoryUnit": "G"}),
    ("template with an empty memory unit (Gi)", check_compute_template, {**TEMPLATE, "memoryUnit": ""}),
    ("template without namespace (filled by the caller)", check_compute_template, edit(TEMPLATE, drop("namespace"))),
    ("cluster", check_cluster, CLUSTER),
    ("cluster with empty namespace", check_cluster, {**CLUSTER, "namespace": ""}),
    ("cluster with min equal to max", check_cluster,
     edit(CLUSTER, put(5, "clusterSpec", "workerGroupSpec", 0, "minReplicas"))),
    ("cluster with IfNotPresent and empty pull policies", check_cluster,
     edit(CLUSTER, both(put("IfNotPresent", "clusterSpec", "headGroupSpec", "imagePullPolicy"),
                        put("", "clusterSpec", "workerGroupSpec", 0, "imagePullPolicy")))),
    ("cluster without workers", check_cluster, edit(CLUSTER, drop("clusterSpec", "workerGroupSpec"))),
    ("cluster with duplicate group names (not checked upstream)", check_cluster,
     edit(CLUSTER, put("small", "clusterSpec", "workerGroupSpec", 1, "groupName"))),
    ("job with cluster spec", check_job, JOB),
    ("job with a selector only", check_job, edit(JOB, both(drop("clusterSpec"), put({"ray.io/cluster": "c"}, "clusterSelector")))),
    ("job without entrypoint or version (not checked upstream)", check_job, edit(JOB, drop("entrypoint"))),
    ("service with serveConfigV2", check_service, SERVICE),
    ("service with a deployment graph", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put(GRAPH, "serveDeploymentGraphSpec")))),
    ("service with empty serveConfigV2 and a deployment graph", check_service,
     edit(SERVICE, both(put("", "serveConfigV2"), put(GRAPH, "serveDeploymentGraphSpec")))),
]


@pytest.mark.parametrize(("check", "body"), [row[1:] for row in ACCEPTED], ids=[row[0] for row in ACCEPTED])
def test_accepted(check: Callable[..., None], body: dict[str, Any]) -> None:
    assert check(body, NS) is None


def test_check_cluster_spec_alone() -> None:
    check_cluster_spec(SPEC)
    with pytest.raises(InvalidInput, match="^A ClusterSpec object is required. Please specify one.$"):
        check_cluster_spec(None)


def test_checks_do_not_modify_the_body() -> None:
    body = copy.deepcopy(SERVICE)
    check_service(body, NS)
    assert body == SERVICE


@pytest.mark.parametrize(("spec", "names"), [
    (SPEC, ["head-t", "worker-t"]),
    ({"headGroupSpec": {"computeTemplate": "h"},
      "workerGroupSpec": [{"computeTemplate": "w2"}, {"computeTemplate": "h"}, {"computeTemplate": "w1"},
                          {"computeTemplate": "w2"}]}, ["h", "w2", "w1"]),
    ({"headGroupSpec": {"computeTemplate": "h"}}, ["h"]),
    ({"headGroupSpec": {}, "workerGroupSpec": [{"computeTemplate": "w"}]}, ["w"]),
    (None, []),
    ({}, []),
], ids=["head then workers", "distinct in first-seen order", "head only", "empty names skipped", "no spec", "empty spec"])
def test_referenced_templates(spec: dict[str, Any] | None, names: list[str]) -> None:
    assert referenced_templates(spec) == names
