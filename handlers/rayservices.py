"""RayServeService: unpack, one service call, (dict, 200).

With `pythonic_params`, `pageSize`/`pageToken` arrive as `page_size`/`page_token`; the
snake_case spellings upstream also accepts are renamed before validation (app/http/wire.py).
"""
from __future__ import annotations

from app.services import RayServices
from app.types import Json, RayService


class RayServiceHandlers:
    def __init__(self, rayservices: RayServices) -> None:
        self._rayservices = rayservices

    def create_service(self, namespace: str, body: RayService) -> tuple[RayService, int]:
        return self._rayservices.create(namespace, body), 200

    def update_service(self, namespace: str, name: str, body: RayService) -> tuple[RayService, int]:
        """Full replacement; the service layer decides between the path and the body name."""
        return self._rayservices.update(namespace, name, body), 200

    def get_service(self, namespace: str, name: str) -> tuple[RayService, int]:
        return self._rayservices.get(namespace, name), 200

    def list_services(self, namespace: str, page_size: int = 0, page_token: str = "") -> tuple[Json, int]:
        return self._rayservices.list(namespace, page_size, page_token), 200

    def list_all_services(self, page_size: int = 0, page_token: str = "") -> tuple[Json, int]:
        return self._rayservices.list(None, page_size, page_token), 200

    def delete_service(self, namespace: str, name: str) -> tuple[Json, int]:
        return self._rayservices.delete(namespace, name), 200
