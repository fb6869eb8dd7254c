"""Compute templates over the fake API server: ConfigMaps labelled as templates, and only those."""
from __future__ import annotations

import pytest

from app.constants import COMPUTE_TEMPLATE_LABEL, CONFIG_TYPE_COMPUTE_TEMPLATE, CONFIG_TYPE_LABEL
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.services import Services
from tests.services.bodies import NS, OTHER, TEMPLATE, cluster, template
from tests.support.fake_gateway import FakeGateway


def test_create_get_list_and_delete(services: Services, fake: FakeGateway) -> None:
    templates = services.compute_templates
    created = templates.create(OTHER, {**template("big"), "cpu": 8, "gpu": 1})

    assert created == {"name": "big", "namespace": OTHER, "cpu": 8, "memory": 2, "gpu": 1, "memoryUnit": "Gi"}
    [configmap] = fake.held("configmaps", OTHER)
    assert configmap["metadata"]["labels"] == {CONFIG_TYPE_LABEL: CONFIG_TYPE_COMPUTE_TEMPLATE,
                                               COMPUTE_TEMPLATE_LABEL: "big"}
    assert templates.get(OTHER, "big") == created
    assert templates.list(OTHER) == {"computeTemplates": [created]}
    assert [item["name"] for item in templates.list(None)["computeTemplates"]] == ["big", TEMPLATE]

    assert templates.delete(OTHER, "big") == {}

    assert fake.held("configmaps", OTHER) == []
    assert templates.list(OTHER) == {}
    with pytest.raises(NotFound, match=f"^Compute template big not found in namespace {OTHER}$"):
        templates.get(OTHER, "big")
    with pytest.raises(NotFound, match=f"^Compute template big not found in namespace {OTHER}$"):
        templates.delete(OTHER, "big")


def test_body_without_namespace_takes_the_paths_and_another_is_refused(services: Services, fake: FakeGateway) -> None:
    assert services.compute_templates.create(OTHER, template("big"))["namespace"] == OTHER
    with pytest.raises(InvalidInput):
        services.compute_templates.create(OTHER, {**template("huge"), "namespace": NS})

    assert [item["metadata"]["name"] for item in fake.held("configmaps")] == ["big", TEMPLATE]


def test_a_taken_name_is_409_with_the_products_message(services: Services, fake: FakeGateway) -> None:
    before = fake.held("configmaps", NS)

    with pytest.raises(AlreadyExists, match=f"^Compute template with name {TEMPLATE} already exists in namespace {NS}$"):
        services.compute_templates.create(NS, {**template(), "cpu": 4})

    assert fake.held("configmaps", NS) == before


def test_a_configmap_without_the_template_label_is_not_a_template(services: Services, fake: FakeGateway) -> None:
    fake.add("configmaps", NS, {"metadata": {"name": "plain", "labels": {COMPUTE_TEMPLATE_LABEL: "plain"}},
                                "data": {"cpu": "1", "memory": "1"}})
    templates = services.compute_templates

    for call in (templates.get, templates.delete):
        with pytest.raises(NotFound, match=f"^Compute template plain not found in namespace {NS}$"):
            call(NS, "plain")
    assert [item["name"] for item in templates.list(NS)["computeTemplates"]] == [TEMPLATE]
    with pytest.raises(InvalidInput, match="Compute template plain not found"):  # a cluster cannot use it either
        services.clusters.create(NS, {**cluster("c"), "clusterSpec": {"headGroupSpec": {
            "computeTemplate": "plain", "image": "rayproject/ray:2.9.0", "rayStartParams": {"a": "b"}}}})
    with pytest.raises(AlreadyExists):  # its name is taken all the same
        templates.create(NS, template("plain"))

    assert [item["metadata"]["name"] for item in fake.held("configmaps", NS)] == ["plain", TEMPLATE]
    assert fake.held("rayclusters") == []


def test_an_invalid_template_writes_nothing(services: Services, fake: FakeGateway) -> None:
    with pytest.raises(InvalidInput):
        services.compute_templates.create(OTHER, {**template("big"), "cpu": 0})

    assert fake.held("configmaps", OTHER) == []
