"""RayJobSubmissionService: unpack, one service call, (dict, 200).

The path names the cluster `clustername` and the job `submissionid`, as upstream's routes do.
"""
from __future__ import annotations

from app.services import JobSubmissions
from app.types import Json


class JobSubmissionHandlers:
    def __init__(self, submissions: JobSubmissions) -> None:
        self._submissions = submissions

    def submit_ray_job(self, namespace: str, clustername: str, body: Json) -> tuple[Json, int]:
        return self._submissions.submit(namespace, clustername, body), 200

    def get_job_details(self, namespace: str, clustername: str, submissionid: str) -> tuple[Json, int]:
        return self._submissions.get(namespace, clustername, submissionid), 200

    def get_job_log(self, namespace: str, clustername: str, submissionid: str) -> tuple[Json, int]:
        return self._submissions.log(namespace, clustername, submissionid), 200

    def list_job_details(self, namespace: str, clustername: str) -> tuple[Json, int]:
        return self._submissions.list(namespace, clustername), 200

    def stop_ray_job(self, namespace: str, clustername: str, submissionid: str) -> tuple[Json, int]:
        return self._submissions.stop(namespace, clustername, submissionid), 200

    def delete_ray_job(self, namespace: str, clustername: str, submissionid: str) -> tuple[Json, int]:
        return self._submissions.delete(namespace, clustername, submissionid), 200
