"""Ray cron jobs, both directions: the API's `RayCronJob` <-> a RayCronJob custom resource
(ray-operator/apis/ray/v1/raycronjob_types.go@v1.6.2), with the RayJobs it made.

The RayJob part is `app.translate.jobs` unchanged: its spec becomes `spec.jobTemplate`, so compute
templates reach `jobTemplate.rayClusterSpec` exactly as a RayJob's. A time zone is stored where the
operator reads it, as the schedule's `CRON_TZ=<zone> ` prefix, and read back from there.
Pure: no I/O, no clock, no logging; inputs are never modified.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from app.constants import (
    APP_NAME,
    CRONJOB_NAME_LABEL,
    CRONJOB_SCHEDULED_ANNOTATION,
    MANAGED_BY,
    RAYCRONJOB,
    USER_LABEL,
)
from app.translate.common import metadata, omit_zero, present_rfc3339
from app.translate.jobs import to_api_job, to_rayjob
from app.types import Json, RayCronJob, RayCronJobRun

ZONE_PREFIXES = ("CRON_TZ=", "TZ=")  # what robfig reads as a schedule's zone
ZONE_PREFIX = ZONE_PREFIXES[0]  # what this server writes
_KEPT_LABELS = (MANAGED_BY, APP_NAME, USER_LABEL)


def to_raycronjob(cron: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]]) -> Json:
    """The RayCronJob to create; `templates` holds every template of `clusterSpec` by name."""
    request = cast(RayCronJob, cron)
    rayjob = to_rayjob(cron, templates)
    meta = dict(rayjob["metadata"])
    meta["labels"] = {key: value for key, value in meta["labels"].items() if key in _KEPT_LABELS}
    return {
        "apiVersion": f"{RAYCRONJOB.group}/{RAYCRONJOB.version}",
        "kind": RAYCRONJOB.kind,
        "metadata": meta,
        "spec": omit_zero({
            "jobTemplate": rayjob["spec"],
            "schedule": stored_schedule(request.get("schedule", ""), request.get("timeZone", "")),
            "suspend": request.get("suspend", False),
        }),
    }


def stored_schedule(schedule: str, zone: str) -> str:
    """The schedule as the operator reads it, its zone a prefix."""
    return f"{ZONE_PREFIX}{zone} {schedule}" if zone else schedule


def split_schedule(stored: str) -> tuple[str, str]:
    """(schedule, zone) of a stored schedule: robfig's reading of a `CRON_TZ=`/`TZ=` prefix (the
    zone runs to the first space), the rest trimmed."""
    if stored.startswith(ZONE_PREFIXES) and " " in stored:
        prefix, _, rest = stored.partition(" ")
        return rest.strip(), prefix.partition("=")[2]
    return stored, ""


def to_api_cronjob(raycronjob: Mapping[str, Any], made: Iterable[Mapping[str, Any]]) -> Json:
    """The API's `RayCronJob`: the RayJob fields of its template, the schedule, its status, and
    of `made` (RayJobs of its namespace) those it made, newest first."""
    meta = metadata(raycronjob)
    spec = raycronjob.get("spec") or {}
    status = raycronjob.get("status") or {}
    template = spec.get("jobTemplate") or {}
    job = to_api_job({"metadata": meta, "spec": template})  # a template has no status
    schedule, zone = split_schedule(str(spec.get("schedule", "")))
    runs = [made_run(rayjob) for rayjob in made_by(raycronjob, made)]
    runs.sort(key=lambda run: (run.get("scheduledAt", ""), run.get("createdAt", ""), run.get("name", "")),
              reverse=True)
    return {**job, **omit_zero({
        "jobId": template.get("jobId", ""),
        "schedule": schedule,
        "timeZone": zone,
        "suspend": spec.get("suspend", False),
        "lastScheduleTime": present_rfc3339(status.get("lastScheduleTime")),
        "jobs": runs,
    })}


def made_by(raycronjob: Mapping[str, Any], rayjobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The RayJobs the cron job made: labelled with its name and controlled by it (its uid), so a
    namesake's RayJobs (a cron job deleted and made again) are not counted."""
    meta = metadata(raycronjob)
    name, namespace, uid = meta.get("name"), meta.get("namespace"), meta.get("uid")
    return [rayjob for rayjob in rayjobs
            if metadata(rayjob).get("namespace") == namespace
            and (metadata(rayjob).get("labels") or {}).get(CRONJOB_NAME_LABEL) == name
            and any(ref.get("controller") and ref.get("uid") == uid
                    for ref in metadata(rayjob).get("ownerReferences") or [])]


def made_run(rayjob: Mapping[str, Any]) -> RayCronJobRun:
    meta = metadata(rayjob)
    status = rayjob.get("status") or {}
    return cast(RayCronJobRun, omit_zero({
        "name": meta.get("name", ""),
        "jobStatus": status.get("jobStatus", ""),
        "jobDeploymentStatus": status.get("jobDeploymentStatus", ""),
        "message": status.get("message", ""),
        "rayClusterName": status.get("rayClusterName", ""),
        "createdAt": present_rfc3339(meta.get("creationTimestamp")),
        "scheduledAt": present_rfc3339((meta.get("annotations") or {}).get(CRONJOB_SCHEDULED_ANNOTATION)),
        "startTime": present_rfc3339(status.get("startTime")),
        "endTime": present_rfc3339(status.get("endTime")),
    }))

