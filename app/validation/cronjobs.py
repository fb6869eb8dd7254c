"""Ray cron jobs: the RayJob they make, checked as a RayJob request is, then what the KubeRay
operator's `ValidateRayCronJobSpec` (ray-operator/controllers/ray/utils/validation.go@v1.6.2)
would refuse later, in a Warning event only, that the request alone decides: the schedule, the
zone, and of `ValidateRayJobSpec` the rules `check_job` leaves out (a TTL without
`shutdownAfterJobFinishes`, a negative TTL, a cluster selector without `ray.io/cluster`, a
`runtimeEnv` that is no YAML mapping).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.validation.common import DEFAULT_LIMITS, Limits, check_yaml_mapping
from app.validation.jobs import check_job
from app.validation.schedule import ScheduleError, check_zone, parse_schedule

# The operator names each RayJob it makes `<cron job>-<5 random characters>`, and a RayJob name is
# at most 47 characters (the spec's JobNameField: the operator's MaxRayJobNameLength), so that the
# RayCluster named after it stays within 53.
MADE_JOB_SUFFIX = 6
MAX_JOB_NAME = 47
MAX_CRONJOB_NAME = MAX_JOB_NAME - MADE_JOB_SUFFIX
CLUSTER_SELECTOR_KEY = "ray.io/cluster"  # the operator's RayJobClusterSelectorKey


def check_cronjob(cron: Mapping[str, Any], namespace: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Everything a RayJob request must satisfy, then the schedule, the zone and the operator's job rules."""
    check_job(cron, namespace, limits)
    name = str(cron["name"])
    if len(name) > MAX_CRONJOB_NAME:
        raise InvalidInput(f"Field 'name' is {len(name)} characters long: a cron job name is at most "
                           f"{MAX_CRONJOB_NAME}, as the operator names its RayJobs '<name>-xxxxx' and a RayJob "
                           f"name is at most {MAX_JOB_NAME}.")
    schedule = str(cron.get("schedule") or "")
    try:
        parse_schedule(schedule)
    except ScheduleError as exc:
        raise InvalidInput(f"Field 'schedule' is not a cron schedule the KubeRay operator accepts: {exc}.") from None
    if zone := str(cron.get("timeZone") or ""):
        try:
            check_zone(zone)
        except ScheduleError as exc:
            raise InvalidInput(f"Field 'timeZone' is not a time zone: {exc}.") from None
    _check_operator_job_rules(cron)


def _check_operator_job_rules(job: Mapping[str, Any]) -> None:
    ttl = int(job.get("ttlSecondsAfterFinished") or 0)
    if ttl < 0:
        raise InvalidInput("Field 'ttlSecondsAfterFinished' must not be negative.")
    if ttl > 0 and not job.get("shutdownAfterJobFinishes"):
        raise InvalidInput("Field 'ttlSecondsAfterFinished' needs 'shutdownAfterJobFinishes': the KubeRay operator "
                           "refuses a TTL for a job whose cluster is not shut down.")
    selector = job.get("clusterSelector") or {}
    if selector and not selector.get(CLUSTER_SELECTOR_KEY):
        raise InvalidInput(f"Field 'clusterSelector' must name the cluster under the key {CLUSTER_SELECTOR_KEY}: "
                           "the KubeRay operator picks the cluster by that label alone.")
    check_yaml_mapping(job, "runtimeEnv")
