"""The V2 API's own checks over the fake API server, before anything is forwarded: which Services
the proxy reaches, and the compute templates a forwarded create names."""
from __future__ import annotations

import json

import pytest

from app.constants import APP_NAME, APP_NAME_VALUE
from app.errors import NotFound, Unprocessable
from app.services import Services
from tests.services.bodies import NS, TEMPLATE
from tests.support.fake_gateway import FakeGateway


def test_the_proxy_reaches_kuberays_services_only(services: Services, fake: FakeGateway) -> None:
    fake.add("services", NS, {"metadata": {"name": "head", "labels": {APP_NAME: APP_NAME_VALUE}}})
    fake.add("services", NS, {"metadata": {"name": "db", "labels": {APP_NAME: "postgres"}}})

    services.v2.check_service(NS, "http:head:8265")
    for segment, name in (("db", "db"), ("nope:80", "nope")):
        with pytest.raises(NotFound, match=f"^No KubeRay service {name} in namespace {NS}: "):
            services.v2.check_service(NS, segment)


def raycluster(template: str) -> bytes:
    pod = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}
    head = {"computeTemplate": template, "rayStartParams": {}, "template": pod}
    return json.dumps({"metadata": {"name": "c"}, "spec": {"headGroupSpec": head}}).encode()


def test_a_forwarded_create_gets_its_compute_template_applied(services: Services) -> None:
    body, content_type = services.v2.with_compute_templates(NS, "rayclusters", raycluster(TEMPLATE), "")

    container = json.loads(body)["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert content_type == "application/json"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_a_forwarded_create_naming_a_missing_template_is_422(services: Services) -> None:
    with pytest.raises(Unprocessable, match=f"^Compute template gone not found in namespace {NS}: the object names"):
        services.v2.with_compute_templates(NS, "rayclusters", raycluster("gone"), "application/json")


def test_a_forwarded_raycronjob_gets_its_job_templates_compute_template(services: Services) -> None:
    """A RayCronJob's cluster is in its job template (`spec.jobTemplate.rayClusterSpec`)."""
    cluster = json.loads(raycluster(TEMPLATE))["spec"]
    cron = {"metadata": {"name": "nightly"}, "spec": {"schedule": "0 3 * * *", "jobTemplate": {
        "entrypoint": "python -V", "rayClusterSpec": cluster}}}
    body, _ = services.v2.with_compute_templates(NS, "raycronjobs", json.dumps(cron).encode(), "application/json")

    head = json.loads(body)["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert head["metadata"]["annotations"] == {"ray.io/compute-template": TEMPLATE}
    assert head["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    with pytest.raises(Unprocessable, match="^Compute template gone not found"):
        services.v2.with_compute_templates(NS, "raycronjobs", json.dumps(cron).encode().replace(
            TEMPLATE.encode(), b"gone"), "application/json")
