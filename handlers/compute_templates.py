"""Compute-template operations (ComputeTemplateService): unpack, one service call, (dict, 200).

The spec has validated and normalised everything by the time these run; upstream answers 200
to every success, creates included.
"""
from __future__ import annotations

from typing import Any

from app.registry import services

Json = dict[str, Any]


def create_compute_template(namespace: str, body: Json) -> tuple[Json, int]:
    """The answer is the template read back from its ConfigMap, defaults applied."""
    return services().compute_templates.create(namespace, body), 200


def get_compute_template(namespace: str, name: str) -> tuple[Json, int]:
    return services().compute_templates.get(namespace, name), 200


def list_compute_templates(namespace: str) -> tuple[Json, int]:
    return services().compute_templates.list(namespace), 200


def list_all_compute_templates() -> tuple[Json, int]:
    return services().compute_templates.list_all(), 200


def delete_compute_template(namespace: str, name: str) -> tuple[Json, int]:
    """Upstream answers google.protobuf.Empty, i.e. `{}`."""
    services().compute_templates.delete(namespace, name)
    return {}, 200
