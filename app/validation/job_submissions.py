"""Job submissions: what the server checks before anything is sent to a Ray dashboard.

Upstream checks nothing (a bad `runtimeEnv` or resource count failed on its way, with 500); here
each rule refuses with 400 and names the field, and the dashboard's own rules stay its own.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.translate.job_submissions import DOT_SEGMENTS, json_safe
from app.validation.common import check_yaml_mapping

# Ray names the job's log file after the id: a '/' leaves a job it can neither run nor delete.
MAX_ID_BYTES = 200  # `job-driver-<id>.log` must stay a file name (255 bytes)
BAD_ID = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_submission(submission: Mapping[str, Any]) -> None:
    if not str(submission.get("entrypoint") or "").strip():
        raise InvalidInput("Field 'entrypoint' is required: the command the job runs, "
                           "such as 'python -c \"print(42)\"'.")
    submission_id = str(submission.get("submissionId") or "")
    if BAD_ID.search(submission_id):
        raise InvalidInput("Field 'submissionId' must not contain '/', '\\' or control characters: the id "
                           "is a segment of the job's paths here, and a file name on the Ray head.")
    if submission_id in DOT_SEGMENTS:
        raise InvalidInput(f"Field 'submissionId' must not be {submission_id!r}: the id is a segment of the "
                           "job's paths, and Kubernetes' service proxy reads this one as a step within them.")
    if len(submission_id.encode()) > MAX_ID_BYTES:
        raise InvalidInput(f"Field 'submissionId' must be at most {MAX_ID_BYTES} bytes long (in UTF-8): "
                           "Ray names the job's log file after it.")
    runtime_env = check_yaml_mapping(submission, "runtimeEnv")
    try:
        json_safe(runtime_env)
    except ValueError:
        raise InvalidInput("Field 'runtimeEnv' holds a number JSON cannot carry (NaN or infinity).") from None
    for field in ("entrypointNumCpus", "entrypointNumGpus"):
        if (given := submission.get(field)) is not None:
            _check_amount(given, field)
    for name, given in (submission.get("entrypointResources") or {}).items():
        _check_amount(given, f"entrypointResources.{name}")


def _check_amount(given: Any, field: str) -> None:
    """A count of CPUs, GPUs or a resource: a number, or upstream's form, a string holding one."""
    try:
        value = float(given) if not isinstance(given, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise InvalidInput(f"Field '{field}' must be a number such as 1 or 0.5, not {given!r}.")
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"Field '{field}' must be a finite number, 0 or more, not {given!r}.")
