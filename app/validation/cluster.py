"""Clusters and the cluster spec that jobs and services share: groups, replicas, pull policies,
volumes and the autoscaler's resources."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.translate.enums import VolumeType
from app.validation.common import check_quantity, check_request

# Upstream compares case-sensitively here, although its builder then lower-cases the policy.
PULL_POLICIES = ("", "Always", "IfNotPresent")


def check_cluster(cluster: Mapping[str, Any], namespace: str) -> None:
    """The cluster's own fields, then its spec."""
    check_request(cluster, namespace, "cluster", "User who create the cluster is empty. Please specify a valid value.")
    check_cluster_spec(cluster.get("clusterSpec"))


def check_cluster_spec(spec: Mapping[str, Any] | None) -> None:
    """The groups (`check_spec_groups`), then what they hold (`check_spec_contents`)."""
    check_spec_contents(check_spec_groups(spec))


def check_spec_groups(spec: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Upstream's rules: the head group, then each worker group by 0-based index. Returns `spec`."""
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
    if worker.get("minReplicas", 0) > max_replicas:
        raise InvalidInput(f"{prefix} MinReplica > MaxReplicas. Please specify a valid value.")
    if worker.get("imagePullPolicy", "") not in PULL_POLICIES:
        raise InvalidInput(
            "Worker GroupSpec unsupported value for Image pull policy. Please specify Always or IfNotPresent"
        )


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
