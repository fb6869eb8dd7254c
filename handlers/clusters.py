"""Ray cluster operations (ClusterService): unpack, one service call, (dict, 200).

With `pythonic_params`, the `continue` query parameter arrives as `continue_`.
"""
from __future__ import annotations

from typing import Any

from app.registry import services

Json = dict[str, Any]


def create_cluster(namespace: str, body: Json) -> tuple[Json, int]:
    return services().clusters.create(namespace, body), 200


def get_cluster(namespace: str, name: str) -> tuple[Json, int]:
    return services().clusters.get(namespace, name), 200


def list_clusters(namespace: str, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
    return services().clusters.list(namespace, limit=limit, continue_token=continue_), 200


def list_all_clusters(limit: int = 0, continue_: str = "") -> tuple[Json, int]:
    return services().clusters.list_all(limit=limit, continue_token=continue_), 200


def delete_cluster(namespace: str, name: str) -> tuple[Json, int]:
    """Upstream answers google.protobuf.Empty, i.e. `{}`."""
    services().clusters.delete(namespace, name)
    return {}, 200
