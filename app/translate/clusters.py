"""Clusters: the API's `Cluster` <-> the KubeRay `RayCluster` (ray.io/v1), both directions.

Builds the custom resource exactly as upstream's server does (BEHAVIOR §3.2.4-3.2.11) and reads
one back into the API's shape (§3.2.10), including the pod-template annotations that remember
the requested compute template and image. `to_raycluster_spec` / `to_api_cluster_spec` are the
cluster spec alone, shared with RayJob and RayService translation.
Pure: dicts in, new dicts out; no I/O, no clock (`now` is passed in), no logging. A value that
cannot become a valid object raises `InvalidInput` naming the field.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from app.constants import (
    APP_NAME,
    APP_NAME_VALUE,
    CLUSTER_NAME_LABEL,
    COMPONENT,
    COMPUTE_IMAGE_ANNOTATION,
    COMPUTE_TEMPLATE_ANNOTATION,
    CREATION_TIMESTAMP,
    ENABLE_SERVE_SERVICE,
    ENVIRONMENT_LABEL,
    HEAD_CONTAINER,
    HIDDEN_POD_ANNOTATIONS,
    HIDDEN_POD_LABELS,
    MANAGED_BY,
    RAYCLUSTER,
    USER_LABEL,
    VERSION_LABEL,
    WORKER_CONTAINER,
)
from app.errors import InvalidInput
from app.translate.common import (
    ACCESS_MODE,
    ENV_SOURCE,
    ENVIRONMENT,
    HOST_PATH_TYPE,
    MOUNT_PROPAGATION,
    VOLUME_TYPE,
    go_time_string,
    omit_zero,
    to_rfc3339,
)
from app.translate.compute_templates import DEFAULT_MEMORY_UNIT
from app.translate.events import to_api_events
from app.translate.quantity import canonical_quantity, stored_quantity
from app.types import (
    AutoscalerOptions,
    ComputeTemplate,
    EnvironmentVariables,
    EnvValueFrom,
    HeadGroupSpec,
    SecurityContext,
    Volume,
    WorkerGroupSpec,
)

Json = dict[str, Any]

DEFAULT_IMAGE_REPOSITORY = "rayproject/ray"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
AUTOSCALER_DEFAULT_CPU = "500m"
AUTOSCALER_DEFAULT_MEMORY = "512Mi"

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

_PROPAGATION = {1: "HostToContainer", 2: "Bidirectional"}
_PROPAGATION_MODE = {name: mode for mode, name in _PROPAGATION.items()}
_ACCESS_MODES = {1: "ReadOnlyMany", 2: "ReadWriteMany"}  # anything else: ReadWriteOnce
_ACCESS_MODE = {name: mode for mode, name in _ACCESS_MODES.items()}


# -- API -> RayCluster ----------------------------------------------------------------------


def to_raycluster(cluster: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]],
                  now: datetime) -> Json:
    """The RayCluster to create for a (validated) request; `now` becomes its creation annotation."""
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
                ENVIRONMENT_LABEL: ENVIRONMENT.name(ENVIRONMENT.number(cluster.get("environment"))),
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


def to_raycluster_spec(spec: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]],
                       version: str, *, envs: Mapping[str, Any] | None = None,
                       serve_ports: bool = False) -> Json:
    """A RayCluster `spec`. `envs` go to every Ray container before the group's own environment;
    `serve_ports` adds the Serve ports to the head (RayService clusters, or the serve annotation).
    """
    head = cast(HeadGroupSpec, spec.get("headGroupSpec") or {})
    env_vars = cast(EnvironmentVariables, envs or {})
    built = omit_zero({
        "rayVersion": version,
        "headServiceAnnotations": dict(spec.get("headServiceAnnotations") or {}),
        "headGroupSpec": _head_group(head, templates, version, env_vars, serve_ports),
        "workerGroupSpecs": [
            _worker_group(worker, templates, version, env_vars)
            for worker in spec.get("workerGroupSpec") or []
        ],
    })
    if spec.get("enableInTreeAutoscaling"):
        built["enableInTreeAutoscaling"] = True
        if spec.get("autoscalerOptions") is not None:
            built["autoscalerOptions"] = _autoscaler(spec["autoscalerOptions"])
    return built


def _head_group(head: HeadGroupSpec, templates: Mapping[str, Mapping[str, Any]], version: str,
                envs: EnvironmentVariables, serve_ports: bool) -> Json:
    """No `replicas`: upstream v1.7.0 leaves the head count to the operator."""
    template = _template(templates, head, "headGroupSpec")
    ports = HEAD_PORTS + (SERVE_PORTS if serve_ports else ())
    container = _container(HEAD_CONTAINER, head, template, version, HEAD_ENV, envs, ports)
    return omit_zero({
        "serviceType": head.get("serviceType", ""),
        "enableIngress": bool(head.get("enableIngress")),
        "rayStartParams": dict(head.get("rayStartParams") or {}),
        "template": _pod_template(head, template, container),
    })


def _worker_group(worker: WorkerGroupSpec, templates: Mapping[str, Mapping[str, Any]],
                  version: str, envs: EnvironmentVariables) -> Json:
    """The three counts are always written (the CRD requires min and max); a `minReplicas` or
    `maxReplicas` of 0 is written as `replicas`, as upstream does."""
    template = _template(templates, worker, f"workerGroupSpec {worker.get('groupName', '')}")
    container = _container(WORKER_CONTAINER, worker, template, version, WORKER_ENV, envs, WORKER_PORTS)
    replicas = worker.get("replicas", 0)
    group = {
        "groupName": worker.get("groupName", ""),
        "replicas": replicas,
        "minReplicas": worker.get("minReplicas") or replicas,
        "maxReplicas": worker.get("maxReplicas") or replicas,
    }
    if worker.get("rayStartParams"):
        group["rayStartParams"] = dict(worker["rayStartParams"])
    group["template"] = _pod_template(worker, template, container)
    return group


def _template(templates: Mapping[str, Mapping[str, Any]], group: HeadGroupSpec | WorkerGroupSpec,
              where: str) -> ComputeTemplate:
    name = group.get("computeTemplate", "")
    if name not in templates:
        raise InvalidInput(f"{where} computeTemplate: compute template {name!r} was not provided")
    return cast(ComputeTemplate, templates[name])


def _pod_template(group: HeadGroupSpec | WorkerGroupSpec, template: ComputeTemplate,
                  container: Json) -> Json:
    """The group's annotations may overwrite the two the server uses to rebuild the request."""
    annotations = {
        COMPUTE_TEMPLATE_ANNOTATION: group.get("computeTemplate", ""),
        COMPUTE_IMAGE_ANNOTATION: group.get("image", ""),
        **(group.get("annotations") or {}),
    }
    account, pull_secret = group.get("serviceAccount", ""), group.get("imagePullSecret", "")
    volumes = [_volume(item) for item in group.get("volumes") or []]
    return {
        "metadata": omit_zero({"annotations": annotations, "labels": dict(group.get("labels") or {})}),
        "spec": omit_zero({
            # Upstream ignores one-character names (BEHAVIOR §3.2.4 rule 10).
            "serviceAccountName": account if len(account) > 1 else "",
            "imagePullSecrets": [{"name": pull_secret}] if len(pull_secret) > 1 else [],
            "containers": [container],
            "volumes": volumes,
            "tolerations": [_toleration(item) for item in template.get("tolerations") or []],
        }),
    }


def _container(name: str, group: HeadGroupSpec | WorkerGroupSpec, template: ComputeTemplate,
               version: str, fixed_env: Iterable[Json], envs: EnvironmentVariables,
               ports: Iterable[Json]) -> Json:
    """Env order: the server's variables, the cluster's `envs`, then the group's environment."""
    policy = group.get("imagePullPolicy") or ""
    container = omit_zero({
        "name": name,
        "image": group.get("image") or f"{DEFAULT_IMAGE_REPOSITORY}:{version}",
        "imagePullPolicy": "Always" if policy.lower() == "always" else "IfNotPresent",
        "env": [*copy.deepcopy(list(fixed_env)), *_env(envs), *_env(group.get("environment") or {})],
        "ports": copy.deepcopy(list(ports)),
        "lifecycle": copy.deepcopy(WORKER_LIFECYCLE) if name == WORKER_CONTAINER else {},
        "resources": _resources(template),
        "volumeMounts": [_mount(volume) for volume in group.get("volumes") or []],
    })
    if group.get("securityContext") is not None:
        container["securityContext"] = _security_context(group["securityContext"])
    return container


def _resources(template: ComputeTemplate) -> Json:
    """Limits equal requests. A template stored without a unit is read as Gi, not bytes (§3.1)."""
    memory = f"{template.get('memory', 0)}{template.get('memoryUnit') or DEFAULT_MEMORY_UNIT}"
    try:
        amounts = {"cpu": canonical_quantity(str(template.get("cpu", 0))),
                   "memory": canonical_quantity(memory)}
    except ValueError:
        raise InvalidInput(
            f"compute template {template.get('name', '')}: memory {memory!r} is not a valid quantity"
        ) from None
    gpu = template.get("gpu", 0)
    if gpu:
        amounts[template.get("gpuAccelerator") or DEFAULT_GPU_RESOURCE] = canonical_quantity(str(gpu))
    for resource, count in (template.get("extendedResources") or {}).items():
        if count:
            amounts[resource] = canonical_quantity(str(count))
    return {"limits": amounts, "requests": dict(amounts)}


def _toleration(toleration: Mapping[str, Any]) -> Json:
    """Only the exact spellings survive: other operators become Equal, other effects PreferNoSchedule."""
    operator, effect = toleration.get("operator"), toleration.get("effect")
    return omit_zero({
        "key": toleration.get("key", ""),
        "operator": "Exists" if operator == "Exists" else "Equal",
        "value": toleration.get("value", ""),
        "effect": effect if effect in ("NoExecute", "NoSchedule") else "PreferNoSchedule",
    })


def _env(variables: EnvironmentVariables) -> list[Json]:
    """Literal values first, then references, each in the order the request gave them."""
    literal = [omit_zero({"name": name, "value": value})
               for name, value in (variables.get("values") or {}).items()]
    referenced = [{"name": name, "valueFrom": _env_source(source)}
                  for name, source in (variables.get("valuesFrom") or {}).items()]
    return literal + referenced


def _env_source(source: EnvValueFrom) -> Json:
    """FIELD and any unknown source read `key` as a field path (upstream's default branch)."""
    kind, name, key = ENV_SOURCE.number(source.get("source")), source.get("name", ""), source.get("key", "")
    if kind == 0:
        return {"configMapKeyRef": omit_zero({"name": name}) | {"key": key}}
    if kind == 1:
        return {"secretKeyRef": omit_zero({"name": name}) | {"key": key}}
    if kind == 2:
        return {"resourceFieldRef": omit_zero({"containerName": name}) | {"resource": key}}
    return {"fieldRef": {"fieldPath": key}}


def _security_context(context: SecurityContext) -> Json:
    """`capabilities` is always written, possibly empty; `privileged` whenever it was set."""
    capabilities = context.get("capabilities") or {}
    built: Json = {"capabilities": omit_zero({"add": list(capabilities.get("add") or []),
                                              "drop": list(capabilities.get("drop") or [])})}
    if context.get("privileged") is not None:
        built["privileged"] = bool(context.get("privileged"))
    return built


def _mount(volume: Volume) -> Json:
    """`name` and `mountPath` are required by the CRD, so they are written even when empty."""
    mount: Json = {"name": volume.get("name", ""), "mountPath": volume.get("mountPath", "")}
    if volume.get("readOnly"):
        mount["readOnly"] = True
    propagation = _PROPAGATION.get(MOUNT_PROPAGATION.number(volume.get("mountPropagationMode")))
    if propagation:
        mount["mountPropagation"] = propagation
    return mount


def _volume(volume: Volume) -> Json:
    """The pod volume for one request volume (BEHAVIOR §3.2.7)."""
    name, source = volume.get("name", ""), volume.get("source", "")
    kind = VOLUME_TYPE.number(volume.get("volumeType"))
    if kind == 0:
        claim: Json = {"claimName": source}
        if volume.get("readOnly"):
            claim["readOnly"] = True
        return {"name": name, "persistentVolumeClaim": claim}
    if kind == 1:
        path_type = "File" if HOST_PATH_TYPE.number(volume.get("hostPathType")) == 1 else "Directory"
        return {"name": name, "hostPath": {"path": source, "type": path_type}}
    if kind == 2:
        return {"name": name, "ephemeral": {"volumeClaimTemplate": _claim_template(volume)}}
    if kind in (3, 4):
        items = [{"key": key, "path": path} for key, path in (volume.get("items") or {}).items()]
        if kind == 3:
            return {"name": name, "configMap": {"name": source} | omit_zero({"items": items})}
        return {"name": name, "secret": {"secretName": source} | omit_zero({"items": items})}
    if kind == 5:
        storage = volume.get("storage", "")
        limit = {"sizeLimit": _storage(storage, "empty dir", name)} if storage else {}
        return {"name": name, "emptyDir": limit}
    # Upstream adds no volume but still the mount, so the operator's pods could never start.
    raise InvalidInput(f"volume {name!r}: volumeType {kind} is not a known volume type")


def _claim_template(volume: Volume) -> Json:
    name, storage = volume.get("name", ""), volume.get("storage", "")
    if not storage:
        raise InvalidInput(f"storage for ephemeral volume is empty (volume {name!r})")
    return {
        "metadata": {"labels": {MANAGED_BY: COMPONENT}},
        "spec": omit_zero({
            "accessModes": [_ACCESS_MODES.get(ACCESS_MODE.number(volume.get("accessMode")), "ReadWriteOnce")],
            "storageClassName": volume.get("storageClassName", ""),
            "resources": {"requests": {"storage": _storage(storage, "ephemeral", name)}},
        }),
    }


def _storage(storage: str, kind: str, name: str) -> str:
    try:
        return canonical_quantity(storage)
    except ValueError as exc:
        raise InvalidInput(
            f"storage for {kind} volume is not specified correctly (volume {name!r}): {exc}"
        ) from None


def _autoscaler(options: AutoscalerOptions) -> Json:
    """Only the mounts of `volumes` are used: the autoscaler shares the head pod's volumes."""
    policy = options.get("imagePullPolicy") or ""
    values = (options.get("envs") or {}).get("values") or {}
    references = (options.get("envs") or {}).get("valuesFrom") or {}
    built = omit_zero({
        "idleTimeoutSeconds": max(options.get("idleTimeoutSeconds", 0), 0),
        "upscalingMode": options.get("upscalingMode", ""),
        "image": options.get("image", ""),
        "imagePullPolicy": "Always" if policy.lower() == "always" else "",
        "env": [omit_zero({"name": name, "value": value}) for name, value in values.items()],
        "envFrom": [ref for source in references.values() if (ref := _env_from(source))],
        "volumeMounts": [_mount(volume) for volume in options.get("volumes") or []],
    })
    cpu, memory = options.get("cpu", ""), options.get("memory", "")
    if cpu or memory:
        amounts = {"cpu": _autoscaler_quantity(cpu or AUTOSCALER_DEFAULT_CPU, "cpu"),
                   "memory": _autoscaler_quantity(memory or AUTOSCALER_DEFAULT_MEMORY, "memory")}
        built["resources"] = {"limits": amounts, "requests": dict(amounts)}
    return built


def _env_from(source: EnvValueFrom) -> Json | None:
    """A whole ConfigMap or Secret as environment; `key` and other sources have no meaning here."""
    kind = ENV_SOURCE.number(source.get("source"))
    if kind not in (0, 1):
        return None
    return {"configMapRef" if kind == 0 else "secretRef": {"name": source.get("name", "")}}


def _autoscaler_quantity(value: str, field: str) -> str:
    try:
        return canonical_quantity(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} for autoscaler is not specified correctly: {exc}") from None


# -- RayCluster -> API ----------------------------------------------------------------------


def to_api_cluster(raycluster: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Json:
    """The API's view of a RayCluster; `events` are the ones the caller selected for it."""
    metadata = raycluster.get("metadata") or {}
    labels = metadata.get("labels") or {}
    status = raycluster.get("status") or {}
    name = metadata.get("name", "")
    environment = labels.get(ENVIRONMENT_LABEL, "")
    return omit_zero({
        "name": name,
        "namespace": metadata.get("namespace", ""),
        "user": labels.get(USER_LABEL, ""),
        "version": labels.get(VERSION_LABEL, ""),
        # Only a known name counts: a label "7" or "dev" reads as DEV, as upstream.
        "environment": ENVIRONMENT.names.index(environment) if environment in ENVIRONMENT.names else 0,
        "clusterSpec": to_api_cluster_spec(raycluster.get("spec") or {}),
        "annotations": dict(metadata.get("annotations") or {}),
        "createdAt": to_rfc3339(metadata.get("creationTimestamp")),
        "clusterState": status.get("state", ""),
        "events": to_api_events(events, labels.get(CLUSTER_NAME_LABEL) or name),
        "serviceEndpoint": dict(status.get("endpoints") or {}),
    })


def to_api_cluster_spec(spec: Mapping[str, Any]) -> Json:
    """A RayCluster `spec` read back; `headGroupSpec` is always written, possibly empty."""
    api_spec = omit_zero({
        "workerGroupSpec": [_api_worker_group(group) for group in spec.get("workerGroupSpecs") or []],
        "headServiceAnnotations": dict(spec.get("headServiceAnnotations") or {}),
    })
    api_spec = {"headGroupSpec": _api_head_group(spec.get("headGroupSpec") or {}), **api_spec}
    if spec.get("enableInTreeAutoscaling"):
        api_spec["enableInTreeAutoscaling"] = True
        if spec.get("autoscalerOptions") is not None:
            api_spec["autoscalerOptions"] = _api_autoscaler(spec["autoscalerOptions"])
    return api_spec


def _api_head_group(group: Mapping[str, Any]) -> Json:
    pod = group.get("template") or {}
    return _api_node_group(pod, HEAD_CONTAINER, HIDDEN_HEAD_ENV, {
        "serviceType": group.get("serviceType", ""),
        "enableIngress": bool(group.get("enableIngress")),
        "rayStartParams": dict(group.get("rayStartParams") or {}),
    })


def _api_worker_group(group: Mapping[str, Any]) -> Json:
    pod = group.get("template") or {}
    name = omit_zero({"groupName": group.get("groupName", "")})
    return name | _api_node_group(pod, WORKER_CONTAINER, HIDDEN_WORKER_ENV, {
        "replicas": group.get("replicas") or 0,
        "minReplicas": group.get("minReplicas") or 0,
        "maxReplicas": group.get("maxReplicas") or 0,
        "rayStartParams": dict(group.get("rayStartParams") or {}),
    })


def _api_node_group(pod: Mapping[str, Any], container_name: str, hidden_env: frozenset[str],
                    own: Json) -> Json:
    """What head and worker groups share: all read from the pod template."""
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations = metadata.get("annotations") or {}
    containers = spec.get("containers") or []
    container = next((c for c in containers if c.get("name") == container_name), None)
    account = spec.get("serviceAccountName", "")
    pull_secrets = spec.get("imagePullSecrets") or [{}]
    group = omit_zero({
        "computeTemplate": annotations.get(COMPUTE_TEMPLATE_ANNOTATION, ""),
        "image": annotations.get(COMPUTE_IMAGE_ANNOTATION, ""),
        **own,
        "volumes": _api_volumes(spec.get("volumes") or [], containers),
        "serviceAccount": account if len(account) > 1 else "",
        "imagePullSecret": pull_secrets[0].get("name", ""),
        "annotations": {k: v for k, v in annotations.items() if k not in HIDDEN_POD_ANNOTATIONS},
        "labels": {k: v for k, v in (metadata.get("labels") or {}).items() if k not in HIDDEN_POD_LABELS},
        "imagePullPolicy": "Always" if containers and containers[0].get("imagePullPolicy") == "Always" else "",
    })
    if container is not None and container.get("env"):
        group["environment"] = _api_environment(container["env"], hidden_env)
    if container is not None and container.get("securityContext") is not None:
        group["securityContext"] = _api_security_context(container["securityContext"])
    return group


def _api_environment(env: Iterable[Mapping[str, Any]], hidden: frozenset[str]) -> Json:
    """Written even when empty (`{}`): upstream returns it whenever the container has any env."""
    values: dict[str, str] = {}
    references: dict[str, Json] = {}
    for variable in env:
        name = variable.get("name", "")
        if name in hidden:
            continue
        source = variable.get("valueFrom")
        if source is None:
            values[name] = variable.get("value", "")
        elif (reference := _api_env_source(source)) is not None:
            references[name] = reference
    return omit_zero({"values": values, "valuesFrom": references})


def _api_env_source(source: Mapping[str, Any]) -> Json | None:
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"] or {}
        return omit_zero({"name": ref.get("name", ""), "key": ref.get("key", "")})
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"] or {}
        return omit_zero({"source": 1, "name": ref.get("name", ""), "key": ref.get("key", "")})
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"] or {}
        return omit_zero({"source": 2, "name": ref.get("containerName", ""), "key": ref.get("resource", "")})
    if "fieldRef" in source:
        return omit_zero({"source": 3, "key": (source["fieldRef"] or {}).get("fieldPath", "")})
    return None  # a kind the API cannot express


def _api_security_context(context: Mapping[str, Any]) -> Json:
    capabilities = context.get("capabilities") or {}
    api_context: Json = {"capabilities": omit_zero({"add": list(capabilities.get("add") or []),
                                                    "drop": list(capabilities.get("drop") or [])})}
    if context.get("privileged") is not None:
        api_context["privileged"] = context["privileged"]
    return api_context


def _api_volumes(volumes: Iterable[Mapping[str, Any]], containers: Iterable[Mapping[str, Any]]) -> list[Json]:
    """Each pod volume with its mount, looked up by name in every container; unknown kinds are skipped.

    A volume nobody mounts has no `mountPath` (upstream crashes on it, BEHAVIOR §2.6).
    """
    mounts: dict[str, Mapping[str, Any]] = {}
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            mounts.setdefault(mount.get("name", ""), mount)
    api_volumes = []
    for volume in volumes:
        api_volume = _api_volume(volume, mounts.get(volume.get("name", ""), {}))
        if api_volume is not None:
            api_volumes.append(api_volume)
    return api_volumes


def _api_volume(volume: Mapping[str, Any], mount: Mapping[str, Any]) -> Json | None:
    """Which fields come back depends on the kind, as upstream's converter reads them (§3.2.7)."""
    common = {"name": volume.get("name", ""), "mountPath": mount.get("mountPath", "")}
    propagation = _PROPAGATION_MODE.get(mount.get("mountPropagation", ""), 0)
    if "configMap" in volume or "secret" in volume:
        kind, source = (3, volume["configMap"]) if "configMap" in volume else (4, volume["secret"])
        source = source or {}
        items = {item.get("key", ""): item.get("path", "") for item in source.get("items") or []}
        name = source.get("name", "") if kind == 3 else source.get("secretName", "")
        return omit_zero({**common, "volumeType": kind, "source": name, "items": items})
    if "emptyDir" in volume:
        limit = (volume["emptyDir"] or {}).get("sizeLimit")
        return omit_zero({**common, "volumeType": 5, "storage": stored_quantity(limit)})
    if "hostPath" in volume:
        host = volume["hostPath"] or {}
        return omit_zero({**common, "volumeType": 1, "source": host.get("path", ""),
                          "hostPathType": 1 if host.get("type") == "File" else 0,
                          "mountPropagationMode": propagation})
    if "persistentVolumeClaim" in volume:
        claim = volume["persistentVolumeClaim"] or {}
        return omit_zero({**common, "source": claim.get("claimName", ""),
                          "readOnly": bool(claim.get("readOnly")), "mountPropagationMode": propagation})
    if "ephemeral" in volume:
        spec = ((volume["ephemeral"] or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
        modes = spec.get("accessModes") or [""]
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        return omit_zero({**common, "volumeType": 2, "mountPropagationMode": propagation,
                          "accessMode": _ACCESS_MODE.get(modes[0], 0), "storage": stored_quantity(storage),
                          "storageClassName": spec.get("storageClassName", "")})
    return None


def _api_env_from(ref: Mapping[str, Any]) -> Json:
    """Position-keyed: the CR has no variable names for whole ConfigMaps or Secrets."""
    if "configMapRef" in ref:
        return omit_zero({"name": (ref["configMapRef"] or {}).get("name", "")})
    return omit_zero({"source": 1, "name": (ref.get("secretRef") or {}).get("name", "")})




def _api_autoscaler(options: Mapping[str, Any]) -> Json:
    resources = options.get("resources") or {}
    amounts = resources.get("limits") or resources.get("requests") or {}
    env = options.get("env") or []
    env_from = options.get("envFrom") or []
    envs: Json = omit_zero({
        "values": {variable.get("name", ""): variable.get("value", "") for variable in env},
        "valuesFrom": {
            str(index): _api_env_from(ref) for index, ref in enumerate(env_from)
        },
    })
    return omit_zero({
        "idleTimeoutSeconds": options.get("idleTimeoutSeconds") or 0,
        "upscalingMode": options.get("upscalingMode", ""),
        "image": options.get("image", ""),
        "imagePullPolicy": options.get("imagePullPolicy", ""),
        "cpu": stored_quantity(amounts.get("cpu")),
        "memory": stored_quantity(amounts.get("memory")),
        "envs": envs,
        "volumes": [
            omit_zero({"name": mount.get("name", ""), "mountPath": mount.get("mountPath", ""),
                       "readOnly": bool(mount.get("readOnly")),
                       "mountPropagationMode": _PROPAGATION_MODE.get(mount.get("mountPropagation", ""), 0)})
            for mount in options.get("volumeMounts") or []
        ],
    })
