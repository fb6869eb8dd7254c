"""The `x-unstatable` rules of openapi/kuberay.yaml's 400 answers: the rules that no schema can state,
each with the regular expression that its refusal's message matches (what the contract run without
hooks tells them by). Each rule is matched by a refusal the server really makes, and by no other rule.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from connexion.spec import Specification

from app.errors import InvalidInput
from app.translate.pods import cluster_checks, compute_template_check, refusal_message
from app.types import Json
from app.validation import (
    Limits,
    check_cluster,
    check_compute_template,
    check_cronjob,
    check_job,
    check_service,
    check_templates,
)
from app.validation.job_submissions import check_submission

RAW = Specification._load_spec_from_file(None, Path(__file__).parents[2] / "openapi" / "kuberay.yaml")
ANSWERS = RAW["components"]["responses"]
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

HEAD = {"computeTemplate": "t", "rayStartParams": {"dashboard-host": "0.0.0.0"}}
WORKER = {"groupName": "g", "computeTemplate": "t", "maxReplicas": 2}
SPEC = {"headGroupSpec": HEAD, "workerGroupSpec": [WORKER]}
CLUSTER = {"name": "c", "user": "u", "clusterSpec": SPEC}
GRAPH = {"importPath": "fruit.deployment_graph", "serveConfigs": [{"deploymentName": "d"}]}
CRON = {**CLUSTER, "schedule": "@hourly"}
SERVICE = {"name": "s", "user": "u", "clusterSpec": SPEC, "serveDeploymentGraphSpec": GRAPH}


def with_worker(**worker: object) -> Json:
    return {**CLUSTER, "clusterSpec": {**SPEC, "workerGroupSpec": [{**WORKER, **worker}]}}


def with_head(**head: object) -> Json:
    return {**CLUSTER, "clusterSpec": {**SPEC, "headGroupSpec": {**HEAD, **head}}}


def with_graph(**graph: object) -> Json:
    return {**SERVICE, "serveDeploymentGraphSpec": {**GRAPH, **graph}}


def refusal(check: Callable[[], object]) -> str:
    with pytest.raises(InvalidInput) as refused:
        check()
    return refused.value.message


# (400 answer, rule, a refusal the server makes for it: a check's, or a message it passes on)
REFUSALS: list[tuple[str, str, Callable[[], str]]] = [
    ("PageRefused", "token", lambda: "invalid continue token: continue key is not valid: invalid character 'x'"),
    ("PageRefused", "token", lambda: "The provided continue parameter is too old to display a consistent list"),
    ("ComputeTemplateRefused", "namespace",
     lambda: refusal(lambda: check_compute_template({"name": "t", "cpu": 1, "memory": 1, "namespace": "a"}, "b"))),
    ("ClusterRefused", "namespace", lambda: refusal(lambda: check_cluster({**CLUSTER, "namespace": "a"}, "b"))),
    ("ClusterRefused", "template", lambda: "Compute template t not found in namespace ns"),
    ("ClusterRefused", "template",
     lambda: refusal(lambda: check_templates({"t": {"name": "t", "cpu": 1, "memory": 1, "memoryUnit": "GB"}}))),
    ("ClusterRefused", "replicas", lambda: refusal(lambda: check_cluster(with_worker(minReplicas=2, maxReplicas=1), "ns"))),
    ("ClusterRefused", "replicas", lambda: refusal(lambda: check_cluster(with_worker(replicas=3), "ns"))),
    ("ClusterRefused", "replicas", lambda: refusal(lambda: check_cluster(with_worker(replicas=1, minReplicas=2), "ns"))),
    ("ClusterRefused", "workers", lambda: refusal(lambda: check_cluster(CLUSTER, "ns", Limits(max_workers_per_cluster=1)))),
    ("ClusterRefused", "storage",
     lambda: refusal(lambda: check_cluster(with_head(volumes=[{"name": "v", "volumeType": "EPHEMERAL"}]), "ns"))),
    ("ClusterRefused", "storage", lambda: refusal(lambda: check_cluster(
        with_head(volumes=[{"name": "v", "volumeType": "EMPTY_DIR", "storage": "1 GB"}]), "ns"))),
    ("ClusterRefused", "autoscaler", lambda: refusal(lambda: check_cluster(
        {**CLUSTER, "clusterSpec": {**SPEC, "enableInTreeAutoscaling": True, "autoscalerOptions": {"cpu": "lots"}}},
        "ns"))),
    ("ClusterRefused", "auth-version", lambda: refusal(lambda: check_cluster(
        {**CLUSTER, "version": "2.51.9", "clusterSpec": {**SPEC, "authOptions": {"mode": "token"}}}, "ns"))),
    ("ClusterRefused", "kubernetes",
     lambda: 'RayCluster.ray.io "c" is invalid: metadata.annotations: Invalid value: "a b": name part must consist'),
    ("ComputeTemplateRefused", "pods", lambda: refusal_message(
        compute_template_check({"name": "t", "cpu": 1, "memory": 1, "tolerations": [{"operator": "No"}]}),
        {"details": {"causes": [{"field": "spec.tolerations[0].operator", "message": 'Unsupported value: "No"'}]}})),
    ("ClusterRefused", "pods", lambda: refusal_message(
        cluster_checks({"headGroupSpec": {"template": {}}, "workerGroupSpecs": [{"template": {}}]})[1],
        {"details": {"causes": [{"field": "spec.tolerations[0].operator", "message": 'Unsupported value: "No"'}]}})),
    ("JobRefused", "namespace",
     lambda: refusal(lambda: check_job({**CLUSTER, "name": "j", "namespace": "a"}, "b"))),
    ("JobRefused", "replicas",
     lambda: refusal(lambda: check_job({**with_worker(replicas=3), "name": "j"}, "ns"))),
    ("CronJobRefused", "schedule", lambda: refusal(lambda: check_cronjob({**CRON, "schedule": "61 * * * *"}, "ns"))),
    ("CronJobRefused", "schedule",
     lambda: refusal(lambda: check_cronjob({**CRON, "schedule": "CRON_TZ=UTC * * * * *"}, "ns"))),
    ("CronJobRefused", "time-zone", lambda: refusal(lambda: check_cronjob({**CRON, "timeZone": "Mars/Base"}, "ns"))),
    ("CronJobRefused", "ttl",
     lambda: refusal(lambda: check_cronjob({**CRON, "ttlSecondsAfterFinished": 10}, "ns"))),
    ("CronJobRefused", "selector", lambda: refusal(lambda: check_cronjob(
        {"name": "c", "user": "u", "schedule": "@daily", "clusterSelector": {"a": "b"}}, "ns"))),
    ("CronJobRefused", "yaml", lambda: refusal(lambda: check_cronjob({**CRON, "runtimeEnv": "just text"}, "ns"))),
    ("CronJobRefused", "replicas",
     lambda: refusal(lambda: check_cronjob({**with_worker(replicas=3), "name": "c", "schedule": "@daily"}, "ns"))),
    ("ServiceRefused", "route-prefix", lambda: refusal(lambda: check_service(
        with_graph(serveConfigs=[{"deploymentName": "d", "routePrefix": "/a"},
                                 {"deploymentName": "e", "routePrefix": "/b"}]), "ns"))),
    ("ServiceRefused", "yaml", lambda: refusal(lambda: check_service(with_graph(runtimeEnv="just text"), "ns"))),
    ("ServiceRefused", "yaml", lambda: refusal(lambda: check_service(
        with_graph(serveConfigs=[{"deploymentName": "d", "userConfig": "[unclosed"}]), "ns"))),
    ("ServiceUpdateRefused", "name",
     lambda: "The name in the request (a) is different from the name in the path (b)."),
    ("ServiceUpdateRefused", "namespace",
     lambda: refusal(lambda: check_service({**SERVICE, "namespace": "a"}, "b", update=True))),
    ("SubmissionRefused", "runtime-env",
     lambda: refusal(lambda: check_submission({"entrypoint": "x", "runtimeEnv": "pip: [unclosed"}))),
    ("SubmissionRefused", "runtime-env",
     lambda: refusal(lambda: check_submission({"entrypoint": "x", "runtimeEnv": "a: .nan"}))),
    ("SubmissionRefused", "submission-id",
     lambda: refusal(lambda: check_submission({"entrypoint": "x", "submissionId": "é" * 101}))),
    ("SubmissionRefused", "dashboard",
     lambda: "The Ray dashboard refused the job: Job with submission_id a already exists."),
]


def test_every_answer_that_lists_such_rules_names_them() -> None:
    """Each operation's own 400 answer (any but the generic one) gives its rules in `x-unstatable`."""
    answers = {op["responses"]["400"]["$ref"].rpartition("/")[2] for item in RAW["paths"].values()
               for method, op in item.items() if method in HTTP_METHODS}
    assert {answer for answer in answers - {"InvalidInput"} if not ANSWERS[answer].get("x-unstatable")} == set()
    assert "x-unstatable" not in ANSWERS["InvalidInput"]


@pytest.mark.parametrize(("answer", "rule", "message"), REFUSALS, ids=[f"{a}-{r}" for a, r, _ in REFUSALS])
def test_a_refusal_is_told_by_its_rule_alone(answer: str, rule: str, message: Callable[[], str]) -> None:
    text = message()
    matching = [name for name, pattern in ANSWERS[answer]["x-unstatable"].items() if re.search(pattern, text)]
    assert matching == [rule], text


def test_every_rule_has_a_refusal_above() -> None:
    """The answers share rules (a job's cluster spec keeps a cluster's): each rule is tried once."""
    rules = {(name, pattern) for body in ANSWERS.values() for name, pattern in body.get("x-unstatable", {}).items()}
    tried = {(rule, ANSWERS[answer]["x-unstatable"][rule]) for answer, rule, _ in REFUSALS}
    assert rules - tried == set()
