"""The dry-run pods built from what a write holds, and Kubernetes' refusals named in the request's terms."""
from __future__ import annotations

from typing import Any

import pytest

from app.translate.pods import (
    CHECK_NAME_PREFIX,
    PodCheck,
    compute_template_check,
    dry_run_pod,
    raycluster_checks,
    rayjob_checks,
    rayservice_checks,
    refusal_message,
)
from app.types import ComputeTemplate, Json

HEAD_TEMPLATE: Json = {
    "metadata": {"annotations": {"ray.io/compute-template": "head-t"}, "labels": {"team": "a"}},
    "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.7.0"}],
             "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]},
}
WORKER_TEMPLATE: Json = {
    "metadata": {"annotations": {"ray.io/compute-template": "worker-t"}},
    "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.7.0"}]},
}
SPEC: Json = {"headGroupSpec": {"template": HEAD_TEMPLATE},
              "workerGroupSpecs": [{"groupName": "a", "template": WORKER_TEMPLATE},
                                   {"groupName": "b", "template": WORKER_TEMPLATE}]}


def status(*causes: tuple[str, str], message: str = "Pod is invalid") -> Json:
    return {"kind": "Status", "code": 422, "reason": "Invalid", "message": message,
            "details": {"causes": [{"field": field, "message": text} for field, text in causes]}}


def test_a_pod_template_becomes_a_pod_under_a_generated_name() -> None:
    assert dry_run_pod(HEAD_TEMPLATE) == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": CHECK_NAME_PREFIX, "labels": {"team": "a"},
                     "annotations": {"ray.io/compute-template": "head-t"}},
        "spec": HEAD_TEMPLATE["spec"],
    }
    assert dry_run_pod({"spec": {"containers": []}})["metadata"] == {"generateName": CHECK_NAME_PREFIX}


@pytest.mark.parametrize(("obj", "checks", "where"), [
    ({"kind": "RayCluster", "spec": SPEC}, raycluster_checks,
     ["clusterSpec.headGroupSpec", "clusterSpec.workerGroupSpec[0]", "clusterSpec.workerGroupSpec[1]"]),
    ({"kind": "RayJob", "spec": {"rayClusterSpec": SPEC, "submitterPodTemplate": WORKER_TEMPLATE}}, rayjob_checks,
     ["clusterSpec.headGroupSpec", "clusterSpec.workerGroupSpec[0]", "clusterSpec.workerGroupSpec[1]",
      "jobSubmitter"]),
    ({"kind": "RayJob", "spec": {"clusterSelector": {"ray.io/cluster": "c"}}}, rayjob_checks, []),
    ({"kind": "RayService", "spec": {"rayClusterConfig": {"headGroupSpec": {"template": HEAD_TEMPLATE}}}},
     rayservice_checks, ["clusterSpec.headGroupSpec"]),
])
def test_every_pod_template_of_a_write_is_checked_where_the_request_put_it(
        obj: Json, checks: Any, where: list[str]) -> None:
    found: list[PodCheck] = checks(obj)
    assert [check.where for check in found] == where
    assert all(check.pod["kind"] == "Pod" for check in found)


def test_a_compute_templates_pod_has_its_tolerations_as_given_and_its_resources() -> None:
    template: ComputeTemplate = {"name": "t", "cpu": 2, "memory": 4, "gpu": 1, "gpuAccelerator": "example.com/tpu",
                                 "extendedResources": {"vpc.amazonaws.com/efa": 2},
                                 "tolerations": [{"key": "", "operator": "NotAnOperator", "value": "", "effect": "x"}]}
    check = compute_template_check(template)
    assert check.where == "compute template t"
    [container] = check.pod["spec"]["containers"]
    amounts = {"cpu": "2", "memory": "4Gi", "example.com/tpu": "1", "vpc.amazonaws.com/efa": "2"}
    assert container["resources"] == {"limits": amounts, "requests": amounts}
    assert check.pod["spec"]["tolerations"] == [{"operator": "NotAnOperator", "effect": "x"}]
    assert "tolerations" not in compute_template_check({"name": "t", "cpu": 1, "memory": 1}).pod["spec"]


GROUP_CAUSES = [
    ("spec.tolerations[0].operator", "computeTemplate 'worker-t': tolerations[0].operator"),
    ("spec.containers[0].resources.limits[foo bar]", "computeTemplate 'worker-t': resources[foo bar]"),
    ("spec.containers[0].image", "image (spec.containers[0].image)"),
    ("spec.volumes[1].hostPath.path", "volumes (spec.volumes[1].hostPath.path)"),
    ("spec.containers[0].volumeMounts[0].mountPath", "volumes (spec.containers[0].volumeMounts[0].mountPath)"),
    ("spec.containers[0].env[3].name", "environment (spec.containers[0].env[3].name)"),
    ("metadata.labels", "labels (metadata.labels)"),
    ("metadata.annotations", "annotations (metadata.annotations)"),
    ("spec.serviceAccountName", "serviceAccount (spec.serviceAccountName)"),
    ("spec.imagePullSecrets[0].name", "imagePullSecret (spec.imagePullSecrets[0].name)"),
    ("spec.containers[0].securityContext.capabilities", "securityContext (spec.containers[0].securityContext."
                                                        "capabilities)"),
    ("spec.containers[0].ports[1].name", "spec.containers[0].ports[1].name"),  # the server's own: as Kubernetes names it
    ("spec.imagesomething", "spec.imagesomething"),
]


@pytest.mark.parametrize(("field", "ours"), GROUP_CAUSES)
def test_a_groups_refusal_names_the_group_and_the_field_it_came_from(field: str, ours: str) -> None:
    check = raycluster_checks({"spec": SPEC})[2]
    assert refusal_message(check, status((field, "Invalid value: x"))) == \
        f"Kubernetes would refuse the pods of clusterSpec.workerGroupSpec[1]: {ours}: Invalid value: x"


TEMPLATE_CAUSES = [
    ("spec.tolerations[2].effect", "tolerations[2].effect"),
    ("spec.containers[0].resources.limits[cpu]", "cpu"),
    ("spec.containers[0].resources.requests[memory]", "memory"),
    ("spec.containers[0].resources.limits[gpu]", "gpuAccelerator (gpu)"),
    ("spec.containers[0].resources.limits[foo bar]", "extendedResources[foo bar]"),
    ("spec.containers[0].name", "spec.containers[0].name"),
]


@pytest.mark.parametrize(("field", "ours"), TEMPLATE_CAUSES)
def test_a_compute_templates_refusal_names_its_field(field: str, ours: str) -> None:
    check = compute_template_check({"name": "t", "cpu": 1, "memory": 1, "gpu": 1, "gpuAccelerator": "gpu"})
    assert refusal_message(check, status((field, "Invalid value"))) == \
        f"Kubernetes would refuse the pods of compute template t: {ours}: Invalid value"


def test_the_default_gpu_resource_is_the_templates_gpu() -> None:
    check = compute_template_check({"name": "t", "cpu": 1, "memory": 1, "gpu": 1})
    assert check.path("spec.containers[0].resources.limits[nvidia.com/gpu]") == "gpu"


def test_a_cause_about_limits_and_requests_is_said_once_and_causes_keep_their_order() -> None:
    check = raycluster_checks({"spec": SPEC})[0]
    refusal = status(("spec.containers[0].resources.limits[x]", "bad name"),
                     ("spec.containers[0].resources.requests[x]", "bad name"),
                     ("spec.tolerations[0].key", "bad key"))
    assert refusal_message(check, refusal) == (
        "Kubernetes would refuse the pods of clusterSpec.headGroupSpec: computeTemplate 'head-t': resources[x]: "
        "bad name; computeTemplate 'head-t': tolerations[0].key: bad key")


def test_a_refusal_without_causes_gives_kubernetes_message() -> None:
    """A 400 (the body could not be decoded: a quantity that does not parse) has no causes."""
    check = rayjob_checks({"spec": {"submitterPodTemplate": WORKER_TEMPLATE}})[0]
    refusal = {"kind": "Status", "code": 400, "reason": "BadRequest", "message": "quantities must match"}
    assert refusal_message(check, refusal) == "Kubernetes would refuse the pods of jobSubmitter: quantities must match"
    assert check.path("spec.containers[0].image") == "image (spec.containers[0].image)"
    assert check.path("spec.restartPolicy") == "spec.restartPolicy"
