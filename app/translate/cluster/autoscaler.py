"""The in-tree autoscaler's options, both directions: the API's `AutoscalerOptions` <-> a
RayCluster's `autoscalerOptions`. Pure: validation has refused cpu or memory that is no quantity.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.translate.cluster.environment import to_api_envs, to_env_from, to_literal_env
from app.translate.cluster.volumes import to_api_mount, to_mount
from app.translate.common import omit_zero
from app.translate.quantity import canonical_quantity, stored_quantity
from app.types import AutoscalerOptions, Json

AUTOSCALER_DEFAULT_CPU = "500m"
AUTOSCALER_DEFAULT_MEMORY = "512Mi"


def to_autoscaler_options(options: AutoscalerOptions) -> Json:
    """Only the mounts of `volumes` are used: the autoscaler shares the head pod's volumes.

    Resources are written when cpu or memory is given, the other one then taking its default.
    """
    policy = options.get("imagePullPolicy") or ""
    envs = options.get("envs") or {}
    built = omit_zero({
        "idleTimeoutSeconds": max(options.get("idleTimeoutSeconds", 0), 0),
        "upscalingMode": options.get("upscalingMode", ""),
        "image": options.get("image", ""),
        "imagePullPolicy": "Always" if policy.lower() == "always" else "",
        "env": to_literal_env(envs),
        "envFrom": to_env_from(envs),
        "volumeMounts": [to_mount(volume) for volume in options.get("volumes") or []],
    })
    cpu, memory = options.get("cpu", ""), options.get("memory", "")
    if cpu or memory:
        amounts = {"cpu": canonical_quantity(cpu or AUTOSCALER_DEFAULT_CPU),
                   "memory": canonical_quantity(memory or AUTOSCALER_DEFAULT_MEMORY)}
        built["resources"] = {"limits": amounts, "requests": dict(amounts)}
    return built


def to_api_autoscaler_options(options: Mapping[str, Any]) -> Json:
    """cpu and memory from the limits, else from the requests."""
    resources = options.get("resources") or {}
    amounts = resources.get("limits") or resources.get("requests") or {}
    return omit_zero({
        "idleTimeoutSeconds": options.get("idleTimeoutSeconds") or 0,
        "upscalingMode": options.get("upscalingMode", ""),
        "image": options.get("image", ""),
        "imagePullPolicy": options.get("imagePullPolicy", ""),
        "cpu": stored_quantity(amounts.get("cpu")),
        "memory": stored_quantity(amounts.get("memory")),
        "envs": to_api_envs(options.get("env") or [], options.get("envFrom") or []),
        "volumes": [to_api_mount(mount) for mount in options.get("volumeMounts") or []],
    })
