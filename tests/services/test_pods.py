"""Kubernetes' validation of a write's pods (app/services/pods.py), over the fake API server, which
keeps one of Kubernetes' rules (a toleration's operator): what is asked, what is remembered, and
what a refusal leaves behind."""
from __future__ import annotations

import logging

import pytest

from app.errors import InvalidInput
from app.services import Services
from app.services.pods import TTL, PodChecks
from app.translate.pods import raycluster_checks
from app.types import PodToleration
from app.validation import Limits
from tests.services.bodies import KINDS, NS, OTHER, Kind, template
from tests.support.fake_gateway import FakeGateway

each_kind = pytest.mark.parametrize("kind", KINDS, ids=[kind.attribute for kind in KINDS])
BAD_TOLERATION: PodToleration = {"key": "k", "operator": "NotAnOperator", "value": "v", "effect": "NoSchedule"}


def test_a_compute_template_kubernetes_would_refuse_is_not_stored(services: Services, fake: FakeGateway) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.compute_templates.create(NS, {**template("tolerant"), "tolerations": [BAD_TOLERATION]})
    assert str(refused.value) == ('Kubernetes would refuse the pods of compute template tolerant: '
                                  'tolerations[0].operator: Unsupported value: "NotAnOperator": supported values: '
                                  '"Equal", "Exists"')
    assert [item["metadata"]["name"] for item in fake.held("configmaps", NS)] == ["small"]


@each_kind
def test_each_group_is_asked_about_once_while_remembered(services: Services, fake: FakeGateway, kind: Kind) -> None:
    before = len(fake.checked_pods)
    kind.of(services).create(NS, kind.body("first"))
    asked = fake.checked_pods[before:]
    # (at once: in either order)
    assert sorted(pod["spec"]["containers"][0]["name"] for _, pod in asked) == ["ray-head", "ray-worker"]
    assert {ns for ns, _ in asked} == {NS}

    kind.of(services).create(NS, kind.body("second"))  # the same pods: nothing asked
    assert len(fake.checked_pods) == before + 2


def test_remembered_outcomes_expire_and_the_oldest_go_first(fake: FakeGateway) -> None:
    now = [0.0]
    checks = PodChecks(fake, ttl=TTL, size=2, clock=lambda: now[0])
    pods = [raycluster_checks({"spec": {"headGroupSpec": {"template": {"spec": {"containers": [{"name": str(i)}]}}}}})
            for i in range(3)]
    checks.check(NS, pods[0])
    checks.check(NS, pods[0])
    checks.check(OTHER, pods[0])  # another namespace: asked again
    assert len(fake.checked_pods) == 2
    now[0] = TTL
    checks.check(NS, pods[0])
    assert len(fake.checked_pods) == 3
    checks.check(NS, pods[1])
    checks.check(NS, pods[2])  # two remembered at most: pods[0] (used least recently) is forgotten
    checks.check(NS, pods[0])
    assert [pod["spec"]["containers"][0]["name"] for _, pod in fake.checked_pods[3:]] == ["1", "2", "0"]


def test_a_refused_group_is_named_and_its_refusal_remembered(fake: FakeGateway) -> None:
    checks = PodChecks(fake)
    worker = {"metadata": {"annotations": {"ray.io/compute-template": "hand-made"}},
              "spec": {"containers": [{"name": "w"}], "tolerations": [BAD_TOLERATION]}}
    raycluster = {"spec": {"headGroupSpec": {"template": {"spec": {"containers": [{"name": "h"}]}}},
                           "workerGroupSpecs": [{"template": worker}]}}
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"^Kubernetes would refuse the pods of clusterSpec.workerGroupSpec\[0\]: "
                                               r"computeTemplate 'hand-made': tolerations\[0\].operator: Unsupported"):
            checks.check(NS, raycluster_checks(raycluster))
    assert len(fake.checked_pods) == 2


def test_turned_off_nothing_is_asked(fake: FakeGateway) -> None:
    services = Services.build(fake, Limits(), pod_check=False)
    services.compute_templates.create(NS, {**template(), "tolerations": [BAD_TOLERATION]})
    services.clusters.create(NS, KINDS[0].body("c"))
    assert fake.checked_pods == []


@each_kind
def test_an_identity_that_may_not_create_pods_writes_unchecked_and_says_so_once(
        fake: FakeGateway, kind: Kind, caplog: pytest.LogCaptureFixture) -> None:
    fake.may_create_pods = False
    services = Services.build(fake, Limits())
    with caplog.at_level(logging.WARNING, logger="app.services.pods"):
        services.compute_templates.create(NS, template())
        kind.of(services).create(NS, kind.body("first"))
    assert fake.held(kind.of(services).kind.resource.plural, NS) != []
    warnings = [record.getMessage() for record in caplog.records if record.name == "app.services.pods"]
    assert len(warnings) == 1
    assert 'cannot create resource "pods"' in warnings[0]
