"""Head and worker groups, both directions: the API's `HeadGroupSpec` / `WorkerGroupSpec` <->
a RayCluster's `headGroupSpec` / `workerGroupSpecs[]`. What differs between the two kinds lives
here (ports, the server's environment variables, replica counts); what they share is in
`pod_template`. Pure.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.constants import HEAD_CONTAINER, WORKER_CONTAINER
from app.translate.cluster.environment import to_env
from app.translate.cluster.pod_template import to_api_pod_template, to_container, to_pod_template
from app.translate.common import omit_zero
from app.types import ComputeTemplate, EnvironmentVariables, HeadGroupSpec, Json, WorkerGroupSpec

HEAD_PORTS: tuple[Json, ...] = (
    {"name": "redis", "containerPort": 6379},
    {"name": "head", "containerPort": 10001},
    {"name": "dashboard", "containerPort": 8265},
    {"name": "metrics", "containerPort": 8080},
)
SERVE_PORTS: tuple[Json, ...] = (
    {"name": "dashboard-agent", "containerPort": 52365},
    {"name": "serve", "containerPort": 8000},
)
WORKER_PORTS: tuple[Json, ...] = ({"containerPort": 80},)
WORKER_LIFECYCLE: Json = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}}


def _field_env(name: str, path: str) -> Json:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _resource_env(name: str, resource: str) -> Json:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"containerName": WORKER_CONTAINER,
                                                             "resource": resource}}}


HEAD_ENV: tuple[Json, ...] = (_field_env("MY_POD_IP", "status.podIP"),)
WORKER_ENV: tuple[Json, ...] = (
    {"name": "RAY_DISABLE_DOCKER_CPU_WARNING", "value": "1"},
    {"name": "TYPE", "value": "worker"},
    _resource_env("CPU_REQUEST", "requests.cpu"),
    _resource_env("CPU_LIMITS", "limits.cpu"),
    _resource_env("MEMORY_REQUESTS", "requests.memory"),
    _resource_env("MEMORY_LIMITS", "limits.memory"),
    _field_env("MY_POD_NAME", "metadata.name"),
    _field_env("MY_POD_IP", "status.podIP"),
)
# Variables the server or the operator set: never part of a group's returned `environment`.
_RAY_RUNTIME_ENV = {
    "MY_POD_IP", "RAY_CLUSTER_NAME", "RAY_PORT", "RAY_ADDRESS", "RAY_USAGE_STATS_KUBERAY_IN_USE",
}
HIDDEN_HEAD_ENV = frozenset(_RAY_RUNTIME_ENV)
HIDDEN_WORKER_ENV = frozenset(_RAY_RUNTIME_ENV | {
    "RAY_DISABLE_DOCKER_CPU_WARNING", "TYPE", "CPU_REQUEST", "CPU_LIMITS", "MEMORY_REQUESTS",
    "MEMORY_LIMITS", "MY_POD_NAME", "FQ_RAY_IP", "RAY_IP", "REDIS_PASSWORD",
})


def to_head_group(head: HeadGroupSpec, template: ComputeTemplate, version: str,
                  envs: EnvironmentVariables, serve_ports: bool) -> Json:
    """No `replicas`: upstream v1.7.0 leaves the head count to the operator."""
    ports = HEAD_PORTS + (SERVE_PORTS if serve_ports else ())
    container = to_container(HEAD_CONTAINER, head, template, version, env=[*HEAD_ENV, *to_env(envs)], ports=ports)
    return omit_zero({
        "serviceType": head.get("serviceType", ""),
        "enableIngress": bool(head.get("enableIngress")),
        "rayStartParams": dict(head.get("rayStartParams") or {}),
        "template": to_pod_template(head, template, container),
    })


def to_worker_group(worker: WorkerGroupSpec, template: ComputeTemplate, version: str,
                    envs: EnvironmentVariables) -> Json:
    """The three counts are always written (the CRD requires min and max); a `minReplicas` or
    `maxReplicas` of 0 is written as `replicas`, as upstream does."""
    container = to_container(WORKER_CONTAINER, worker, template, version, env=[*WORKER_ENV, *to_env(envs)],
                             ports=WORKER_PORTS, lifecycle=WORKER_LIFECYCLE)
    replicas = worker.get("replicas", 0)
    group: Json = {
        "groupName": worker.get("groupName", ""),
        "replicas": replicas,
        "minReplicas": worker.get("minReplicas") or replicas,
        "maxReplicas": worker.get("maxReplicas") or replicas,
    }
    if worker.get("rayStartParams"):
        group["rayStartParams"] = dict(worker["rayStartParams"])
    group["template"] = to_pod_template(worker, template, container)
    return group


def to_api_head_group(group: Mapping[str, Any]) -> Json:
    return to_api_pod_template(group.get("template") or {}, HEAD_CONTAINER, HIDDEN_HEAD_ENV, {
        "serviceType": group.get("serviceType", ""),
        "enableIngress": bool(group.get("enableIngress")),
        "rayStartParams": dict(group.get("rayStartParams") or {}),
    })


def to_api_worker_group(group: Mapping[str, Any]) -> Json:
    name = omit_zero({"groupName": group.get("groupName", "")})
    return name | to_api_pod_template(group.get("template") or {}, WORKER_CONTAINER, HIDDEN_WORKER_ENV, {
        "replicas": group.get("replicas") or 0,
        "minReplicas": group.get("minReplicas") or 0,
        "maxReplicas": group.get("maxReplicas") or 0,
        "rayStartParams": dict(group.get("rayStartParams") or {}),
    })
