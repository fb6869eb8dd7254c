"""RayCronJobService (an extension: upstream has no cron jobs): unpack, one service call, (dict, 200).

With `pythonic_params`, the `continue` query parameter arrives as `continue_`.
"""
from __future__ import annotations

from app.services import RayCronJobs
from app.types import Json, RayCronJob


class CronJobHandlers:
    def __init__(self, cronjobs: RayCronJobs) -> None:
        self._cronjobs = cronjobs

    def create_cronjob(self, namespace: str, body: RayCronJob) -> tuple[RayCronJob, int]:
        return self._cronjobs.create(namespace, body), 200

    def get_cronjob(self, namespace: str, name: str) -> tuple[RayCronJob, int]:
        return self._cronjobs.get(namespace, name), 200

    def list_cronjobs(self, namespace: str, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._cronjobs.list(namespace, limit, continue_), 200

    def list_all_cronjobs(self, limit: int = 0, continue_: str = "") -> tuple[Json, int]:
        return self._cronjobs.list(None, limit, continue_), 200

    def delete_cronjob(self, namespace: str, name: str) -> tuple[Json, int]:
        return self._cronjobs.delete(namespace, name), 200

    def suspend_cronjob(self, namespace: str, name: str) -> tuple[RayCronJob, int]:
        return self._cronjobs.suspend(namespace, name), 200

    def resume_cronjob(self, namespace: str, name: str) -> tuple[RayCronJob, int]:
        return self._cronjobs.resume(namespace, name), 200
