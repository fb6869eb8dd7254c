"""The pods Kubernetes is asked about before a write (a server-side dry run, app/services/pods.py),
and its refusals read back in the request's terms.

The KubeRay operator makes its pods from the pod templates of a RayCluster's groups (of a RayJob's
or RayService's embedded cluster too) and a RayJob's submitter template; a template Kubernetes
would refuse leaves the cluster without pods, and the user learns it, if at all, from the
operator's events. So each template becomes a Pod (`dry_run_pod`), and a refusal's causes, which
name the Pod's fields (`spec.tolerations[0].operator`), are named by where they came from in the
request (`clusterSpec.workerGroupSpec[0]`, its compute template's `tolerations[0].operator`).
A compute template is checked when it is stored with the one pod it could be checked with: its
tolerations as given and its resources on one container. Pure: dicts in, new dicts out.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.constants import COMPUTE_TEMPLATE_ANNOTATION
from app.translate.cluster.resources import DEFAULT_GPU_RESOURCE, to_resources
from app.translate.common import metadata, omit_zero
from app.translate.compute_templates import toleration_fields
from app.types import ComputeTemplate, Json

CHECK_NAME_PREFIX = "kuberay-api-check-"  # the dry-run Pods' generateName: never stored, never seen
CHECK_CONTAINER = "ray"
CHECK_IMAGE = "kuberay-api-check"  # a compute template's pod needs an image; it is never pulled

FieldPath = Callable[[str], str]  # a field of the dry-run Pod (a cause's `field`) -> where it is in the request


@dataclass(frozen=True)
class PodCheck:
    """One Pod to ask Kubernetes about, what it stands for in the request (`where`, for messages)
    and how its fields are named there (`path`)."""

    pod: Json
    where: str
    path: FieldPath


def dry_run_pod(template: Mapping[str, Any]) -> Json:
    """The Pod a pod template makes: its labels, annotations and spec, under a generated name."""
    meta = metadata(template)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": omit_zero({
            "generateName": CHECK_NAME_PREFIX,
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
        }),
        "spec": dict(template.get("spec") or {}),
    }


# -- a cluster's pods -----------------------------------------------------------------------------


def cluster_checks(spec: Mapping[str, Any] | None, prefix: str = "clusterSpec") -> list[PodCheck]:
    """A RayCluster spec's groups, head first, each named by its place in the request's `prefix`."""
    if not spec:
        return []
    groups = [(f"{prefix}.headGroupSpec", spec.get("headGroupSpec") or {})]
    groups += [(f"{prefix}.workerGroupSpec[{index}]", group)
               for index, group in enumerate(spec.get("workerGroupSpecs") or [])]
    return [_group_check(where, group.get("template") or {}) for where, group in groups]


def raycluster_checks(raycluster: Mapping[str, Any]) -> list[PodCheck]:
    return cluster_checks(raycluster.get("spec"))


def rayjob_checks(rayjob: Mapping[str, Any]) -> list[PodCheck]:
    """The job's own cluster (none with a cluster selector), then its submitter if the request set one."""
    spec = rayjob.get("spec") or {}
    checks = cluster_checks(spec.get("rayClusterSpec"))
    submitter = spec.get("submitterPodTemplate")
    if submitter is not None:
        checks.append(PodCheck(dry_run_pod(submitter), "jobSubmitter", _submitter_path))
    return checks


def rayservice_checks(rayservice: Mapping[str, Any]) -> list[PodCheck]:
    return cluster_checks((rayservice.get("spec") or {}).get("rayClusterConfig"))


def _group_check(where: str, template: Mapping[str, Any]) -> PodCheck:
    compute_template = (metadata(template).get("annotations") or {}).get(COMPUTE_TEMPLATE_ANNOTATION, "")
    return PodCheck(dry_run_pod(template), where, _group_path(compute_template))


_CONTAINER = "spec.containers[0]"
# A group's pod field (prefix) -> the group's request field, and whether the rest of the field
# reads the same there (a compute template's tolerations keep their indexes).
_GROUP_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("spec.tolerations", "tolerations", True),
    (f"{_CONTAINER}.resources", "resources", True),
    (f"{_CONTAINER}.image", "image", False),
    (f"{_CONTAINER}.imagePullPolicy", "imagePullPolicy", False),
    (f"{_CONTAINER}.env", "environment", False),
    (f"{_CONTAINER}.volumeMounts", "volumes", False),
    (f"{_CONTAINER}.securityContext", "securityContext", False),
    ("spec.volumes", "volumes", False),
    ("spec.serviceAccountName", "serviceAccount", False),
    ("spec.imagePullSecrets", "imagePullSecret", False),
    ("metadata.labels", "labels", False),
    ("metadata.annotations", "annotations", False),
)
_TEMPLATE_FIELDS = ("tolerations", "resources")  # the group's compute template's, not the group's own


def _group_path(compute_template: str) -> FieldPath:
    def path(field: str) -> str:
        for prefix, ours, same in _GROUP_FIELDS:
            if _under(field, prefix):
                rest = field[len(prefix):]
                if ours == "resources":  # limits equal requests: one name for both
                    rest = re.sub(r"^\.(?:limits|requests)(?=\[)", "", rest)
                named = f"{ours}{rest}" if same else f"{ours} ({field})"
                return f"computeTemplate '{compute_template}': {named}" if ours in _TEMPLATE_FIELDS else named
        return field
    return path


def _submitter_path(field: str) -> str:
    """The submitter's image, cpu and memory are the request's; anything else is the server's."""
    for prefix, ours in ((f"{_CONTAINER}.image", "image"), (f"{_CONTAINER}.resources", "cpu, memory")):
        if _under(field, prefix):
            return f"{ours} ({field})"
    return field


def _under(field: str, prefix: str) -> bool:
    return field == prefix or field.startswith((f"{prefix}.", f"{prefix}["))


# -- a compute template's pod ---------------------------------------------------------------------


def compute_template_check(template: ComputeTemplate) -> PodCheck:
    """Its tolerations as given (a cluster's pods get them with unknown operators and effects
    replaced, as upstream: refused here, they never reach one) and its resources on one container."""
    tolerations = [toleration_fields(item) for item in template.get("tolerations") or []]
    pod = dry_run_pod({"spec": omit_zero({
        "containers": [{"name": CHECK_CONTAINER, "image": CHECK_IMAGE, "resources": to_resources(template)}],
        "tolerations": tolerations,
    })})
    return PodCheck(pod, f"compute template {template.get('name', '')}", _template_path(template))


_RESOURCE = re.compile(r"spec\.containers\[0\]\.resources\.(?:limits|requests)\[(?P<name>[^\]]*)\](?P<rest>.*)",
                       re.DOTALL)


def _template_path(template: ComputeTemplate) -> FieldPath:
    gpu_resource = template.get("gpuAccelerator") or DEFAULT_GPU_RESOURCE

    def path(field: str) -> str:
        if _under(field, "spec.tolerations"):
            return field.removeprefix("spec.")
        found = _RESOURCE.fullmatch(field)
        if found is None:
            return field
        name = found["name"]
        if name in ("cpu", "memory"):
            return name
        if name == gpu_resource and template.get("gpu"):
            return f"gpuAccelerator ({name})" if template.get("gpuAccelerator") else "gpu"
        return f"extendedResources[{name}]"
    return path


# -- refusals -------------------------------------------------------------------------------------


def refusal_message(check: PodCheck, status: Mapping[str, Any]) -> str:
    """Kubernetes' refusal of `check`'s Pod (a Status), each cause named by its place in the request.

    Limits and requests carry the same amounts, so a cause about one is said once.
    """
    causes = (status.get("details") or {}).get("causes") or []
    said = _unique(_cause(check.path, cause) for cause in causes if isinstance(cause, dict))
    text = "; ".join(said) or str(status.get("message") or f"HTTP {status.get('code', '')}")
    return f"Kubernetes would refuse the pods of {check.where}: {text}"


def _cause(path: FieldPath, cause: Mapping[str, Any]) -> str:
    field, message = str(cause.get("field") or ""), str(cause.get("message") or cause.get("reason") or "")
    return f"{path(field)}: {message}" if field else message


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
