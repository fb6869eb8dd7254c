"""Ray jobs: the job's own fields, its cluster spec when it brings one, then its submitter."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.validation.cluster import check_auth_version, check_cluster_spec
from app.validation.common import DEFAULT_LIMITS, Limits, check_quantity, check_request

# An example of each quantity, for the refusal.
_SUBMITTER_EXAMPLES = {"cpu": "500m", "memory": "512Mi"}


def check_job(job: Mapping[str, Any], namespace: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """The cluster spec is checked whenever present (upstream skips it under a selector, then crashes)."""
    check_request(job, namespace, "job", "User who create the job is empty. Please specify a valid value.")
    if job.get("clusterSpec") is not None or not job.get("clusterSelector"):
        check_cluster_spec(job.get("clusterSpec"), limits)
        check_auth_version(job.get("clusterSpec"), job.get("version", ""))
    submitter = job.get("jobSubmitter") or {}
    for field, example in _SUBMITTER_EXAMPLES.items():
        if value := submitter.get(field):
            check_quantity(value, f'jobSubmitter.{field} "{value}" is not specified correctly: '
                                  f"it must be a Kubernetes quantity such as {example}.")
