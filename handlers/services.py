"""Ray service operations (RayServeService): unpack, one service call, (dict, 200).

With `pythonic_params`, `pageSize`/`pageToken` arrive as `page_size`/`page_token`; the
snake_case spellings upstream also accepts are renamed before validation (app/wire.py).
"""
from __future__ import annotations

from typing import Any

from app.registry import services

Json = dict[str, Any]


def create_service(namespace: str, body: Json) -> tuple[Json, int]:
    return services().services.create(namespace, body), 200


def update_service(namespace: str, name: str, body: Json) -> tuple[Json, int]:
    """Full replacement; the service layer decides between the path and the body name."""
    return services().services.update(namespace, name, body), 200


def get_service(namespace: str, name: str) -> tuple[Json, int]:
    return services().services.get(namespace, name), 200


def list_services(namespace: str, page_size: int = 0, page_token: str = "") -> tuple[Json, int]:
    return services().services.list(namespace, page_size=page_size, page_token=page_token), 200


def list_all_services(page_size: int = 0, page_token: str = "") -> tuple[Json, int]:
    return services().services.list_all(page_size=page_size, page_token=page_token), 200


def delete_service(namespace: str, name: str) -> tuple[Json, int]:
    """Upstream answers google.protobuf.Empty, i.e. `{}`."""
    services().services.delete(namespace, name)
    return {}, 200
