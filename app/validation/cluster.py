"""Clusters and the cluster spec that jobs and services share: groups, replicas, pull policies,
volumes, the autoscaler's resources, and the Ray version token authentication needs."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import InvalidInput
from app.settings import MAX_WORKERS_PER_CLUSTER
from app.translate.enums import VolumeType
from app.validation.common import DEFAULT_LIMITS, Limits, check_quantity, check_request

_COUNTS = ("replicas", "minReplicas", "maxReplicas")
# Upstream compares case-sensitively here, although its builder then lower-cases the policy.
PULL_POLICIES = ("", "Always", "IfNotPresent")


def check_cluster(cluster: Mapping[str, Any], namespace: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """The cluster's own fields, then its spec."""
    check_request(cluster, namespace, "cluster", "User who create the cluster is empty. Please specify a valid value.")
    check_cluster_spec(cluster.get("clusterSpec"), limits)
    check_auth_version(cluster.get("clusterSpec"), cluster.get("version", ""))


# The operator's rule (ray-operator/controllers/ray/utils/validation.go@v1.6.2, ValidateRayClusterSpec):
# a RayCluster with token authentication needs Ray 2.52.0 or later, its version read as
# k8s.io/apimachinery's `version.ParseGeneric` reads it (`v` first allowed, at least two numbers).
AUTH_MIN_VERSION = (2, 52, 0)
_GENERIC_VERSION = re.compile(r"v?([0-9]+(?:\.[0-9]+)+)")


def check_auth_version(spec: Mapping[str, Any] | None, version: str) -> None:
    """Token authentication (`authOptions` with mode `token`, or none: the default) with a Ray the
    operator would refuse it for: refused here, before the object the operator would never start."""
    options = (spec or {}).get("authOptions")
    if options is None or options.get("mode") == "disabled":
        return
    parsed = _GENERIC_VERSION.fullmatch(str(version))
    numbers = tuple(int(part) for part in parsed.group(1).split(".")) if parsed else ()
    if numbers < AUTH_MIN_VERSION:
        raise InvalidInput(f"Field 'clusterSpec.authOptions' asks for Ray token authentication, which needs Ray "
                           f'2.52.0 or later (the KubeRay operator refuses older), and the version is "{version}".')


def check_cluster_spec(spec: Mapping[str, Any] | None, limits: Limits = DEFAULT_LIMITS) -> None:
    """The groups (`check_spec_groups`), then what they hold (`check_spec_contents`)."""
    check_spec_contents(check_spec_groups(spec, limits))


def check_spec_groups(spec: Mapping[str, Any] | None, limits: Limits) -> Mapping[str, Any]:
    """Upstream's rules: the head group, then each worker group by 0-based index; then the
    server's ceiling on the workers of one cluster. Returns `spec`."""
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
    workers = spec.get("workerGroupSpec") or []
    for index, worker in enumerate(workers):
        _check_worker(index, worker)
    _check_total_workers(workers, limits.max_workers_per_cluster)
    return spec


def check_spec_contents(spec: Mapping[str, Any]) -> None:
    """What no RayCluster could be built with: the head's volumes, each worker's, then the autoscaler's
    cpu and memory (only read when in-tree autoscaling is on)."""
    for group in [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpec") or [])]:
        for volume in group.get("volumes") or []:
            _check_volume(volume)
    options = spec.get("autoscalerOptions")
    if spec.get("enableInTreeAutoscaling") and options is not None:
        for field in ("cpu", "memory"):
            if options.get(field):
                check_quantity(options[field], f"{field} for autoscaler is not specified correctly", with_reason=True)


def _check_worker(index: int, worker: Mapping[str, Any]) -> None:
    prefix = f"WorkerNodeSpec {index}"
    if not worker.get("groupName"):
        raise InvalidInput(f"{prefix} group name is empty. Please specify a valid value.")
    if not worker.get("computeTemplate"):
        raise InvalidInput(f"{prefix} compute template is empty. Please specify a valid value.")
    max_replicas = worker.get("maxReplicas", 0)
    if not max_replicas:
        raise InvalidInput(f"{prefix} MaxReplicas can not be 0. Please specify a valid value.")
    for field in _COUNTS:
        if worker.get(field, 0) < 0:
            raise InvalidInput(f"Field '{_worker_field(index, field)}' must not be negative, not {worker[field]}.")
    if worker.get("minReplicas", 0) > max_replicas:
        raise InvalidInput(f"{prefix} MinReplica > MaxReplicas. Please specify a valid value.")
    _check_replicas_in_range(index, worker)
    if worker.get("imagePullPolicy", "") not in PULL_POLICIES:
        raise InvalidInput(
            "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"
        )


def _check_replicas_in_range(index: int, worker: Mapping[str, Any]) -> None:
    """`minReplicas <= replicas <= maxReplicas` once a `minReplicas` of 0 stands for `replicas`,
    as translation writes it: the operator would otherwise start a count outside the bounds given."""
    replicas = worker.get("replicas", 0)
    min_replicas = worker.get("minReplicas") or replicas
    max_replicas = worker["maxReplicas"]
    if replicas < min_replicas:
        raise InvalidInput(f"Field '{_worker_field(index, 'replicas')}' is {replicas}, less than minReplicas "
                           f"{min_replicas}: it must be between minReplicas and maxReplicas.")
    if replicas > max_replicas:
        raise InvalidInput(f"Field '{_worker_field(index, 'replicas')}' is {replicas}, more than maxReplicas "
                           f"{max_replicas}: it must be between minReplicas and maxReplicas.")


def _check_total_workers(workers: Sequence[Mapping[str, Any]], limit: int) -> None:
    """One request must not be able to start more pods than the control plane can take."""
    total = sum(worker.get("maxReplicas", 0) for worker in workers)
    if limit and total > limit:
        raise InvalidInput(
            f"The worker groups of clusterSpec allow {total} workers in total (the sum of their maxReplicas), "
            f"more than this server's limit of {limit} per cluster: lower maxReplicas, or have the server's "
            f"administrator raise {MAX_WORKERS_PER_CLUSTER} (0 means no limit)."
        )


def _worker_field(index: int, field: str) -> str:
    return f"clusterSpec.workerGroupSpec[{index}].{field}"


def _check_volume(volume: Mapping[str, Any]) -> None:
    """An unknown type is refused: upstream adds no pod volume but still the mount, so the pods never start."""
    name, storage = volume.get("name", ""), volume.get("storage", "")
    kind = VolumeType.number(volume.get("volumeType"))
    if kind == VolumeType.EPHEMERAL:
        if not storage:
            raise InvalidInput(f"storage for ephemeral volume is empty (volume {name!r})")
        _check_storage(storage, "ephemeral", name)
    elif kind == VolumeType.EMPTY_DIR and storage:
        _check_storage(storage, "empty dir", name)
    elif not VolumeType.known(kind):
        raise InvalidInput(f"volume {name!r}: volumeType {kind} is not a known volume type")


def _check_storage(storage: str, kind: str, name: str) -> None:
    check_quantity(storage, f"storage for {kind} volume is not specified correctly (volume {name!r})", with_reason=True)
