"""A Ray container's security context, both directions: the API's `SecurityContext` <-> the
container's `securityContext` (capabilities and `privileged` only). Pure.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.translate.common import omit_zero
from app.types import Json, SecurityContext


def to_security_context(context: SecurityContext) -> Json:
    """`capabilities` is always written, possibly empty; `privileged` whenever it was set."""
    built = _with_capabilities(context)
    if context.get("privileged") is not None:
        built["privileged"] = bool(context.get("privileged"))
    return built


def to_api_security_context(context: Mapping[str, Any]) -> Json:
    api_context = _with_capabilities(context)
    if context.get("privileged") is not None:
        api_context["privileged"] = context["privileged"]
    return api_context


def _with_capabilities(context: Mapping[str, Any]) -> Json:
    """The same shape in both directions: `capabilities` with its non-empty `add` and `drop`."""
    capabilities = context.get("capabilities") or {}
    return {"capabilities": omit_zero({"add": list(capabilities.get("add") or []),
                                       "drop": list(capabilities.get("drop") or [])})}
