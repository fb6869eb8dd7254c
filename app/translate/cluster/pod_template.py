"""A group's pod template and its Ray container, both directions: the fields head and worker
groups share (compute template, image, volumes, environment, security context, service account,
pull secret, labels, annotations) <-> the group's `template`. Pure.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from app.constants import (
    COMPUTE_IMAGE_ANNOTATION,
    COMPUTE_TEMPLATE_ANNOTATION,
    HIDDEN_POD_ANNOTATIONS,
    HIDDEN_POD_LABELS,
)
from app.translate.cluster.environment import to_api_environment, to_env
from app.translate.cluster.resources import to_resources
from app.translate.cluster.security_context import to_api_security_context, to_security_context
from app.translate.cluster.tolerations import to_toleration
from app.translate.cluster.volumes import to_api_volumes, to_mount, to_volume
from app.translate.common import metadata, omit_zero
from app.types import ComputeTemplate, Json, NodeGroupSpec

DEFAULT_IMAGE_REPOSITORY = "rayproject/ray"


def to_pod_template(group: NodeGroupSpec, template: ComputeTemplate, container: Json) -> Json:
    """The group's annotations may overwrite the two the server uses to rebuild the request."""
    annotations = {
        COMPUTE_TEMPLATE_ANNOTATION: group.get("computeTemplate", ""),
        COMPUTE_IMAGE_ANNOTATION: group.get("image", ""),
        **(group.get("annotations") or {}),
    }
    account, pull_secret = group.get("serviceAccount", ""), group.get("imagePullSecret", "")
    return {
        "metadata": omit_zero({"annotations": annotations, "labels": dict(group.get("labels") or {})}),
        "spec": omit_zero({
            # Upstream ignores names of one character.
            "serviceAccountName": account if len(account) > 1 else "",
            "imagePullSecrets": [{"name": pull_secret}] if len(pull_secret) > 1 else [],
            "containers": [container],
            "volumes": [to_volume(volume) for volume in group.get("volumes") or []],
            "tolerations": [to_toleration(item) for item in template.get("tolerations") or []],
        }),
    }


def to_container(name: str, group: NodeGroupSpec, template: ComputeTemplate, version: str, *,
                 env: Iterable[Json], ports: Iterable[Json], lifecycle: Mapping[str, Any] | None = None) -> Json:
    """`env` comes before the group's own environment: the server's variables, then the cluster's."""
    policy = group.get("imagePullPolicy") or ""
    container = omit_zero({
        "name": name,
        "image": group.get("image") or f"{DEFAULT_IMAGE_REPOSITORY}:{version}",
        "imagePullPolicy": "Always" if policy.lower() == "always" else "IfNotPresent",
        "env": [*copy.deepcopy(list(env)), *to_env(group.get("environment") or {})],
        "ports": copy.deepcopy(list(ports)),
        "lifecycle": copy.deepcopy(dict(lifecycle or {})),
        "resources": to_resources(template),
        "volumeMounts": [to_mount(volume) for volume in group.get("volumes") or []],
    })
    if group.get("securityContext") is not None:
        container["securityContext"] = to_security_context(group["securityContext"])
    return container


def to_api_pod_template(pod: Mapping[str, Any], container_name: str, hidden_env: frozenset[str],
                        own: Json) -> Json:
    """A group read back: the fields of the group's kind (`own`), then all read from the pod template.

    `hidden_env` are the variables the server or the operator set, never part of `environment`.
    """
    meta, spec = metadata(pod), pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    containers = spec.get("containers") or []
    container = next((c for c in containers if c.get("name") == container_name), None)
    account = spec.get("serviceAccountName", "")
    pull_secrets = spec.get("imagePullSecrets") or [{}]
    group = omit_zero({
        "computeTemplate": annotations.get(COMPUTE_TEMPLATE_ANNOTATION, ""),
        "image": annotations.get(COMPUTE_IMAGE_ANNOTATION, ""),
        **own,
        "volumes": to_api_volumes(spec.get("volumes") or [], containers),
        "serviceAccount": account if len(account) > 1 else "",
        "imagePullSecret": pull_secrets[0].get("name", ""),
        "annotations": {k: v for k, v in annotations.items() if k not in HIDDEN_POD_ANNOTATIONS},
        "labels": {k: v for k, v in (meta.get("labels") or {}).items() if k not in HIDDEN_POD_LABELS},
        "imagePullPolicy": "Always" if containers and containers[0].get("imagePullPolicy") == "Always" else "",
    })
    if container is not None and container.get("env"):
        group["environment"] = to_api_environment(container["env"], hidden_env)
    if container is not None and container.get("securityContext") is not None:
        group["securityContext"] = to_api_security_context(container["securityContext"])
    return group
