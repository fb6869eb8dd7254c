"""Cron jobs both ways (app/translate/cronjobs.py), over plain data: the RayJob part is the RayJob
translation's, the zone lives in the schedule's prefix, and an answer lists what the cron job made."""
from __future__ import annotations

from typing import Any

from app.translate.cronjobs import split_schedule, stored_schedule, to_api_cronjob, to_raycronjob
from app.translate.jobs import to_rayjob

TEMPLATES = {"small": {"name": "small", "cpu": 1, "memory": 2}}
SPEC = {"headGroupSpec": {"computeTemplate": "small", "image": "rayproject/ray:2.9.0", "rayStartParams": {}}}
CRON: dict[str, Any] = {"name": "nightly", "namespace": "ns", "user": "ada", "entrypoint": "python -V",
                        "metadata": {"team": "a"}, "clusterSpec": SPEC, "schedule": "0 3 * * *",
                        "timeZone": "Europe/Paris", "suspend": True}
UID = "0b6c-uid"


def made(name: str, scheduled: str, *, owner: str = UID, label: str = "nightly", namespace: str = "ns",
         controller: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": scheduled,
                         "labels": {"ray.io/cronjob-name": label},
                         "annotations": {"ray.io/cronjob-scheduled-timestamp": scheduled},
                         "ownerReferences": [{"kind": "RayCronJob", "name": label, "uid": owner,
                                              "controller": controller}]},
            "status": {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete", "rayClusterName": f"{name}-rc"}}


def test_the_job_template_is_the_rayjobs_spec_and_the_zone_a_prefix() -> None:
    raycronjob = to_raycronjob(CRON, TEMPLATES)
    rayjob = to_rayjob(CRON, TEMPLATES)
    assert raycronjob["apiVersion"] == "ray.io/v1"
    assert raycronjob["kind"] == "RayCronJob"
    assert raycronjob["spec"] == {"jobTemplate": rayjob["spec"], "schedule": "CRON_TZ=Europe/Paris 0 3 * * *",
                                  "suspend": True}
    assert raycronjob["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}  # the compute template applied
    assert raycronjob["metadata"] == {
        "name": "nightly", "namespace": "ns", "annotations": {"team": "a"},
        "labels": {"app.kubernetes.io/managed-by": "kuberay-apiserver", "app.kubernetes.io/name": "kuberay",
                   "ray.io/user": "ada"}}


def test_without_a_zone_or_suspend_the_schedule_is_as_given() -> None:
    spec = to_raycronjob({**CRON, "timeZone": "", "suspend": False}, TEMPLATES)["spec"]
    assert spec["schedule"] == "0 3 * * *"
    assert "suspend" not in spec


def test_the_zone_is_read_back_from_either_prefix() -> None:
    assert split_schedule(stored_schedule("@daily", "Asia/Tokyo")) == ("@daily", "Asia/Tokyo")
    assert split_schedule("TZ=UTC   */5 * * * *") == ("*/5 * * * *", "UTC")
    assert split_schedule("*/5 * * * *") == ("*/5 * * * *", "")


def test_an_answer_round_trips_the_request_and_carries_the_status() -> None:
    raycronjob = to_raycronjob({**CRON, "jobId": "fixed-id"}, TEMPLATES)
    raycronjob["metadata"] |= {"uid": UID, "creationTimestamp": "2026-01-02T03:04:05Z"}
    raycronjob["status"] = {"lastScheduleTime": "2026-01-03T02:00:00.123+00:00"}
    answer = to_api_cronjob(raycronjob, [])
    assert {key: answer[key] for key in ("name", "namespace", "user", "entrypoint", "metadata", "schedule",
                                          "timeZone", "suspend", "jobId")} == {
        "name": "nightly", "namespace": "ns", "user": "ada", "entrypoint": "python -V", "metadata": {"team": "a"},
        "schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": True, "jobId": "fixed-id"}
    assert answer["clusterSpec"]["headGroupSpec"]["computeTemplate"] == "small"
    assert answer["createdAt"] == "2026-01-02T03:04:05Z"
    assert answer["lastScheduleTime"] == "2026-01-03T02:00:00Z"
    assert "jobs" not in answer


def test_the_jobs_are_those_it_made_newest_first() -> None:
    raycronjob = to_raycronjob(CRON, TEMPLATES)
    raycronjob["metadata"]["uid"] = UID
    rayjobs = [
        made("nightly-aaaaa", "2026-01-01T02:00:00Z"),
        made("nightly-ccccc", "2026-01-03T02:00:00Z"),
        made("nightly-bbbbb", "2026-01-02T02:00:00Z"),
        made("nightly-old01", "2025-12-31T02:00:00Z", owner="a-namesake-deleted-since"),
        made("other-ddddd", "2026-01-04T02:00:00Z", label="other"),
        made("nightly-eeeee", "2026-01-04T02:00:00Z", namespace="elsewhere"),
        made("nightly-fffff", "2026-01-04T02:00:00Z", controller=False),
    ]
    answer = to_api_cronjob(raycronjob, rayjobs)
    assert [run["name"] for run in answer["jobs"]] == ["nightly-ccccc", "nightly-bbbbb", "nightly-aaaaa"]
    assert answer["jobs"][0] == {"name": "nightly-ccccc", "jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete",
                                 "rayClusterName": "nightly-ccccc-rc", "createdAt": "2026-01-03T02:00:00Z",
                                 "scheduledAt": "2026-01-03T02:00:00Z"}
