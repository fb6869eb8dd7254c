"""Ray jobs, both directions: the API's `RayJob` <-> a RayJob custom resource.

The job's own cluster is built and read by `app.translate.cluster`; this module owns the RayJob
around it and the job submitter pod. Pure: no I/O, no clock, no logging; inputs are never
modified. Input is valid: validation has refused submitter cpu or memory that is no quantity.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from app.constants import (
    APP_NAME,
    APP_NAME_VALUE,
    CLUSTER_NAME_LABEL,
    COMPONENT,
    MANAGED_BY,
    RAYJOB,
    SUBMITTER_CONTAINER,
    USER_LABEL,
)
from app.translate.cluster import to_api_cluster_spec, to_raycluster_spec
from app.translate.common import metadata, omit_zero, positive, positive_float32, present_rfc3339
from app.translate.quantity import canonical_quantity, stored_quantity
from app.types import Json, RayJob, RayJobSubmitter

# What the submitter container gets when the request leaves cpu/memory empty (upstream's defaults).
SUBMITTER_CPU = "1"
SUBMITTER_MEMORY = "1Gi"


def to_rayjob(job: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]]) -> Json:
    """The RayJob to create; `templates` holds every template of `clusterSpec` by name.

    Unlike upstream, `entrypointNumGpus` is written (upstream assigns it to a copy of the spec,
    so it is lost).
    """
    request = cast(RayJob, job)
    name = request.get("name", "")
    metadata = dict(request.get("metadata") or {})
    spec = omit_zero({
        "entrypoint": request.get("entrypoint", ""),
        "metadata": metadata,
        "runtimeEnvYAML": request.get("runtimeEnv", ""),
        "jobId": request.get("jobId", ""),
        "shutdownAfterJobFinishes": request.get("shutdownAfterJobFinishes", False),
        "ttlSecondsAfterFinished": request.get("ttlSecondsAfterFinished", 0),
        "clusterSelector": dict(request.get("clusterSelector") or {}),
        "entrypointNumCpus": positive(request.get("entrypointNumCpus", 0)),
        "entrypointNumGpus": positive(request.get("entrypointNumGpus", 0)),
        "entrypointResources": request.get("entrypointResources", ""),
        "activeDeadlineSeconds": positive(request.get("activeDeadlineSeconds", 0)),
    })
    if "clusterSpec" in request:
        spec["rayClusterSpec"] = to_raycluster_spec(request["clusterSpec"], templates, request.get("version", ""))
    if "jobSubmitter" in request:
        spec["submitterPodTemplate"] = _submitter_pod_template(request["jobSubmitter"])
    return {
        "apiVersion": f"{RAYJOB.group}/{RAYJOB.version}",
        "kind": RAYJOB.kind,
        "metadata": omit_zero({
            "name": name,
            "namespace": request.get("namespace", ""),
            "labels": {
                CLUSTER_NAME_LABEL: name,
                USER_LABEL: request.get("user", ""),
                APP_NAME: APP_NAME_VALUE,
                MANAGED_BY: COMPONENT,
            },
            "annotations": dict(metadata),  # the same map as spec.metadata, as upstream
        }),
        "spec": spec,
    }


def to_api_job(rayjob: Mapping[str, Any]) -> Json:
    """The API's `RayJob` for a RayJob as Kubernetes holds it (`activeDeadlineSeconds` is not returned)."""
    meta = metadata(rayjob)
    spec = rayjob.get("spec") or {}
    status = rayjob.get("status") or {}
    cluster = spec.get("rayClusterSpec")
    job = omit_zero({
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "user": (meta.get("labels") or {}).get(USER_LABEL, ""),
        "version": (cluster or {}).get("rayVersion", ""),
        "entrypoint": spec.get("entrypoint", ""),
        "metadata": spec.get("metadata"),
        "runtimeEnv": spec.get("runtimeEnvYAML", ""),
        "jobId": status.get("jobId", ""),
        "shutdownAfterJobFinishes": spec.get("shutdownAfterJobFinishes", False),
        "clusterSelector": spec.get("clusterSelector"),
        "clusterSpec": to_api_cluster_spec(cluster) if cluster is not None else None,
        "ttlSecondsAfterFinished": spec.get("ttlSecondsAfterFinished", 0),
        "createdAt": present_rfc3339(meta.get("creationTimestamp")),
        "deleteAt": present_rfc3339(meta.get("deletionTimestamp")),
        "jobStatus": status.get("jobStatus", ""),
        "jobDeploymentStatus": status.get("jobDeploymentStatus", ""),
        "message": status.get("message", ""),
        "entrypointNumCpus": positive_float32(spec.get("entrypointNumCpus", 0)),
        "entrypointNumGpus": positive_float32(spec.get("entrypointNumGpus", 0)),
        "entrypointResources": spec.get("entrypointResources", ""),
        "startTime": present_rfc3339(status.get("startTime")),
        "endTime": present_rfc3339(status.get("endTime")),
        "rayClusterName": status.get("rayClusterName", ""),
    })
    if spec.get("submitterPodTemplate") is not None:
        job["jobSubmitter"] = _api_submitter(spec["submitterPodTemplate"])
    return job


def _submitter_pod_template(submitter: Mapping[str, Any]) -> Json:
    """Requests equal limits; the operator supplies the command."""
    request = cast(RayJobSubmitter, submitter)
    quantities = {
        "cpu": canonical_quantity(request.get("cpu") or SUBMITTER_CPU),
        "memory": canonical_quantity(request.get("memory") or SUBMITTER_MEMORY),
    }
    container = omit_zero({
        "name": SUBMITTER_CONTAINER,
        "image": request.get("image", ""),
        "resources": {"limits": dict(quantities), "requests": dict(quantities)},
    })
    return {"spec": {"restartPolicy": "Never", "containers": [container]}}


def _api_submitter(pod_template: Mapping[str, Any]) -> Json:
    """Image of the first container; cpu/memory from its limits unless they are the defaults."""
    containers = (pod_template.get("spec") or {}).get("containers") or [{}]
    first = containers[0]
    limits = (first.get("resources") or {}).get("limits") or {}
    cpu = stored_quantity(limits.get("cpu"))
    memory = stored_quantity(limits.get("memory"))
    return omit_zero({
        "image": first.get("image", ""),
        "cpu": "" if cpu == SUBMITTER_CPU else cpu,
        "memory": "" if memory == SUBMITTER_MEMORY else memory,
    })
