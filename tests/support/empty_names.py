"""Requests whose path parameters are empty (`GET …/clusters/`), and how upstream refuses each.

`REFUSALS` is written out from upstream's handlers rather than read from the spec's `x-empty`, so
that a wrong text in the spec fails the tests: the Get, Delete and List handlers of
`apiserver/pkg/server/{compute_template,cluster,job,serve}_server.go@v1.7.0`, `Validate*Request` of
`apiserver/pkg/server/validations.go@v1.7.0`, and, for job submissions, `GetCluster` (which
`getRayClusterURL` of `ray_job_submission_service_server.go@v1.7.0` calls first). Upstream sent an
empty submission id on to the dashboard; the text for it is ours.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from connexion.spec import Specification

NAMESPACE = "Namespace is empty. Please specify a valid value."
CLUSTER = "Cluster name is empty. Please specify a valid value."
JOB_NAMESPACE = "job namespace is empty. Please specify a valid value."
SERVICE_NAMESPACE = "ray service namespace is empty. Please specify a valid value."
SUBMISSION = {"clustername": CLUSTER, "namespace": NAMESPACE,
              "submissionid": "Submission id is empty. Please specify a valid value."}

# operationId -> path parameter -> the refusal of it empty
REFUSALS: dict[str, dict[str, str]] = {
    "create_compute_template": {"namespace": NAMESPACE},
    "list_compute_templates": {"namespace": NAMESPACE},
    "get_compute_template": {"name": "Compute template name is empty. Please specify a valid value.",
                             "namespace": NAMESPACE},
    "delete_compute_template": {"name": "Compute template name is empty. Please specify a valid value.",
                                "namespace": NAMESPACE},
    "create_cluster": {"namespace": NAMESPACE},
    "list_clusters": {"namespace": NAMESPACE},
    "get_cluster": {"name": CLUSTER, "namespace": NAMESPACE},
    "delete_cluster": {"name": CLUSTER, "namespace": NAMESPACE},
    "create_job": {"namespace": NAMESPACE},
    "list_jobs": {"namespace": JOB_NAMESPACE},
    "get_job": {"name": "job name is empty. Please specify a valid value.", "namespace": JOB_NAMESPACE},
    "delete_job": {"name": "job name is empty. Please specify a valid value.", "namespace": JOB_NAMESPACE},
    "create_service": {"namespace": NAMESPACE},
    "list_services": {"namespace": SERVICE_NAMESPACE},
    "update_service": {"name": "Name is empty. Please specify a valid value.", "namespace": NAMESPACE},
    "get_service": {"name": "ray service name is empty. Please specify a valid value.",
                    "namespace": SERVICE_NAMESPACE},
    "delete_service": {"name": "ray service name is empty. Please specify a valid value.",
                       "namespace": SERVICE_NAMESPACE},
    "submit_ray_job": {"clustername": CLUSTER, "namespace": NAMESPACE},
    "list_job_details": {"clustername": CLUSTER, "namespace": NAMESPACE},
    "get_job_details": SUBMISSION,
    "stop_ray_job": SUBMISSION,
    "delete_ray_job": SUBMISSION,
    "get_job_log": SUBMISSION,
    # Ours: cron jobs are an extension, in the words of upstream's cluster handlers.
    "create_cronjob": {"namespace": NAMESPACE},
    "list_cronjobs": {"namespace": NAMESPACE},
    **{operation: {"name": "Cron job name is empty. Please specify a valid value.", "namespace": NAMESPACE}
       for operation in ("get_cronjob", "delete_cronjob", "suspend_cronjob", "resume_cronjob")},
}
PATHS = Specification.load(Path(__file__).parents[2] / "openapi" / "kuberay.yaml")["paths"]
FILLED = {"namespace": "ns", "name": "n", "clustername": "c", "submissionid": "s"}  # valid values
METHODS = ("GET", "DELETE", "PUT", "POST")


def path_parameters(template: str) -> list[str]:
    return re.findall(r"{(\w+)}", template)


def one_empty(paths: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None, str]]:
    """(method, path under the prefix, operationId or None, the empty parameter): each route of the
    spec's `paths` with a path parameter, each method of `METHODS` (None where the route has no such
    method), each of its path parameters empty and the others filled."""
    for template, item in paths.items():
        for method in METHODS:
            operation = item.get(method.lower())
            for empty in path_parameters(template):
                path = template.format(**{**FILLED, empty: ""})
                yield method, path, operation["operationId"] if operation else None, empty


def refusal_operation(method: str, path: str) -> str:
    """The operationId of a route (`GET`, `/namespaces/{namespace}/clusters/{name}`): the key of
    `REFUSALS`."""
    return str(PATHS[path][method.lower()]["operationId"])
