"""app/translate/v2.py: the compute-template step of V2 creates and updates, the events' selector and a
watch's time limit, on plain data."""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from app.translate.v2 import (
    RAY_CORE_EVENTS,
    bounded_watch_query,
    is_watch,
    ray_events_query,
    template_names,
    with_compute_templates,
)
from app.types import ComputeTemplate, Json

SMALL: ComputeTemplate = {"name": "small", "namespace": "ns", "cpu": 2, "memory": 4, "memoryUnit": "Gi"}
BIG: ComputeTemplate = {"name": "big", "namespace": "ns", "cpu": 8, "memory": 512, "memoryUnit": "Mi", "gpu": 2,
       "gpuAccelerator": "amd.com/gpu", "extendedResources": {"vpc.amazonaws.com/efa": 1},
       "tolerations": [{"key": "ray", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                       {"key": "spot", "operator": "Exists"}]}
TEMPLATES: dict[str, ComputeTemplate] = {"small": SMALL, "big": BIG}


def pod(*containers: str, **spec: Any) -> Json:
    return {"spec": {"containers": [{"name": name, "image": "rayproject/ray:2.9.0"} for name in containers], **spec}}


def cluster_spec(head: str | None = "small", worker: str | None = "big") -> Json:
    head_group: Json = {"rayStartParams": {}, "template": pod("ray-head", "sidecar")}
    worker_group: Json = {"groupName": "w", "rayStartParams": {}, "template": pod("ray-worker")}
    if head is not None:
        head_group["computeTemplate"] = head
    if worker is not None:
        worker_group["computeTemplate"] = worker
    return {"headGroupSpec": head_group, "workerGroupSpecs": [worker_group]}


OBJECTS: dict[str, Callable[[Json], Json]] = {
    "rayclusters": lambda spec: {"kind": "RayCluster", "spec": spec},
    "rayjobs": lambda spec: {"kind": "RayJob", "spec": {"entrypoint": "python x.py", "rayClusterSpec": spec}},
    "rayservices": lambda spec: {"kind": "RayService", "spec": {"serveConfigV2": "", "rayClusterConfig": spec}},
    "raycronjobs": lambda spec: {"kind": "RayCronJob", "spec": {"schedule": "0 3 * * *", "jobTemplate": {
        "entrypoint": "python x.py", "rayClusterSpec": spec}}},
}


SPEC_OF: dict[str, Callable[[Json], Json]] = {
    "rayclusters": lambda o: o["spec"],
    "rayjobs": lambda o: o["spec"]["rayClusterSpec"],
    "rayservices": lambda o: o["spec"]["rayClusterConfig"],
    "raycronjobs": lambda o: o["spec"]["jobTemplate"]["rayClusterSpec"],
}


def groups_of(obj: Json, plural: str) -> Json:
    spec = SPEC_OF[plural](obj)
    return {"head": spec["headGroupSpec"], "worker": spec["workerGroupSpecs"][0]}


@pytest.mark.parametrize("plural", OBJECTS)
def test_each_kind_gets_its_groups_templates(plural: str) -> None:
    obj = OBJECTS[plural](cluster_spec())
    assert template_names(obj, plural) == ["small", "big"]
    result = with_compute_templates(obj, plural, TEMPLATES)
    head, worker = (groups_of(result, plural)[part]["template"] for part in ("head", "worker"))

    assert head["metadata"]["annotations"] == {"ray.io/compute-template": "small"}
    small = {"cpu": "2", "memory": "4Gi"}
    for container in head["spec"]["containers"]:  # every container: CPU and memory
        assert container["resources"] == {"limits": small, "requests": small}
    assert "tolerations" not in head["spec"]

    big = {"cpu": "8", "memory": "512Mi", "amd.com/gpu": 2, "vpc.amazonaws.com/efa": 1}
    assert worker["spec"]["containers"][0]["resources"] == {"limits": big, "requests": big}
    assert worker["metadata"]["annotations"] == {"ray.io/compute-template": "big"}
    assert worker["spec"]["tolerations"] == BIG["tolerations"]
    assert groups_of(result, plural)["head"]["computeTemplate"] == "small"  # the key stays


def test_gpus_and_extended_resources_go_on_the_ray_container_only() -> None:
    obj = OBJECTS["rayclusters"](cluster_spec(head="big", worker=None))
    result = with_compute_templates(obj, "rayclusters", TEMPLATES)
    ray_head, sidecar = result["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert ray_head["resources"]["limits"] == {"cpu": "8", "memory": "512Mi", "amd.com/gpu": 2,
                                               "vpc.amazonaws.com/efa": 1}
    assert sidecar["resources"]["limits"] == {"cpu": "8", "memory": "512Mi"}
    assert "computeTemplate" not in result["spec"]["workerGroupSpecs"][0]  # untouched group
    assert "resources" not in result["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]


def test_the_default_accelerator_and_unit() -> None:
    template: ComputeTemplate = {"name": "t", "cpu": 1, "memory": 3, "gpu": 1}  # stored without a unit: Gi
    obj = OBJECTS["rayclusters"](cluster_spec(head="t", worker=None))
    result = with_compute_templates(obj, "rayclusters", {"t": template})
    limits = result["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "1", "memory": "3Gi", "nvidia.com/gpu": 1}


def test_the_objects_own_values_are_kept_or_overwritten_as_upstream() -> None:
    spec = cluster_spec(head=None, worker="big")
    template = spec["workerGroupSpecs"][0]["template"]
    template["metadata"] = {"annotations": {"team": "a"}, "labels": {"l": "v"}}
    template["spec"]["tolerations"] = [{"key": "own", "operator": "Exists"}]
    template["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "ephemeral-storage": "1Gi"}}
    obj = OBJECTS["rayclusters"](spec)
    before = copy.deepcopy(obj)

    result = with_compute_templates(obj, "rayclusters", TEMPLATES)

    assert obj == before  # the input is not changed
    worker = result["spec"]["workerGroupSpecs"][0]["template"]
    assert worker["metadata"] == {"annotations": {"team": "a", "ray.io/compute-template": "big"}, "labels": {"l": "v"}}
    assert worker["spec"]["tolerations"] == [{"key": "own", "operator": "Exists"}, *BIG["tolerations"]]
    resources = worker["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "8", "ephemeral-storage": "1Gi", "memory": "512Mi", "amd.com/gpu": 2,
                                   "vpc.amazonaws.com/efa": 1}


@pytest.mark.parametrize(("obj", "plural"), [
    ({"spec": "not an object"}, "rayclusters"),
    ({"kind": "RayCluster"}, "rayclusters"),
    ({"spec": {"headGroupSpec": {"computeTemplate": 3}}}, "rayclusters"),  # not a string: not a name
    ({"spec": {"headGroupSpec": {"computeTemplate": "small"}}}, "rayjobs"),  # a RayJob's groups are deeper
    ({"spec": {"workerGroupSpecs": "x"}}, "rayclusters"),
    (["a", "list"], "rayclusters"),
    # a RayCronJob's groups are in its job template, not where a RayJob keeps them
    ({"spec": {"rayClusterSpec": {"headGroupSpec": {"computeTemplate": "small"}}}}, "raycronjobs"),
    ({"spec": {"jobTemplate": "x"}}, "raycronjobs"),
    ({"spec": {"headGroupSpec": {"computeTemplate": "small"}}}, "rayunknowns"),  # a kind without the step
])
def test_objects_naming_no_template_are_left_alone(obj: Any, plural: str) -> None:
    assert template_names(obj, plural) == []
    if isinstance(obj, dict):
        assert with_compute_templates(obj, plural, {}) == obj


def test_a_member_of_the_wrong_type_is_left_for_kubernetes_to_refuse() -> None:
    obj = {"spec": {"headGroupSpec": {"computeTemplate": "small", "template": {"spec": "bad"}},
                    "workerGroupSpecs": [{"computeTemplate": "small", "template": {"spec": {"containers": ["x"]}}}]}}
    result = with_compute_templates(obj, "rayclusters", TEMPLATES)
    assert result["spec"]["headGroupSpec"]["template"]["spec"] == "bad"
    assert result["spec"]["headGroupSpec"]["template"]["metadata"] == {"annotations": {"ray.io/compute-template": "small"}}
    assert result["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"] == ["x"]


def test_a_template_named_twice_is_read_once() -> None:
    assert template_names(OBJECTS["rayclusters"](cluster_spec("big", "big")), "rayclusters") == ["big"]


@pytest.mark.parametrize(("query", "expected"), [
    ([], [("fieldSelector", "regarding.apiVersion=ray.io/v1")]),
    ([("limit", "5"), ("fieldSelector", "regarding.name=c")],
     [("limit", "5"), ("fieldSelector", "regarding.name=c,regarding.apiVersion=ray.io/v1")]),
    ([("fieldSelector", "a=b"), ("fieldSelector", ""), ("fieldSelector", "c=d")],
     [("fieldSelector", "a=b,c=d,regarding.apiVersion=ray.io/v1")]),
    # A caller's own apiVersion selector cannot widen it: Kubernetes ANDs the terms.
    ([("fieldSelector", "regarding.apiVersion=v1")],
     [("fieldSelector", "regarding.apiVersion=v1,regarding.apiVersion=ray.io/v1")]),
])
def test_events_are_narrowed_to_ray_objects(query: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert ray_events_query(query) == expected


def test_core_events_are_narrowed_by_their_own_field() -> None:
    query = [("fieldSelector", "involvedObject.apiVersion!=ray.io/v1"), ("watch", "true")]
    assert ray_events_query(query, RAY_CORE_EVENTS) == [
        ("watch", "true"), ("fieldSelector", "involvedObject.apiVersion!=ray.io/v1,involvedObject.apiVersion=ray.io/v1")]


@pytest.mark.parametrize(("query", "watching"), [
    ([("watch", "true")], True), ([("watch", "1")], True), ([("watch", "True")], True),
    ([("watch", "false")], False), ([], False), ([("limit", "1")], False),
])
def test_a_watch_is_recognised(query: list[tuple[str, str]], watching: bool) -> None:
    assert is_watch(query) is watching


@pytest.mark.parametrize(("given", "seconds"), [
    (None, 1800), ("60", 60), ("1799", 1799), ("1800", 1800), ("86400", 1800), ("0", 1800), ("-5", 1800), ("x", 1800),
])
def test_a_watch_lasts_at_most_the_limit(given: str | None, seconds: int) -> None:
    query = [("watch", "true")] + ([("timeoutSeconds", given)] if given is not None else [])
    assert bounded_watch_query(query, 1800) == ([("watch", "true"), ("timeoutSeconds", str(seconds))], seconds)
