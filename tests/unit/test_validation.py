"""Every rule a create or update checks before any Kubernetes write, as (input, expected message) rows.

The rows follow the order the rules fire in: a body breaking two rules gets the first one's message.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from app.errors import InvalidInput
from app.types import Json
from app.validation import (
    Limits,
    check_cluster,
    check_cluster_spec,
    check_compute_template,
    check_job,
    check_service,
    check_templates,
)

NS = "ray-system"

SPEC: Json = {
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
NOT_A_QUANTITY = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
HEAD = ("clusterSpec", "headGroupSpec")
WORKER = ("clusterSpec", "workerGroupSpec", 0)
AUTOSCALING = ("clusterSpec", "enableInTreeAutoscaling")
AUTOSCALER = ("clusterSpec", "autoscalerOptions")


def edit(base: Json, change: Callable[[Json], Any]) -> Json:
    body = copy.deepcopy(base)
    change(body)
    return body


def drop(*path: str | int) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return change


def put(value: Any, *path: str | int) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def volumes(*fields: Json) -> list[Json]:
    return [{"name": "v", "mountPath": "/v", **volume} for volume in fields]


def graph(**fields: Any) -> Callable[[Json], None]:
    """The service's serve configuration becomes a deployment graph with these fields."""
    return both(drop("serveConfigV2"), put({**GRAPH, **fields}, "serveDeploymentGraphSpec"))


def both(*changes: Callable[[Json], None]) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        for one in changes:
            one(body)
    return change


# (id, check, body, path namespace, expected message)
REJECTED: list[tuple[str, Callable[..., None], Json, str, str]] = [
    # compute templates
    ("template path namespace empty", check_compute_template, TEMPLATE, "", NS_EMPTY),
    ("template namespace differs", check_compute_template, edit(TEMPLATE, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace defined in the compute template."),
    ("template name empty", check_compute_template, edit(TEMPLATE, drop("name")), NS,
     "Compute template name is empty. Please specify a valid value."),
    ("template cpu zero", check_compute_template, edit(TEMPLATE, put(0, "cpu")), NS,
     "Cpu amount is zero. Please specify a valid value."),
    ("template cpu absent", check_compute_template, edit(TEMPLATE, drop("cpu")), NS,
     "Cpu amount is zero. Please specify a valid value."),
    ("template memory zero", check_compute_template, edit(TEMPLATE, put(0, "memory")), NS,
     "Memory amount is zero. Please specify a valid value."),
    ("template memory unit invalid", check_compute_template, edit(TEMPLATE, put("GB", "memoryUnit")), NS,
     'Memory "4GB" is not a valid quantity: memoryUnit must be a unit such as Gi, Mi, G or M.'),
    ("template memory unit in lower case", check_compute_template, edit(TEMPLATE, put("gi", "memoryUnit")), NS,
     'Memory "4gi" is not a valid quantity: memoryUnit must be a unit such as Gi, Mi, G or M.'),
    ("template memory unit with a space", check_compute_template, edit(TEMPLATE, put(" Gi", "memoryUnit")), NS,
     'Memory "4 Gi" is not a valid quantity: memoryUnit must be a unit such as Gi, Mi, G or M.'),
    # clusters
    ("cluster path namespace empty", check_cluster, CLUSTER, "", NS_EMPTY),
    ("cluster namespace differs", check_cluster, edit(CLUSTER, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the cluster definition."),
    ("cluster name empty", check_cluster, edit(CLUSTER, put("", "name")), NS,
     "Cluster name is empty. Please specify a valid value."),
    ("cluster user empty", check_cluster, edit(CLUSTER, drop("user")), NS,
     "User who create the cluster is empty. Please specify a valid value."),
    # cluster spec: the groups, through check_cluster
    ("cluster spec absent", check_cluster, edit(CLUSTER, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("head group absent", check_cluster, edit(CLUSTER, drop("clusterSpec", "headGroupSpec")), NS,
     "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one."),
    ("head template empty", check_cluster,
     edit(CLUSTER, put("", "clusterSpec", "headGroupSpec", "computeTemplate")), NS,
     "HeadGroupSpec compute template is empty. Please specify a valid value."),
    ("head rayStartParams empty", check_cluster,
     edit(CLUSTER, put({}, "clusterSpec", "headGroupSpec", "rayStartParams")), NS,
     "HeadGroupSpec RayStartParams is empty. Please specify values."),
    ("head rayStartParams absent", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "headGroupSpec", "rayStartParams")), NS,
     "HeadGroupSpec RayStartParams is empty. Please specify values."),
    ("head pull policy lower case", check_cluster,
     edit(CLUSTER, put("always", "clusterSpec", "headGroupSpec", "imagePullPolicy")), NS,
     "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("head pull policy Never", check_cluster,
     edit(CLUSTER, put("Never", "clusterSpec", "headGroupSpec", "imagePullPolicy")), NS,
     "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("worker group name empty", check_cluster,
     edit(CLUSTER, put("", "clusterSpec", "workerGroupSpec", 1, "groupName")), NS,
     "WorkerNodeSpec 1 group name is empty. Please specify a valid value."),
    ("worker template empty", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "workerGroupSpec", 0, "computeTemplate")), NS,
     "WorkerNodeSpec 0 compute template is empty. Please specify a valid value."),
    ("worker maxReplicas zero", check_cluster,
     edit(CLUSTER, put(0, "clusterSpec", "workerGroupSpec", 0, "maxReplicas")), NS,
     "WorkerNodeSpec 0 MaxReplicas can not be 0. Please specify a valid value."),
    ("worker maxReplicas absent", check_cluster,
     edit(CLUSTER, drop("clusterSpec", "workerGroupSpec", 1, "maxReplicas")), NS,
     "WorkerNodeSpec 1 MaxReplicas can not be 0. Please specify a valid value."),
    ("worker min above max", check_cluster,
     edit(CLUSTER, put(6, "clusterSpec", "workerGroupSpec", 0, "minReplicas")), NS,
     "WorkerNodeSpec 0 MinReplica > MaxReplicas. Please specify a valid value."),
    ("worker replicas negative", check_cluster, edit(CLUSTER, put(-3, *WORKER, "replicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[0].replicas' must not be negative, not -3."),
    ("worker minReplicas negative", check_cluster, edit(CLUSTER, put(-1, "clusterSpec", "workerGroupSpec", 1,
                                                                      "minReplicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[1].minReplicas' must not be negative, not -1."),
    ("worker maxReplicas negative", check_cluster, edit(CLUSTER, put(-5, *WORKER, "maxReplicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[0].maxReplicas' must not be negative, not -5."),
    ("worker replicas above maxReplicas", check_cluster,
     edit(CLUSTER, both(put(10, *WORKER, "replicas"), put(5, *WORKER, "maxReplicas"))), NS,
     "Field 'clusterSpec.workerGroupSpec[0].replicas' is 10, more than maxReplicas 5: "
     "it must be between minReplicas and maxReplicas."),
    ("worker replicas below minReplicas", check_cluster,
     edit(CLUSTER, both(put(1, *WORKER, "replicas"), put(2, *WORKER, "minReplicas"))), NS,
     "Field 'clusterSpec.workerGroupSpec[0].replicas' is 1, less than minReplicas 2: "
     "it must be between minReplicas and maxReplicas."),
    ("worker replicas absent, below minReplicas", check_cluster,
     edit(CLUSTER, put(1, "clusterSpec", "workerGroupSpec", 1, "minReplicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[1].replicas' is 0, less than minReplicas 1: "
     "it must be between minReplicas and maxReplicas."),
    ("a billion workers (the default ceiling is 1000)", check_cluster,
     edit(CLUSTER, both(put(1_000_000_000, *WORKER, "replicas"), put(2_000_000_000, *WORKER, "maxReplicas"))), NS,
     "The worker groups of clusterSpec allow 2000000002 workers in total (the sum of their maxReplicas), more than "
     "this server's limit of 1000 per cluster: lower maxReplicas, or have the server's administrator raise "
     "KUBERAY_API_MAX_WORKERS_PER_CLUSTER (0 means no limit)."),
    ("the ceiling is on the sum over groups", check_cluster,
     edit(CLUSTER, put(999, *WORKER, "maxReplicas")), NS,
     "The worker groups of clusterSpec allow 1001 workers in total (the sum of their maxReplicas), more than "
     "this server's limit of 1000 per cluster: lower maxReplicas, or have the server's administrator raise "
     "KUBERAY_API_MAX_WORKERS_PER_CLUSTER (0 means no limit)."),
    ("job spec replicas checked", check_job, edit(JOB, put(-3, *WORKER, "replicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[0].replicas' must not be negative, not -3."),
    ("service spec replicas checked", check_service, edit(SERVICE, put(6, *WORKER, "replicas")), NS,
     "Field 'clusterSpec.workerGroupSpec[0].replicas' is 6, more than maxReplicas 5: "
     "it must be between minReplicas and maxReplicas."),
    ("job spec ceiling checked", check_job, edit(JOB, put(1001, *WORKER, "maxReplicas")), NS,
     "The worker groups of clusterSpec allow 1003 workers in total (the sum of their maxReplicas), more than "
     "this server's limit of 1000 per cluster: lower maxReplicas, or have the server's administrator raise "
     "KUBERAY_API_MAX_WORKERS_PER_CLUSTER (0 means no limit)."),
    ("worker pull policy", check_cluster,
     edit(CLUSTER, put("Never", "clusterSpec", "workerGroupSpec", 0, "imagePullPolicy")), NS,
     "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"),
    ("group rules stop at the first failure, head before workers", check_cluster,
     edit(CLUSTER, both(put("", "clusterSpec", "headGroupSpec", "computeTemplate"),
                        put("", "clusterSpec", "workerGroupSpec", 0, "groupName"))), NS,
     "HeadGroupSpec compute template is empty. Please specify a valid value."),
    ("cluster fields come before its spec", check_cluster,
     edit(CLUSTER, both(drop("user"), drop("clusterSpec"))), NS,
     "User who create the cluster is empty. Please specify a valid value."),
    ("namespace check comes before name", check_cluster,
     edit(CLUSTER, both(put("other", "namespace"), drop("name"))), NS,
     "The namespace in the request is different from the namespace in the cluster definition."),
    # cluster spec: what the groups and the autoscaler hold
    ("ephemeral volume without storage", check_cluster,
     edit(CLUSTER, put(volumes({"volumeType": "EPHEMERAL"}), *HEAD, "volumes")), NS,
     "storage for ephemeral volume is empty (volume 'v')"),
    ("ephemeral volume with storage that is no quantity", check_cluster,
     edit(CLUSTER, put(volumes({"volumeType": 2, "storage": "10 GB"}), *HEAD, "volumes")), NS,
     f"storage for ephemeral volume is not specified correctly (volume 'v'): {NOT_A_QUANTITY}: '10 GB'"),
    ("empty-dir volume with storage that is no quantity", check_cluster,
     edit(CLUSTER, put(volumes({"volumeType": "EMPTY_DIR", "storage": "2Gii"}), *WORKER, "volumes")), NS,
     "storage for empty dir volume is not specified correctly (volume 'v'): "
     "unable to parse quantity's suffix: '2Gii'"),
    ("unknown volume type", check_cluster, edit(CLUSTER, put(volumes({"volumeType": 9}), *WORKER, "volumes")), NS,
     "volume 'v': volumeType 9 is not a known volume type"),
    ("unknown volume type given as a string", check_cluster,
     edit(CLUSTER, put(volumes({"volumeType": "6"}), *WORKER, "volumes")), NS,
     "volume 'v': volumeType 6 is not a known volume type"),
    ("autoscaler cpu that is no quantity", check_cluster,
     edit(CLUSTER, both(put(True, *AUTOSCALING), put({"cpu": "half", "memory": "1 Gi"}, *AUTOSCALER))), NS,
     f"cpu for autoscaler is not specified correctly: {NOT_A_QUANTITY}: 'half'"),
    ("autoscaler memory that is no quantity", check_cluster,
     edit(CLUSTER, both(put(True, *AUTOSCALING), put({"memory": "1 Gi"}, *AUTOSCALER))), NS,
     f"memory for autoscaler is not specified correctly: {NOT_A_QUANTITY}: '1 Gi'"),
    ("group rules come before volumes", check_cluster,
     edit(CLUSTER, both(put(volumes({"volumeType": 9}), *HEAD, "volumes"), put(0, *WORKER, "maxReplicas"))), NS,
     "WorkerNodeSpec 0 MaxReplicas can not be 0. Please specify a valid value."),
    ("head volumes come before worker volumes", check_cluster,
     edit(CLUSTER, both(put(volumes({"volumeType": 8}), *HEAD, "volumes"), put(volumes({"volumeType": 9}), *WORKER,
                                                                              "volumes"))), NS,
     "volume 'v': volumeType 8 is not a known volume type"),
    ("volumes come before the autoscaler", check_cluster,
     edit(CLUSTER, both(put(volumes({"volumeType": 9}), *WORKER, "volumes"), put(True, *AUTOSCALING),
                        put({"cpu": "half"}, *AUTOSCALER))), NS,
     "volume 'v': volumeType 9 is not a known volume type"),
    # jobs
    ("job path namespace empty", check_job, JOB, "", NS_EMPTY),
    ("job namespace differs", check_job, edit(JOB, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the job definition."),
    ("job name empty", check_job, edit(JOB, drop("name")), NS,
     "Job name is empty. Please specify a valid value."),
    ("job user empty", check_job, edit(JOB, put("", "user")), NS,
     "User who create the job is empty. Please specify a valid value."),
    ("job without spec or selector", check_job, edit(JOB, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("job with empty selector and no spec", check_job, edit(JOB, both(drop("clusterSpec"), put({}, "clusterSelector"))),
     NS, "A ClusterSpec object is required. Please specify one."),
    ("job spec checked", check_job, edit(JOB, put(0, "clusterSpec", "workerGroupSpec", 1, "maxReplicas")), NS,
     "WorkerNodeSpec 1 MaxReplicas can not be 0. Please specify a valid value."),
    ("job spec contents checked", check_job, edit(JOB, put(volumes({"volumeType": 9}), *HEAD, "volumes")), NS,
     "volume 'v': volumeType 9 is not a known volume type"),
    ("job submitter cpu that is no quantity", check_job, edit(JOB, put({"image": "i", "cpu": "two"}, "jobSubmitter")), NS,
     'jobSubmitter.cpu "two" is not specified correctly: it must be a Kubernetes quantity such as 500m.'),
    ("job submitter memory unit", check_job, edit(JOB, put({"cpu": "1", "memory": "1GB"}, "jobSubmitter")), NS,
     'jobSubmitter.memory "1GB" is not specified correctly: it must be a Kubernetes quantity such as 512Mi.'),
    ("job submitter memory number", check_job, edit(JOB, put({"memory": "1.5.5"}, "jobSubmitter")), NS,
     'jobSubmitter.memory "1.5.5" is not specified correctly: it must be a Kubernetes quantity such as 512Mi.'),
    ("job submitter of a selector job", check_job,
     edit(JOB, both(drop("clusterSpec"), put({"ray.io/cluster": "c"}, "clusterSelector"),
                    put({"cpu": "two"}, "jobSubmitter"))), NS,
     'jobSubmitter.cpu "two" is not specified correctly: it must be a Kubernetes quantity such as 500m.'),
    ("job spec comes before the submitter", check_job,
     edit(JOB, both(put(volumes({"volumeType": 9}), *HEAD, "volumes"), put({"cpu": "two"}, "jobSubmitter"))), NS,
     "volume 'v': volumeType 9 is not a known volume type"),
    ("job spec checked even with a selector (upstream crashed)", check_job,
     edit(JOB, both(put({"ray.io/cluster": "c"}, "clusterSelector"), drop("clusterSpec", "headGroupSpec"))), NS,
     "Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one."),
    # services, then the serve configuration (v1.0.0)
    ("service path namespace empty", check_service, SERVICE, "", NS_EMPTY),
    ("service body empty", check_service, {}, NS, "Service is empty, please input a valid payload."),
    ("service body holds only the filled-in namespace", check_service, {"namespace": NS}, NS,
     "Service is empty, please input a valid payload."),
    ("service namespace differs", check_service, edit(SERVICE, put("other", "namespace")), NS,
     "The namespace in the request is different from the namespace in the service definition."),
    ("service name empty", check_service, edit(SERVICE, drop("name")), NS,
     "Service name is empty. Please specify a valid value."),
    ("service user empty", check_service, edit(SERVICE, drop("user")), NS,
     "User who created the Service is empty. Please specify a valid value."),
    ("service spec absent", check_service, edit(SERVICE, drop("clusterSpec")), NS,
     "A ClusterSpec object is required. Please specify one."),
    ("service spec checked", check_service, edit(SERVICE, put({}, "clusterSpec", "headGroupSpec", "rayStartParams")),
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
    ("graph runtime env that is no YAML", check_service, edit(SERVICE, graph(runtimeEnv="working_dir: [unclosed")), NS,
     "serveDeploymentGraphSpec.runtimeEnv is not valid YAML: expected ',' or ']', but got '<stream end>' "
     "at line 1, column 23."),
    ("graph runtime env nested too deeply to parse", check_service,
     edit(SERVICE, graph(runtimeEnv="a: " + "[" * 5000 + "]" * 5000)), NS,
     "serveDeploymentGraphSpec.runtimeEnv is nested too deeply to be read."),
    ("graph user config that is no mapping", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A"}, {"deploymentName": "B", "userConfig": "just text"}])),
     NS, "serveDeploymentGraphSpec.serveConfigs[1].userConfig must be a YAML mapping such as 'key: value'."),
    ("graph autoscaling config that is a list", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "autoscalingConfig": "- 1\n- 2"}])), NS,
     "serveDeploymentGraphSpec.serveConfigs[0].autoscalingConfig must be a YAML mapping such as 'key: value'."),
    ("graph actor runtime env that is no YAML", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "actorOptions": {"runtimeEnv": "a: b: c"}}])), NS,
     "serveDeploymentGraphSpec.serveConfigs[0].actorOptions.runtimeEnv is not valid YAML: "
     "mapping values are not allowed here at line 1, column 5."),
    ("graph custom resource that is a number", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "actorOptions": {"customResource": "7"}}])), NS,
     "serveDeploymentGraphSpec.serveConfigs[0].actorOptions.customResource must be a YAML mapping such as "
     "'key: value'."),
    ("graph with two route prefixes", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "routePrefix": "/a"},
                                       {"deploymentName": "B", "routePrefix": "/b"}])), NS,
     "serveDeploymentGraphSpec.serveConfigs give different route prefixes (/a, /b): "
     "one application has one route prefix, so give it on one deployment only."),
    ("graph deployment names come before route prefixes", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "routePrefix": "/a"}, {"routePrefix": "/b"}])), NS,
     "serveDeploymentGraphSpec serveConfigs 1 deploymentName is empty. Please specify a valid value."),
    ("graph route prefixes come before its YAML", check_service,
     edit(SERVICE, graph(runtimeEnv="[", serveConfigs=[{"deploymentName": "A", "routePrefix": "/a"},
                                                       {"deploymentName": "B", "routePrefix": "/b"}])), NS,
     "serveDeploymentGraphSpec.serveConfigs give different route prefixes (/a, /b): "
     "one application has one route prefix, so give it on one deployment only."),
    ("graph deployment fields in order: autoscaling, user config, actor options", check_service,
     edit(SERVICE, graph(serveConfigs=[{"deploymentName": "A", "userConfig": "1", "autoscalingConfig": "2",
                                        "actorOptions": {"runtimeEnv": "3", "customResource": "4"}}])), NS,
     "serveDeploymentGraphSpec.serveConfigs[0].autoscalingConfig must be a YAML mapping such as 'key: value'."),
    ("service spec contents checked", check_service,
     edit(SERVICE, put(volumes({"volumeType": "EPHEMERAL"}), *WORKER, "volumes")), NS,
     "storage for ephemeral volume is empty (volume 'v')"),
    ("serve configuration comes before the spec contents", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put(volumes({"volumeType": 9}), *HEAD, "volumes"))), NS,
     "serve configuration is not defined"),
    ("token authentication with a Ray the operator refuses it for", check_cluster,
     edit(CLUSTER, both(put("2.51.0", "version"), put({"mode": "token"}, "clusterSpec", "authOptions"))), NS,
     "Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray 2.52.0 or later "
     '(the KubeRay operator refuses older), and the version is "2.51.0".'),
    ("token authentication by default (no mode) without a version", check_cluster,
     edit(CLUSTER, put({}, "clusterSpec", "authOptions")), NS,
     "Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray 2.52.0 or later "
     '(the KubeRay operator refuses older), and the version is "".'),
    ("token authentication with a version that is no version", check_cluster,
     edit(CLUSTER, both(put("latest", "version"), put({"mode": ""}, "clusterSpec", "authOptions"))), NS,
     "Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray 2.52.0 or later "
     '(the KubeRay operator refuses older), and the version is "latest".'),
    ("a job's token authentication too", check_job,
     edit(JOB, both(put("2.9.3", "version"), put({"mode": "token"}, "clusterSpec", "authOptions"))), NS,
     "Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray 2.52.0 or later "
     '(the KubeRay operator refuses older), and the version is "2.9.3".'),
    ("a service's token authentication too", check_service,
     edit(SERVICE, both(put("2.46.0", "version"), put({"mode": "token"}, "clusterSpec", "authOptions"))), NS,
     "Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray 2.52.0 or later "
     '(the KubeRay operator refuses older), and the version is "2.46.0".'),
    ("graph comes before the spec contents", check_service,
     edit(SERVICE, both(graph(runtimeEnv="7"), put(volumes({"volumeType": 9}), *HEAD, "volumes"))), NS,
     "serveDeploymentGraphSpec.runtimeEnv must be a YAML mapping such as 'key: value'."),
]


@pytest.mark.parametrize(("check", "body", "namespace", "message"),
                         [row[1:] for row in REJECTED], ids=[row[0] for row in REJECTED])
def test_rejected(check: Callable[..., None], body: Json, namespace: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check(body, namespace)
    assert str(caught.value) == message
    assert (caught.value.status, caught.value.code) == (400, 3)


def test_service_update_names_the_updating_user() -> None:
    with pytest.raises(InvalidInput, match="^User who updated the Service is empty. Please specify a valid value.$"):
        check_service(edit(SERVICE, drop("user")), NS, update=True)


def test_the_worker_ceiling_is_the_servers_setting() -> None:
    """A lower ceiling refuses what the default takes; 0 lifts it; the answer says the limit given."""
    body = edit(CLUSTER, put(999, *WORKER, "maxReplicas"))  # 1001 workers in all
    with pytest.raises(InvalidInput, match="allow 7 workers .* limit of 6 per cluster"):
        check_cluster(CLUSTER, NS, Limits(max_workers_per_cluster=6))
    check_cluster(CLUSTER, NS, Limits(max_workers_per_cluster=7))  # exactly the sum of 5 + 2
    check_cluster(body, NS, Limits(max_workers_per_cluster=0))
    check_service(edit(SERVICE, put(999, *WORKER, "maxReplicas")), NS, Limits(max_workers_per_cluster=0))
    with pytest.raises(InvalidInput, match="limit of 6 per cluster"):
        check_service(SERVICE, NS, Limits(max_workers_per_cluster=6), update=True)


# (id, check, body): valid bodies, including the edge of every rule
ACCEPTED: list[tuple[str, Callable[..., None], Json]] = [
    ("template", check_compute_template, TEMPLATE),
    ("template with a memory unit", check_compute_template, {**TEMPLATE, "memoryUnit": "Mi"}),
    ("template with a decimal SI unit", check_compute_template, {**TEMPLATE, "memoryUnit": "G"}),
    ("template with an empty memory unit (Gi)", check_compute_template, {**TEMPLATE, "memoryUnit": ""}),
    ("template without namespace (filled by the caller)", check_compute_template, edit(TEMPLATE, drop("namespace"))),
    ("cluster", check_cluster, CLUSTER),
    ("cluster with empty namespace", check_cluster, {**CLUSTER, "namespace": ""}),
    ("cluster with min, replicas and max equal", check_cluster,
     edit(CLUSTER, both(put(5, *WORKER, "minReplicas"), put(5, *WORKER, "replicas")))),
    ("cluster with replicas at maxReplicas", check_cluster, edit(CLUSTER, put(5, *WORKER, "replicas"))),
    ("cluster with replicas at minReplicas", check_cluster,
     edit(CLUSTER, both(put(2, *WORKER, "minReplicas"), put(2, *WORKER, "replicas")))),
    ("cluster with no workers running yet (all counts 0 but max)", check_cluster,
     edit(CLUSTER, both(put(0, *WORKER, "replicas"), put(0, *WORKER, "minReplicas")))),
    ("cluster with exactly the ceiling of workers", check_cluster, edit(CLUSTER, put(998, *WORKER, "maxReplicas"))),
    ("cluster with IfNotPresent and empty pull policies", check_cluster,
     edit(CLUSTER, both(put("IfNotPresent", "clusterSpec", "headGroupSpec", "imagePullPolicy"),
                        put("", "clusterSpec", "workerGroupSpec", 0, "imagePullPolicy")))),
    ("cluster without workers", check_cluster, edit(CLUSTER, drop("clusterSpec", "workerGroupSpec"))),
    ("cluster with duplicate group names (not checked upstream)", check_cluster,
     edit(CLUSTER, put("small", "clusterSpec", "workerGroupSpec", 1, "groupName"))),
    ("cluster with volumes of every type", check_cluster,
     edit(CLUSTER, put(volumes({}, {"volumeType": "HOST_PATH"}, {"volumeType": 2, "storage": "10Gi"}, {"volumeType": 3},
                               {"volumeType": 4}, {"volumeType": 5}, {"volumeType": 5, "storage": "0.5Gi"}),
                       *HEAD, "volumes"))),
    ("cluster with autoscaler quantities", check_cluster,
     edit(CLUSTER, both(put(True, *AUTOSCALING), put({"cpu": "1", "memory": "1Gi"}, *AUTOSCALER)))),
    ("autoscaler options unread while autoscaling is off", check_cluster,
     edit(CLUSTER, put({"cpu": "half", "memory": "1 Gi"}, *AUTOSCALER))),
    ("token authentication with Ray 2.52.0 or later", check_cluster,
     edit(CLUSTER, both(put("2.52.0", "version"), put({"mode": "token"}, "clusterSpec", "authOptions")))),
    ("token authentication with a generic version", check_cluster,
     edit(CLUSTER, both(put("v2.60", "version"), put({}, "clusterSpec", "authOptions")))),
    ("token authentication disabled, whatever the version", check_cluster,
     edit(CLUSTER, both(put("2.7.0", "version"), put({"mode": "disabled"}, "clusterSpec", "authOptions")))),
    ("job with cluster spec", check_job, JOB),
    ("job with a selector only", check_job, edit(JOB, both(drop("clusterSpec"), put({"ray.io/cluster": "c"}, "clusterSelector")))),
    ("job without entrypoint or version (not checked upstream)", check_job, edit(JOB, drop("entrypoint"))),
    ("job with submitter quantities", check_job, edit(JOB, put({"image": "i", "cpu": "500m", "memory": "1Gi"},
                                                              "jobSubmitter"))),
    ("job with an empty submitter", check_job, edit(JOB, put({}, "jobSubmitter"))),
    ("service with serveConfigV2", check_service, SERVICE),
    ("service with a deployment graph", check_service,
     edit(SERVICE, both(drop("serveConfigV2"), put(GRAPH, "serveDeploymentGraphSpec")))),
    ("service with empty serveConfigV2 and a deployment graph", check_service,
     edit(SERVICE, both(put("", "serveConfigV2"), put(GRAPH, "serveDeploymentGraphSpec")))),
    ("graph with YAML and JSON mappings, comments and one shared prefix", check_service,
     edit(SERVICE, graph(runtimeEnv="# none", serveConfigs=[
         {"deploymentName": "A", "routePrefix": "/x", "userConfig": '{"k": [1, 2]}', "autoscalingConfig": "",
          "actorOptions": {"runtimeEnv": "pip: [x]", "customResource": "custom_res: 1"}},
         {"deploymentName": "B", "routePrefix": "/x"}]))),
]


@pytest.mark.parametrize(("check", "body"), [row[1:] for row in ACCEPTED], ids=[row[0] for row in ACCEPTED])
def test_accepted(check: Callable[..., None], body: Json) -> None:
    check(body, NS)  # raises nothing


def test_check_cluster_spec_alone() -> None:
    check_cluster_spec(SPEC)
    with pytest.raises(InvalidInput, match="^A ClusterSpec object is required. Please specify one.$"):
        check_cluster_spec(None)


BAD_UNIT = {"name": "bad-unit", "cpu": 1, "memory": 4, "memoryUnit": "GB"}


@pytest.mark.parametrize(("templates", "message"), [
    ({"bad-unit": BAD_UNIT}, "compute template bad-unit: memory '4GB' is not a valid quantity"),
    ({"t": TEMPLATE, "bad-unit": BAD_UNIT, "worse": {**BAD_UNIT, "name": "worse"}},
     "compute template bad-unit: memory '4GB' is not a valid quantity"),
    ({"no-memory": {"name": "no-memory", "cpu": 1, "memoryUnit": "lots"}},
     "compute template no-memory: memory '0lots' is not a valid quantity"),
], ids=["hand-edited unit", "first one refused, in the order given", "unit without memory"])
def test_templates_read_back_that_build_no_pod_are_refused(templates: Json, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_templates(templates)
    assert str(caught.value) == message
    assert (caught.value.status, caught.value.code) == (400, 3)


@pytest.mark.parametrize("templates", [
    {},
    {"t": TEMPLATE},
    {"legacy": {"name": "legacy", "cpu": 1, "memory": 2}},  # stored without a unit: Gi
    {"decimal": {**TEMPLATE, "memoryUnit": "M"}, "mebi": {**TEMPLATE, "memoryUnit": "Mi"}},
], ids=["none", "one", "no unit", "several"])
def test_templates_read_back_accepted(templates: Json) -> None:
    check_templates(templates)  # raises nothing
