"""The V2 API's rewrites of what it forwards (app/http/v2.py): the compute-template step of RayCluster,
RayJob, RayService and RayCronJob creates and updates, the events' selectors, and a watch's time limit. Pure.

The compute-template step is upstream's: every node group naming a `computeTemplate` gets the
template's annotation, its CPU and memory on every container, its GPU and extended resources on the
Ray container, and its tolerations; the `computeTemplate` key stays in the object.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from app.constants import COMPUTE_TEMPLATE_ANNOTATION, HEAD_CONTAINER, WORKER_CONTAINER
from app.translate.cluster.resources import DEFAULT_GPU_RESOURCE
from app.translate.compute_templates import memory_quantity, toleration_fields
from app.types import ComputeTemplate, Json

# Where each kind keeps its RayCluster spec, the one holding `headGroupSpec` and `workerGroupSpecs`.
CLUSTER_SPEC = {
    "rayclusters": ("spec",),
    "rayjobs": ("spec", "rayClusterSpec"),
    "rayservices": ("spec", "rayClusterConfig"),
    "raycronjobs": ("spec", "jobTemplate", "rayClusterSpec"),  # jobTemplate: a whole RayJobSpec
}
# The only events the V2 API shows: ray.io objects', as each events API names the object.
RAY_EVENTS = "regarding.apiVersion=ray.io/v1"  # events.k8s.io/v1
RAY_CORE_EVENTS = "involvedObject.apiVersion=ray.io/v1"  # core v1, the route of clients before KubeRay v1.7


def templated_groups(obj: Any, plural: str) -> list[tuple[str, Json]]:
    """(Ray container name, node group) for each group of `obj` naming a compute template; none for
    a kind without node groups or an object not shaped like one (Kubernetes will judge it)."""
    spec = obj
    for key in CLUSTER_SPEC.get(plural, ()):
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    groups: list[tuple[str, Any]] = [(HEAD_CONTAINER, spec.get("headGroupSpec"))]
    workers = spec.get("workerGroupSpecs")
    if isinstance(workers, list):
        groups += [(WORKER_CONTAINER, group) for group in workers]
    return [(container, group) for container, group in groups
            if isinstance(group, dict) and isinstance(group.get("computeTemplate"), str)]


def template_names(obj: Any, plural: str) -> list[str]:
    """The compute templates `obj` names, each once, in order."""
    return list(dict.fromkeys(group["computeTemplate"] for _, group in templated_groups(obj, plural)))


def with_compute_templates(obj: Json, plural: str, templates: Mapping[str, ComputeTemplate]) -> Json:
    """A copy of `obj` with each named template applied to its group's pod template (`templates`
    holds every name `template_names` gave). A member that is there but not an object is left as
    it is, for Kubernetes to refuse."""
    result = copy.deepcopy(obj)
    for container_name, group in templated_groups(result, plural):
        template = templates[group["computeTemplate"]]
        pod = _child(group, "template")
        metadata = _child(pod, "metadata")
        annotations = _child(metadata, "annotations")
        if annotations is not None:
            annotations[COMPUTE_TEMPLATE_ANNOTATION] = group["computeTemplate"]
        spec = _child(pod, "spec")
        if spec is None:
            continue
        for container in spec.get("containers") or []:
            if isinstance(container, dict):
                _set_resources(container, template, ray_container=container.get("name") == container_name)
        tolerations = [toleration_fields(item) for item in template.get("tolerations") or []]
        if tolerations and isinstance(spec.get("tolerations", []), list):
            spec["tolerations"] = [*spec.get("tolerations", []), *tolerations]
    return result


def ray_events_query(query: Iterable[tuple[str, str]], selector: str = RAY_EVENTS) -> list[tuple[str, str]]:
    """The caller's query with one field selector: the caller's own ones and `selector`, joined by
    commas. Kubernetes ANDs the terms, so the answer is never wider than `selector` alone; a
    caller's selector ending in a backslash, which escapes the comma after it, makes `selector`
    part of the caller's value, where its unescaped `=` is refused (400)."""
    pairs = list(query)
    selectors = [value for key, value in pairs if key == "fieldSelector" and value]
    return [*((key, value) for key, value in pairs if key != "fieldSelector"),
            ("fieldSelector", ",".join([*selectors, selector]))]


def is_watch(query: Iterable[tuple[str, str]]) -> bool:
    return any(key == "watch" and value.lower() in ("true", "1") for key, value in query)


def bounded_watch_query(query: Iterable[tuple[str, str]], most: int) -> tuple[list[tuple[str, str]], int]:
    """The watch's query with `timeoutSeconds` at most `most` (Kubernetes' own default is up to an
    hour), and the seconds it will last."""
    pairs = list(query)
    given = [value for key, value in pairs if key == "timeoutSeconds"]
    seconds = most
    if given and given[-1].isdigit() and 0 < int(given[-1]) < most:
        seconds = int(given[-1])
    kept = [(key, value) for key, value in pairs if key != "timeoutSeconds"]
    return [*kept, ("timeoutSeconds", str(seconds))], seconds


def _set_resources(container: Json, template: ComputeTemplate, *, ray_container: bool) -> None:
    """CPU and memory as strings on every container; GPUs and extended resources as numbers, on the
    Ray container only."""
    resources = _child(container, "resources")
    if resources is None:
        return
    amounts: dict[str, Any] = {"cpu": str(template.get("cpu", 0)), "memory": memory_quantity(template)}
    if ray_container:
        gpu = template.get("gpu", 0)
        if gpu:
            amounts[template.get("gpuAccelerator") or DEFAULT_GPU_RESOURCE] = gpu
        amounts.update({name: count for name, count in (template.get("extendedResources") or {}).items() if count})
    for part in ("limits", "requests"):
        target = _child(resources, part)
        if target is not None:
            target.update(amounts)


def _child(parent: Json | None, key: str) -> Json | None:
    """`parent[key]`, made an empty object if missing; None if it is something else (or no parent)."""
    if parent is None:
        return None
    value = parent.setdefault(key, {})
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None
