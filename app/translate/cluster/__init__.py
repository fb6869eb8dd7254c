"""Clusters: the API's `Cluster` <-> the KubeRay `RayCluster` (ray.io/v1), both directions.

Builds the custom resource as upstream's server does and reads one back into the API's shape,
including the pod-template annotations that remember the requested compute template and image.
`to_raycluster_spec` / `to_api_cluster_spec` are the cluster spec alone, shared with RayJob and
RayService translation. One module per sub-object holds both directions of it: `groups`,
`pod_template`, `resources`, `environment`, `volumes`, `security_context`, `tolerations`,
`autoscaler`, `auth` (Ray token authentication, an extension of this server). Pure: dicts in,
new dicts out; no I/O, no clock (`now` is passed in), no logging.
Input is valid: validation has checked the request, and the service layer has read every
template `referenced_templates` names and checked it (`check_templates`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from app.constants import (
    APP_NAME,
    APP_NAME_VALUE,
    CLUSTER_NAME_LABEL,
    COMPONENT,
    CREATION_TIMESTAMP,
    ENABLE_SERVE_SERVICE,
    ENVIRONMENT_LABEL,
    MANAGED_BY,
    RAYCLUSTER,
    USER_LABEL,
    VERSION_LABEL,
)
from app.translate.cluster.auth import to_api_auth_options, to_auth_options
from app.translate.cluster.autoscaler import to_api_autoscaler_options, to_autoscaler_options
from app.translate.cluster.groups import to_api_head_group, to_api_worker_group, to_head_group, to_worker_group
from app.translate.common import go_time_string, metadata, omit_zero, to_rfc3339
from app.translate.enums import Environment
from app.translate.events import to_api_events
from app.types import ComputeTemplate, EnvironmentVariables, HeadGroupSpec, Json, NodeGroupSpec

Templates = Mapping[str, Mapping[str, Any]]


def referenced_templates(spec: Mapping[str, Any] | None) -> list[str]:
    """Distinct compute-template names, head first, in the order they must be read."""
    if not spec:
        return []
    groups = [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpec") or [])]
    return list(dict.fromkeys(name for group in groups if (name := group.get("computeTemplate"))))


def to_raycluster(cluster: Mapping[str, Any], templates: Templates, now: datetime) -> Json:
    """The RayCluster to create for a request; `now` becomes its creation annotation."""
    name, version = cluster.get("name", ""), cluster.get("version", "")
    requested = cluster.get("annotations") or {}
    return {
        "apiVersion": f"{RAYCLUSTER.group}/{RAYCLUSTER.version}",
        "kind": RAYCLUSTER.kind,
        "metadata": {
            "name": name,
            "namespace": cluster.get("namespace", ""),
            "labels": {
                CLUSTER_NAME_LABEL: name,
                USER_LABEL: cluster.get("user", ""),
                VERSION_LABEL: version,
                # An unknown number is written as its decimal string, as Go prints it.
                ENVIRONMENT_LABEL: Environment.name_of(Environment.number(cluster.get("environment"))),
                APP_NAME: APP_NAME_VALUE,
                MANAGED_BY: COMPONENT,
            },
            "annotations": {**requested, CREATION_TIMESTAMP: go_time_string(now)},
        },
        "spec": to_raycluster_spec(
            cluster.get("clusterSpec") or {}, templates, version,
            envs=cluster.get("envs"), serve_ports=requested.get(ENABLE_SERVE_SERVICE) == "true",
        ),
    }


def to_raycluster_spec(spec: Mapping[str, Any], templates: Templates, version: str, *,
                       envs: Mapping[str, Any] | None = None, serve_ports: bool = False) -> Json:
    """A RayCluster `spec`. `envs` go to every Ray container before the group's own environment;
    `serve_ports` adds the Serve ports to the head (RayService clusters, or the serve annotation).
    """
    head = cast(HeadGroupSpec, spec.get("headGroupSpec") or {})
    env_vars = cast(EnvironmentVariables, envs or {})
    built = omit_zero({
        "rayVersion": version,
        "headServiceAnnotations": dict(spec.get("headServiceAnnotations") or {}),
        "headGroupSpec": to_head_group(head, _template(templates, head), version, env_vars, serve_ports),
        "workerGroupSpecs": [
            to_worker_group(worker, _template(templates, worker), version, env_vars)
            for worker in spec.get("workerGroupSpec") or []
        ],
    })
    if spec.get("enableInTreeAutoscaling"):
        built["enableInTreeAutoscaling"] = True
        if spec.get("autoscalerOptions") is not None:
            built["autoscalerOptions"] = to_autoscaler_options(spec["autoscalerOptions"])
    if spec.get("authOptions") is not None:
        built["authOptions"] = to_auth_options(spec["authOptions"])
    return built


def to_api_cluster(raycluster: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Json:
    """The API's view of a RayCluster; `events` are the ones the caller selected for it."""
    meta = metadata(raycluster)
    labels = meta.get("labels") or {}
    status = raycluster.get("status") or {}
    name = meta.get("name", "")
    environment = labels.get(ENVIRONMENT_LABEL, "")
    return omit_zero({
        "name": name,
        "namespace": meta.get("namespace", ""),
        "user": labels.get(USER_LABEL, ""),
        "version": labels.get(VERSION_LABEL, ""),
        # Only a known name counts: a label "7" or "dev" reads as DEV, as upstream.
        "environment": Environment[environment].value if environment in Environment.__members__ else 0,
        "clusterSpec": to_api_cluster_spec(raycluster.get("spec") or {}),
        "annotations": dict(meta.get("annotations") or {}),
        "createdAt": to_rfc3339(meta.get("creationTimestamp")),
        "clusterState": status.get("state", ""),
        "events": to_api_events(events, labels.get(CLUSTER_NAME_LABEL) or name),
        "serviceEndpoint": dict(status.get("endpoints") or {}),
    })


def to_api_cluster_spec(spec: Mapping[str, Any]) -> Json:
    """A RayCluster `spec` read back; `headGroupSpec` is always written, possibly empty."""
    api_spec = omit_zero({
        "workerGroupSpec": [to_api_worker_group(group) for group in spec.get("workerGroupSpecs") or []],
        "headServiceAnnotations": dict(spec.get("headServiceAnnotations") or {}),
    })
    api_spec = {"headGroupSpec": to_api_head_group(spec.get("headGroupSpec") or {}), **api_spec}
    if spec.get("enableInTreeAutoscaling"):
        api_spec["enableInTreeAutoscaling"] = True
        if spec.get("autoscalerOptions") is not None:
            api_spec["autoscalerOptions"] = to_api_autoscaler_options(spec["autoscalerOptions"])
    if auth := to_api_auth_options(spec.get("authOptions") or {}):
        api_spec["authOptions"] = auth
    return api_spec


def _template(templates: Templates, group: NodeGroupSpec) -> ComputeTemplate:
    """The group's template: the service layer has read every one `referenced_templates` names."""
    return cast(ComputeTemplate, templates[group.get("computeTemplate", "")])
