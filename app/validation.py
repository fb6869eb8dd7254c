"""Cross-field rules the OpenAPI schema cannot express, checked before any Kubernetes call.

Each `check_*` raises `InvalidInput` (400, code 3) at the first rule that fails, in upstream's
order (BEHAVIOR §4) and with upstream's text where one exists, without its wrap chain.
Callers fill an absent body `namespace` with the path's first, so a different one is refused here.
Pure: no I/O, no Kubernetes, no logging; imports only `errors`, `types` and `translate`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.translate.compute_templates import DEFAULT_MEMORY_UNIT
from app.translate.quantity import parse_quantity

# Upstream compares case-sensitively here, although the builder lower-cases (BEHAVIOR §3.2.3).
PULL_POLICIES = ("", "Always", "IfNotPresent")

NAMESPACE_EMPTY = "Namespace is empty. Please specify a valid value."


def check_compute_template(template: Mapping[str, Any], namespace: str) -> None:
    """V1-V5 and V7 (a bad memory unit is a 400 here, not upstream's 500)."""
    _check_namespace(template, namespace, "defined in the compute template")
    if not template.get("name"):
        raise InvalidInput("Compute template name is empty. Please specify a valid value.")
    if not template.get("cpu"):
        raise InvalidInput("Cpu amount is zero. Please specify a valid value.")
    if not template.get("memory"):
        raise InvalidInput("Memory amount is zero. Please specify a valid value.")
    memory = f"{template['memory']}{template.get('memoryUnit') or DEFAULT_MEMORY_UNIT}"
    try:
        parse_quantity(memory)
    except ValueError:
        raise InvalidInput(
            f'Memory "{memory}" is not a valid quantity: memoryUnit must be a unit such as Gi, Mi, G or M.'
        ) from None


def check_cluster(cluster: Mapping[str, Any], namespace: str) -> None:
    """C1-C4, then the cluster spec (S1-S10)."""
    _check_namespace(cluster, namespace, "in the cluster definition")
    if not cluster.get("name"):
        raise InvalidInput("Cluster name is empty. Please specify a valid value.")
    if not cluster.get("user"):
        raise InvalidInput("User who create the cluster is empty. Please specify a valid value.")
    check_cluster_spec(cluster.get("clusterSpec"))


def check_cluster_spec(spec: Mapping[str, Any] | None) -> None:
    """S1-S10: the head group, then each worker group by 0-based index."""
    if spec is None:
        raise InvalidInput("A ClusterSpec object is required. Please specify one.")
    head = spec.get("headGroupSpec")
    if head is None:
        raise InvalidInput("Cluster Spec Object requires HeadGroupSpec to be populated. Please specify one.")
    if not head.get("computeTemplate"):
        raise InvalidInput("HeadGroupSpec compute template is empty. Please specify a valid value.")
    if not head.get("rayStartParams"):
        raise InvalidInput("HeadGroupSpec RayStartParams is empty. Please specify values.")
    if head.get("imagePullPolicy", "") not in PULL_POLICIES:
        raise InvalidInput(
            "HeadGroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"
        )
    for index, worker in enumerate(spec.get("workerGroupSpec") or []):
        _check_worker(index, worker)


def check_job(job: Mapping[str, Any], namespace: str) -> None:
    """J1-J5; the cluster spec is checked whenever present (upstream skips it under a selector, then crashes)."""
    _check_namespace(job, namespace, "in the job definition")
    if not job.get("name"):
        raise InvalidInput("Job name is empty. Please specify a valid value.")
    if not job.get("user"):
        raise InvalidInput("User who create the job is empty. Please specify a valid value.")
    if job.get("clusterSpec") is not None or not job.get("clusterSelector"):
        check_cluster_spec(job.get("clusterSpec"))


def check_service(service: Mapping[str, Any], namespace: str, *, update: bool = False) -> None:
    """R1-R6 (U2-U7 with `update`), then exactly one serve configuration (v1.0.0's rule)."""
    if not any(key != "namespace" for key in service):  # only the namespace the caller filled in
        raise InvalidInput("Service is empty, please input a valid payload.")
    _check_namespace(service, namespace, "in the service definition")
    if not service.get("name"):
        raise InvalidInput("Service name is empty. Please specify a valid value.")
    if not service.get("user"):
        verb = "updated" if update else "created"
        raise InvalidInput(f"User who {verb} the Service is empty. Please specify a valid value.")
    check_cluster_spec(service.get("clusterSpec"))
    has_v2 = bool(service.get("serveConfigV2"))
    has_graph = service.get("serveDeploymentGraphSpec") is not None
    if not has_v2 and not has_graph:
        raise InvalidInput("serve configuration is not defined")
    if has_v2 and has_graph:
        raise InvalidInput("two serve configuration are defined, only one is allowed")
    if has_graph:
        _check_graph(service["serveDeploymentGraphSpec"])


def referenced_templates(spec: Mapping[str, Any] | None) -> list[str]:
    """Distinct compute-template names, head first, in the order they must be read."""
    if not spec:
        return []
    groups = [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpec") or [])]
    return list(dict.fromkeys(name for group in groups if (name := group.get("computeTemplate"))))


def _check_namespace(body: Mapping[str, Any], namespace: str, where: str) -> None:
    if not namespace:
        raise InvalidInput(NAMESPACE_EMPTY)
    if (body.get("namespace") or namespace) != namespace:
        raise InvalidInput(f"The namespace in the request is different from the namespace {where}.")


def _check_graph(graph: Mapping[str, Any]) -> None:
    """What the Serve config generated from a v1.0.0 deployment graph cannot do without."""
    if not graph.get("importPath"):
        raise InvalidInput("serveDeploymentGraphSpec importPath is empty. Please specify a valid value.")
    for index, config in enumerate(graph.get("serveConfigs") or []):
        if not config.get("deploymentName"):
            raise InvalidInput(
                f"serveDeploymentGraphSpec serveConfigs {index} deploymentName is empty. Please specify a valid value."
            )


def _check_worker(index: int, worker: Mapping[str, Any]) -> None:
    prefix = f"WorkerNodeSpec {index}"
    if not worker.get("groupName"):
        raise InvalidInput(f"{prefix} group name is empty. Please specify a valid value.")
    if not worker.get("computeTemplate"):
        raise InvalidInput(f"{prefix} compute template is empty. Please specify a valid value.")
    max_replicas = worker.get("maxReplicas", 0)
    if not max_replicas:
        raise InvalidInput(f"{prefix} MaxReplicas can not be 0. Please specify a valid value.")
    if worker.get("minReplicas", 0) > max_replicas:
        raise InvalidInput(f"{prefix} MinReplica > MaxReplicas. Please specify a valid value.")
    if worker.get("imagePullPolicy", "") not in PULL_POLICIES:
        raise InvalidInput(
            "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"
        )
