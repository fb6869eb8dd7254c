"""Pod tolerations from a compute template's tolerations (to Kubernetes only).

Tolerations belong to the compute template, which a cluster read back names by annotation, so
they are never translated back. Pure.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.translate.common import omit_zero
from app.types import Json


def to_toleration(toleration: Mapping[str, Any]) -> Json:
    """Only the exact spellings survive: other operators become Equal, other effects PreferNoSchedule."""
    operator, effect = toleration.get("operator"), toleration.get("effect")
    return omit_zero({
        "key": toleration.get("key", ""),
        "operator": "Exists" if operator == "Exists" else "Equal",
        "value": toleration.get("value", ""),
        "effect": effect if effect in ("NoExecute", "NoSchedule") else "PreferNoSchedule",
    })
