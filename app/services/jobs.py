"""Ray jobs: RayJob custom resources managed by this server, answered without events (as upstream).

Templates are read only for a job that brings its own cluster (not for a cluster selector).
The operator removes the job's own cluster and submitter when the job is deleted.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from app.constants import RAYJOB
from app.services.resource import ResourceKind
from app.translate.jobs import to_api_job, to_rayjob
from app.translate.pods import rayjob_checks
from app.types import ComputeTemplate, Json, RayJob
from app.validation import check_job


def _to_rayjob(job: RayJob, templates: Mapping[str, ComputeTemplate], _now: datetime) -> Json:
    return to_rayjob(job, templates)  # a RayJob carries no creation-time annotation


def _to_api(rayjob: Json, _events: list[Json]) -> Json:
    return to_api_job(rayjob)


JOBS: ResourceKind[RayJob] = ResourceKind(
    resource=RAYJOB, noun="Job", items_key="jobs",
    token_key="continue",  # noqa: S106  (the answer's field for the next page token: a name, no secret)
    check=check_job, to_kubernetes=_to_rayjob, to_api=_to_api, pods=rayjob_checks,
)
