"""The KubeRay Python client's job-submission calls, as it makes them, for the tests that play it."""
from __future__ import annotations

import time
from typing import Any

import requests

from app.types import Json


class UpstreamClient:
    """The requests the KubeRay Python client (python_apiserver_client.KubeRayAPIs) makes for job
    submissions: the same URLs, headers, bodies and timeouts, and the same reading of the answers
    ((status, message, value) tuples). Stop is a POST without a body."""

    HEADERS = {"Content-Type": "application/json", "accept": "application/json"}

    def __init__(self, base_url: str) -> None:
        self.api = base_url + "/apis/v1/"
        self.timings: list[tuple[str, float]] = []

    def _send(self, what: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        response = requests.request(method, self.api + path, headers=self.HEADERS, timeout=(10, 10), **kwargs)
        self.timings.append((what, time.perf_counter() - started))
        return response

    @staticmethod
    def request_dict(entrypoint: str, submission_id: str | None = None, runtime_env: str | None = None,
                     metadata: dict[str, str] | None = None, num_cpu: float = -1.0, num_gpu: float = -1.0,
                     resources: dict[str, str] | None = None) -> Json:
        """The body the client's RayJobRequest.to_dict() builds (its own key names)."""
        body: Json = {"entrypoint": entrypoint}
        for key, value in (("submissionId", submission_id), ("runtimeEnv", runtime_env), ("metadata", metadata),
                           ("resources", resources)):
            if value is not None:
                body[key] = value
        if num_cpu > 0:
            body["numCpus"] = num_cpu
        if num_gpu > 0:
            body["numGpus"] = num_gpu
        return body

    def submit_job(self, ns: str, name: str, request: Json) -> tuple[int, str | None, str | None]:
        response = self._send("submit_job", "POST", f"namespaces/{ns}/jobsubmissions/{name}", json=request)
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"], None
        return response.status_code, None, response.json()["submissionId"]

    def get_job_info(self, ns: str, name: str, sid: str) -> tuple[int, str | None, Json | None]:
        response = self._send("get_job_info", "GET", f"namespaces/{ns}/jobsubmissions/{name}/{sid}")
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"], None
        return response.status_code, None, response.json()

    def list_job_info(self, ns: str, name: str) -> tuple[int, str | None, list[Json] | None]:
        response = self._send("list_job_info", "GET", f"namespaces/{ns}/jobsubmissions/{name}")
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"], None
        return response.status_code, None, response.json().get("submissions", [])

    def get_job_log(self, ns: str, name: str, sid: str) -> tuple[int, str | None, str | None]:
        response = self._send("get_job_log", "GET", f"namespaces/{ns}/jobsubmissions/{name}/log/{sid}")
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"], None
        return response.status_code, None, response.json().get("log", "")

    def stop_ray_job(self, ns: str, name: str, sid: str) -> tuple[int, str | None]:
        response = self._send("stop_ray_job", "POST", f"namespaces/{ns}/jobsubmissions/{name}/{sid}")
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"]
        return response.status_code, None

    def delete_ray_job(self, ns: str, name: str, sid: str) -> tuple[int, str | None]:
        response = self._send("delete_ray_job", "DELETE", f"namespaces/{ns}/jobsubmissions/{name}/{sid}")
        if response.status_code // 100 != 2:
            return response.status_code, response.json()["message"]
        return response.status_code, None
