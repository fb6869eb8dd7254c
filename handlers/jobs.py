"""RayJobService: unpack, one service call, (dict, 200).

With `pythonic_params`, the `continue` query parameter arrives as `continue_`.
"""
from __future__ import annotations

from app.services import ManagedResource
from app.types import Json, RayJob


class JobHandlers:
    def __init__(self, jobs: ManagedResource[RayJob]) -> None:
        self._jobs = jobs

    def create_job(self, namespace: str, body: RayJob) -> tuple[RayJob, int]:
        return self._jobs.create(namespace, body), 200

    def get_job(self, namespace: str, name: str) -> tuple[RayJob, int]:
        return self._jobs.get(namespace, name), 200

    def list_jobs(self, namespace: str, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._jobs.list(namespace, limit, continue_), 200

    def list_all_jobs(self, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._jobs.list(None, limit, continue_), 200

    def delete_job(self, namespace: str, name: str) -> tuple[Json, int]:
        return self._jobs.delete(namespace, name), 200
