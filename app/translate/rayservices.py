"""Ray services, both directions: the API's `RayService` <-> a RayService custom resource.

Also owns v1.0.0's `serveDeploymentGraphSpec` (KubeRay v1.0.0, removed in v1.1.0), which today's
CRD no longer has: it becomes the equivalent single-application `serveConfigV2`, and the graph
spec itself is kept in an annotation so that responses show what the client sent. The service's
cluster is built and read by `app.translate.cluster`. Pure: no I/O, no clock, no logging.
Input is valid: validation has checked that there is one serve configuration and that the
graph's YAML fields are mappings and its route prefixes agree.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import yaml

from app.constants import (
    APP_NAME,
    APP_NAME_VALUE,
    COMPONENT,
    CREATION_TIMESTAMP,
    MANAGED_BY,
    RAYSERVICE,
    SERVE_CONFIG_DIGEST,
    SERVE_DEPLOYMENT_GRAPH_SPEC,
    UPDATE_TIMESTAMP,
    USER_LABEL,
)
from app.translate.cluster import to_api_cluster_spec, to_raycluster_spec
from app.translate.common import go_time_string, metadata, omit_zero, positive, to_rfc3339, yaml_mapping
from app.translate.events import to_api_events
from app.types import ActorOptions, Json, RayService, ServeConfig, ServeDeploymentGraphSpec

# Upstream sends a Timestamp of seconds -1 while the service is not being deleted.
NOT_DELETING = "1969-12-31T23:59:59Z"
# Ray Serve's name for the one application of a v1.0.0 (single-application) config.
GRAPH_APPLICATION = "default"
GRAPH = "serveDeploymentGraphSpec"
# Ray 2.10 renamed `max_concurrent_queries` to `max_ongoing_requests`.
_RAY_VERSION = re.compile(r"(\d+)\.(\d+)")
_MAX_QUERIES_RENAMED_IN = (2, 10)


def to_rayservice(service: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]],
                  now: datetime) -> Json:
    """The RayService to create, stamped `ray.io/creation-timestamp`."""
    return _rayservice(cast(RayService, service), templates, {CREATION_TIMESTAMP: go_time_string(now)})


def to_rayservice_update(service: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]],
                         existing: Mapping[str, Any], now: datetime) -> Json:
    """The full replacement for `existing` (PUT): rebuilt from the request alone,
    annotated only `ray.io/update-timestamp` (plus the graph spec, if the request has one), and
    carrying the existing `resourceVersion` so that a concurrent change makes the update fail."""
    rayservice = _rayservice(cast(RayService, service), templates, {UPDATE_TIMESTAMP: go_time_string(now)})
    resource_version = metadata(existing).get("resourceVersion", "")
    if resource_version:
        rayservice["metadata"]["resourceVersion"] = resource_version
    return rayservice


def to_api_service(rayservice: Mapping[str, Any], events: list[Json]) -> Json:
    """The API's `RayService`; `events` are the service's own, then its active cluster's.

    `rayServiceStatus` and `deleteAt` are always present, as upstream writes them.
    """
    meta = metadata(rayservice)
    spec = rayservice.get("spec") or {}
    cluster = spec.get("rayClusterConfig")
    serve_config = spec.get("serveConfigV2", "")
    graph = _stored_graph(meta.get("annotations") or {}, serve_config)
    name = meta.get("name", "")
    service = omit_zero({
        "name": name,
        "namespace": meta.get("namespace", ""),
        "user": (meta.get("labels") or {}).get(USER_LABEL, ""),
        "version": (cluster or {}).get("rayVersion", ""),
        GRAPH: graph,
        "serveConfigV2": "" if graph else serve_config,
        "serviceUnhealthySecondThreshold": spec.get("serviceUnhealthySecondThreshold", 0),
        "deploymentUnhealthySecondThreshold": spec.get("deploymentUnhealthySecondThreshold", 0),
        "clusterSpec": to_api_cluster_spec(cluster) if cluster is not None else None,
    })
    service["rayServiceStatus"] = _api_status(rayservice.get("status") or {}, events, name)
    if meta.get("creationTimestamp"):
        service["createdAt"] = to_rfc3339(meta["creationTimestamp"])
    deleted = meta.get("deletionTimestamp")
    service["deleteAt"] = to_rfc3339(deleted) if deleted else NOT_DELETING
    return service


# -- to Kubernetes ------------------------------------------------------------------------


def _rayservice(service: RayService, templates: Mapping[str, Mapping[str, Any]],
                annotations: dict[str, str]) -> Json:
    """As upstream: no cluster-name, version or environment labels; serve ports on the head."""
    graph = service.get("serveDeploymentGraphSpec")
    if graph is not None:
        canonical = _canonical_graph(graph)
        serve_config = _graph_serve_config(canonical, _max_queries_key(service))
        annotations = {
            **annotations,
            SERVE_DEPLOYMENT_GRAPH_SPEC: json.dumps(canonical, separators=(",", ":"), ensure_ascii=False),
            SERVE_CONFIG_DIGEST: _digest(serve_config),
        }
    else:
        serve_config = service.get("serveConfigV2", "")
    spec = omit_zero({
        "serveConfigV2": serve_config,
        "serviceUnhealthySecondThreshold": positive(service.get("serviceUnhealthySecondThreshold", 0)),
        "deploymentUnhealthySecondThreshold": positive(service.get("deploymentUnhealthySecondThreshold", 0)),
    })
    spec["rayClusterConfig"] = to_raycluster_spec(
        service.get("clusterSpec") or {}, templates, service.get("version", ""), serve_ports=True)
    return {
        "apiVersion": f"{RAYSERVICE.group}/{RAYSERVICE.version}",
        "kind": RAYSERVICE.kind,
        "metadata": {
            "name": service.get("name", ""),
            "namespace": service.get("namespace", ""),
            "labels": {USER_LABEL: service.get("user", ""), APP_NAME: APP_NAME_VALUE, MANAGED_BY: COMPONENT},
            "annotations": annotations,
        },
        "spec": spec,
    }


# -- the v1.0.0 deployment graph ----------------------------------------------------------


def _canonical_graph(graph: Mapping[str, Any]) -> Json:
    """The graph spec as upstream's gateway writes it back: zero values omitted, uint64 as strings."""
    request = cast(ServeDeploymentGraphSpec, graph)
    canonical = omit_zero({
        "importPath": request.get("importPath", ""),
        "runtimeEnv": request.get("runtimeEnv", ""),
    })
    if request.get("serveConfigs"):
        canonical["serveConfigs"] = [_canonical_config(config) for config in request["serveConfigs"]]
    return canonical


def _canonical_config(config: ServeConfig) -> Json:
    canonical = omit_zero({
        "deploymentName": config.get("deploymentName", ""),
        "replicas": config.get("replicas", 0),
        "routePrefix": config.get("routePrefix", ""),
        "maxConcurrentQueries": config.get("maxConcurrentQueries", 0),
        "userConfig": config.get("userConfig", ""),
        "autoscalingConfig": config.get("autoscalingConfig", ""),
    })
    if "actorOptions" in config:
        options: ActorOptions = config["actorOptions"]
        canonical["actorOptions"] = omit_zero({
            "runtimeEnv": options.get("runtimeEnv", ""),
            "cpusPerActor": options.get("cpusPerActor", 0),
            "gpusPerActor": options.get("gpusPerActor", 0),
            "memoryPerActor": _uint64(options.get("memoryPerActor", 0)),
            "objectStoreMemoryPerActor": _uint64(options.get("objectStoreMemoryPerActor", 0)),
            "customResource": options.get("customResource", ""),
            "accceleratorType": options.get("accceleratorType", ""),
        })
    return canonical


def _graph_serve_config(graph: Mapping[str, Any], max_queries_key: str) -> str:
    """The single-application Serve config v1.0.0's operator would have deployed.

    Route prefixes move from the deployments to the application, which has one (validation has
    refused deployments whose prefixes disagree).
    """
    configs = graph.get("serveConfigs") or []
    application: Json = {"name": GRAPH_APPLICATION, "import_path": graph.get("importPath", "")}
    prefixes = route_prefixes(configs)
    if prefixes:
        application["route_prefix"] = prefixes[0]
    runtime_env = yaml_mapping(graph.get("runtimeEnv", ""))
    if runtime_env:
        application["runtime_env"] = runtime_env
    if configs:
        application["deployments"] = [_deployment(config, max_queries_key) for config in configs]
    text: str = yaml.safe_dump({"applications": [application]}, sort_keys=False, allow_unicode=True)
    return text


def _deployment(config: Mapping[str, Any], max_queries_key: str) -> Json:
    """`num_replicas` only when > 0 and not autoscaled: Ray Serve refuses it beside an autoscaling config."""
    autoscaling = yaml_mapping(config.get("autoscalingConfig", ""))
    deployment: Json = {"name": config.get("deploymentName", "")}
    if config.get("replicas", 0) > 0 and not autoscaling:
        deployment["num_replicas"] = config["replicas"]
    if config.get("maxConcurrentQueries", 0) > 0:
        deployment[max_queries_key] = config["maxConcurrentQueries"]
    user_config = yaml_mapping(config.get("userConfig", ""))
    if user_config:
        deployment["user_config"] = user_config
    if autoscaling:
        deployment["autoscaling_config"] = autoscaling
    options = _actor_options(config.get("actorOptions") or {})
    if options:
        deployment["ray_actor_options"] = options
    return deployment


def _actor_options(options: Mapping[str, Any]) -> Json:
    return omit_zero({
        "runtime_env": yaml_mapping(options.get("runtimeEnv", "")),
        "num_cpus": positive(options.get("cpusPerActor", 0)),
        "num_gpus": positive(options.get("gpusPerActor", 0)),
        "memory": int(options.get("memoryPerActor", 0)),
        "object_store_memory": int(options.get("objectStoreMemoryPerActor", 0)),
        "resources": yaml_mapping(options.get("customResource", "")),
        "accelerator_type": options.get("accceleratorType", ""),
    })


def route_prefixes(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct route prefixes of a graph's deployments: its one application takes at most one."""
    return list(dict.fromkeys(prefix for config in configs if (prefix := config.get("routePrefix"))))


def _max_queries_key(service: RayService) -> str:
    """The Serve field for `maxConcurrentQueries` in the cluster's Ray: `version`, else the head image tag."""
    head = (service.get("clusterSpec") or {}).get("headGroupSpec") or {}
    version = service.get("version") or head.get("image", "").rpartition(":")[2]
    match = _RAY_VERSION.match(version)
    if match and (int(match[1]), int(match[2])) < _MAX_QUERIES_RENAMED_IN:
        return "max_concurrent_queries"
    return "max_ongoing_requests"


def _stored_graph(annotations: Mapping[str, str], serve_config: str) -> Json | None:
    """The graph spec a service was made from, while its serveConfigV2 is still the one generated from it."""
    text = annotations.get(SERVE_DEPLOYMENT_GRAPH_SPEC)
    if not text or annotations.get(SERVE_CONFIG_DIGEST) != _digest(serve_config):
        return None
    try:
        graph = json.loads(text)
    except ValueError:
        return None
    return graph if isinstance(graph, dict) else None


def _digest(serve_config: str) -> str:
    return hashlib.sha256(serve_config.encode()).hexdigest()


def _uint64(value: int | str) -> str:
    number = int(value)
    return str(number) if number else ""


# -- from Kubernetes ----------------------------------------------------------------------


def _api_status(status: Mapping[str, Any], events: list[Json], name: str) -> Json:
    """The active cluster's status only (the pending one is ignored, as upstream); maps sorted by name."""
    active = status.get("activeServiceStatus") or {}
    cluster = active.get("rayClusterStatus") or {}
    applications = active.get("applicationStatuses") or {}
    return omit_zero({
        "rayServiceEvents": to_api_events(events, name),
        "rayClusterName": active.get("rayClusterName", ""),
        "rayClusterState": cluster.get("state", ""),
        "serviceEndpoint": dict(cluster.get("endpoints") or {}),
        "serveApplicationStatus": [
            _api_application(app_name, applications[app_name]) for app_name in sorted(applications)
        ],
    })


def _api_application(name: str, application: Mapping[str, Any]) -> Json:
    deployments = application.get("serveDeploymentStatuses") or {}
    return omit_zero({
        "name": name,
        "status": application.get("status", ""),
        "message": application.get("message", ""),
        "serveDeploymentStatus": [
            omit_zero({
                "deploymentName": deployment,
                "status": deployments[deployment].get("status", ""),
                "message": deployments[deployment].get("message", ""),
            })
            for deployment in sorted(deployments)
        ],
    })
