"""Compute templates: the API's `ComputeTemplate` <-> the ConfigMap that stores it.

The ConfigMap layout is upstream's, key for key, so that templates written by the Go server
and by this one read the same. Pure: no I/O, no logging; a broken value in a stored ConfigMap
is read as absent, as upstream does (it only logs it).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from app.constants import COMPUTE_TEMPLATE_LABEL, CONFIG_TYPE_COMPUTE_TEMPLATE, CONFIG_TYPE_LABEL
from app.translate.common import go_json, metadata, omit_zero
from app.types import Json

# Applied when a template is created without a unit; a stored template without one is read
# as "" but builds pods in this unit too (upstream would read such a memory amount as bytes).
DEFAULT_MEMORY_UNIT = "Gi"
TOLERATION_FIELDS = ("key", "operator", "value", "effect")
_UINT32 = re.compile(r"\d{1,10}", re.ASCII)
_UINT32_MAX = 2**32 - 1


def memory_quantity(template: Mapping[str, Any]) -> str:
    """The template's memory as a Kubernetes quantity, e.g. "4Gi"; without a unit it is in Gi."""
    return f"{template.get('memory') or 0}{template.get('memoryUnit') or DEFAULT_MEMORY_UNIT}"


def to_configmap(template: Mapping[str, Any]) -> Json:
    """The ConfigMap for a validated template (its memory is a quantity)."""
    name, namespace = template.get("name", ""), template.get("namespace", "")
    unit = template.get("memoryUnit") or DEFAULT_MEMORY_UNIT
    extended = template.get("extendedResources")
    data = {
        "name": name,
        "namespace": namespace,
        "cpu": str(template.get("cpu") or 0),
        "memory": str(template.get("memory") or 0),
        "memory_unit": unit,
        "gpu": str(template.get("gpu") or 0),
        "gpu_accelerator": template.get("gpuAccelerator") or "",
        # Go marshals a nil map as null and sorts map keys.
        "extended_resources": "null" if extended is None else go_json(dict(sorted(extended.items()))),
    }
    tolerations = template.get("tolerations") or []
    if tolerations:
        data["tolerations"] = go_json([toleration_fields(item) for item in tolerations])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {CONFIG_TYPE_LABEL: CONFIG_TYPE_COMPUTE_TEMPLATE, COMPUTE_TEMPLATE_LABEL: name},
        },
        "data": data,
    }


def to_api_compute_template(configmap: Mapping[str, Any]) -> Json:
    """Any ConfigMap read as a template: name and namespace from its metadata, the rest from `data`."""
    meta = metadata(configmap)
    data = configmap.get("data") or {}
    template = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "cpu": _uint32(data.get("cpu")),
        "memory": _uint32(data.get("memory")),
        "gpu": _uint32(data.get("gpu")),
        "gpuAccelerator": data.get("gpu_accelerator", ""),
        "tolerations": _read_tolerations(data.get("tolerations")),
        "extendedResources": _read_extended_resources(data.get("extended_resources")),
        "memoryUnit": data.get("memory_unit", ""),
    }
    return omit_zero(template)


def toleration_fields(toleration: Mapping[str, Any]) -> dict[str, str]:
    """Go's struct order (key, operator, value, effect), empty members omitted."""
    return {field: toleration[field] for field in TOLERATION_FIELDS if toleration.get(field)}


def _uint32(text: Any) -> int:
    """strconv.ParseUint(text, 10, 32), with upstream's 0 for anything missing or unparsable."""
    if not isinstance(text, str) or not _UINT32.fullmatch(text):
        return 0
    value = int(text)
    return value if value <= _UINT32_MAX else 0


def _read_extended_resources(text: Any) -> dict[str, int]:
    """A JSON object of counts; entries that are not uint32 are dropped."""
    parsed = _json(text)
    if not isinstance(parsed, dict):
        return {}
    return {
        name: count for name, count in parsed.items()
        if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= _UINT32_MAX
    }


def _read_tolerations(text: Any) -> list[dict[str, str]]:
    """A JSON array of tolerations; like Go's decoder, keys match case-insensitively."""
    parsed = _json(text)
    if not isinstance(parsed, list):
        return []
    fields = [
        {key.lower(): value for key, value in item.items() if isinstance(value, str)}
        for item in parsed if isinstance(item, dict)
    ]
    return [toleration_fields(item) for item in fields]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
