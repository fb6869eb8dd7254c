"""Ray job operations (RayJobService): unpack, one service call, (dict, 200).

With `pythonic_params`, the `continue` query parameter arrives as `continue_`.
"""
from __future__ import annotations

from typing import Any

from app.registry import services

Json = dict[str, Any]


def create_job(namespace: str, body: Json) -> tuple[Json, int]:
    return services().jobs.create(namespace, body), 200


def get_job(namespace: str, name: str) -> tuple[Json, int]:
    return services().jobs.get(namespace, name), 200


def list_jobs(namespace: str, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
    return services().jobs.list(namespace, limit=limit, continue_token=continue_), 200


def list_all_jobs(limit: int = 0, continue_: str = "") -> tuple[Json, int]:
    return services().jobs.list_all(limit=limit, continue_token=continue_), 200


def delete_job(namespace: str, name: str) -> tuple[Json, int]:
    """Upstream answers google.protobuf.Empty, i.e. `{}`."""
    services().jobs.delete(namespace, name)
    return {}, 200
