"""Container resources from a compute template (to Kubernetes only).

A cluster read back names its compute template in a pod-template annotation, so resources are
never translated back. Pure: the template's memory was checked by validation (`check_templates`).
"""
from __future__ import annotations

from app.translate.compute_templates import memory_quantity
from app.translate.quantity import canonical_quantity
from app.types import ComputeTemplate, Json

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


def to_resources(template: ComputeTemplate) -> Json:
    """Limits equal requests; a template stored without a memory unit is read as Gi, not bytes."""
    amounts = {"cpu": canonical_quantity(str(template.get("cpu", 0))),
               "memory": canonical_quantity(memory_quantity(template))}
    gpu = template.get("gpu", 0)
    if gpu:
        amounts[template.get("gpuAccelerator") or DEFAULT_GPU_RESOURCE] = canonical_quantity(str(gpu))
    for resource, count in (template.get("extendedResources") or {}).items():
        if count:
            amounts[resource] = canonical_quantity(str(count))
    return {"limits": amounts, "requests": dict(amounts)}
