"""Compute templates: the rules of a create request, and the one rule about templates read back."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.translate.compute_templates import memory_quantity
from app.validation.common import check_namespace, check_quantity


def check_compute_template(template: Mapping[str, Any], namespace: str) -> None:
    """A bad memory unit is a 400 here, where upstream answers 500."""
    check_namespace(template, namespace, "defined in the compute template")
    if not template.get("name"):
        raise InvalidInput("Compute template name is empty. Please specify a valid value.")
    if not template.get("cpu"):
        raise InvalidInput("Cpu amount is zero. Please specify a valid value.")
    if not template.get("memory"):
        raise InvalidInput("Memory amount is zero. Please specify a valid value.")
    memory = memory_quantity(template)
    check_quantity(memory, f'Memory "{memory}" is not a valid quantity: '
                           "memoryUnit must be a unit such as Gi, Mi, G or M.")


def check_templates(templates: Mapping[str, Mapping[str, Any]]) -> None:
    """Templates read back for a cluster, in the order given: a ConfigMap edited by hand can hold
    a memory or unit that is no quantity, which no pod could be built with."""
    for template in templates.values():
        memory = memory_quantity(template)
        name = template.get("name", "")
        check_quantity(memory, f"compute template {name}: memory {memory!r} is not a valid quantity")
