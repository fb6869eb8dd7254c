"""What clusters, jobs and ray services share (app/services/resource.py), once for each kind, over
the fake API server: the lifecycle, lists of one namespace or all and their pages, a taken name,
a missing compute template, and objects this server does not manage."""
from __future__ import annotations

from typing import Any

import pytest

from app.constants import COMPONENT, MANAGED_BY
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.services import ManagedResource, Services
from app.services.paging import cache_token
from app.types import Json, RayJob
from tests.services.bodies import KINDS, NS, OTHER, TEMPLATE, Kind, template
from tests.support.fake_gateway import FakeGateway

each_kind = pytest.mark.parametrize("kind", KINDS, ids=[kind.attribute for kind in KINDS])


def names(answer: Json, resource: ManagedResource[Any]) -> list[str]:
    return [item["name"] for item in answer.get(resource.kind.items_key, [])]


@each_kind
def test_create_get_list_and_delete(services: Services, fake: FakeGateway, kind: Kind) -> None:
    resource = kind.of(services)
    plural = resource.kind.resource.plural
    created = resource.create(NS, kind.body("first"))

    assert created["name"] == "first"
    assert created["namespace"] == NS
    assert created["user"] == "ada"
    [held] = fake.held(plural)
    assert held["metadata"]["labels"][MANAGED_BY] == COMPONENT
    assert resource.get(NS, "first") == created
    assert resource.list(NS) == {resource.kind.items_key: [created]}

    assert resource.delete(NS, "first") == {}

    assert fake.held(plural) == []
    assert resource.list(NS) == {}
    message = f"^{resource.kind.noun} first not found in namespace {NS}$"
    with pytest.raises(NotFound, match=message):
        resource.get(NS, "first")
    with pytest.raises(NotFound, match=message):
        resource.delete(NS, "first")


@each_kind
def test_list_of_all_namespaces(services: Services, kind: Kind) -> None:
    services.compute_templates.create(OTHER, template())
    resource = kind.of(services)
    for namespace, name in ((NS, "b"), (OTHER, "c"), (NS, "a")):
        resource.create(namespace, kind.body(name))

    assert names(resource.list(None), resource) == ["c", "a", "b"]  # by namespace, then name
    assert names(resource.list(OTHER), resource) == ["c"]


@each_kind
def test_a_taken_name_is_409_with_the_products_message(services: Services, fake: FakeGateway, kind: Kind) -> None:
    resource = kind.of(services)
    resource.create(NS, kind.body("first"))
    before = fake.held(resource.kind.resource.plural)

    with pytest.raises(AlreadyExists, match=f"^{resource.kind.noun} first already exists in namespace {NS}$"):
        resource.create(NS, {**kind.body("first"), "user": "bob"})

    assert fake.held(resource.kind.resource.plural) == before


@each_kind
def test_a_missing_compute_template_is_refused_and_nothing_is_written(services: Services, fake: FakeGateway,
                                                                       kind: Kind) -> None:
    resource = kind.of(services)

    with pytest.raises(InvalidInput, match=f"^Compute template {TEMPLATE} not found in namespace {OTHER}$"):
        resource.create(OTHER, kind.body("first"))

    assert fake.held(resource.kind.resource.plural) == []


@each_kind
def test_an_invalid_request_writes_nothing(services: Services, fake: FakeGateway, kind: Kind) -> None:
    resource = kind.of(services)

    with pytest.raises(InvalidInput):
        resource.create(NS, {**kind.body("first"), "user": ""})
    with pytest.raises(InvalidInput):
        resource.create(NS, {**kind.body("second"), "namespace": OTHER})

    assert fake.held(resource.kind.resource.plural) == []


@each_kind
def test_an_object_we_do_not_manage_answers_as_an_absent_one(services: Services, fake: FakeGateway,
                                                              kind: Kind) -> None:
    resource = kind.of(services)
    plural = resource.kind.resource.plural
    fake.add(plural, NS, {"metadata": {"name": "theirs", "labels": {MANAGED_BY: "someone-else"}}, "spec": {}})

    for call in (resource.get, resource.delete):
        with pytest.raises(NotFound, match=f"^{resource.kind.noun} theirs not found in namespace {NS}$"):
            call(NS, "theirs")
    assert resource.list(NS) == {}
    assert resource.list(None) == {}
    assert [item["metadata"]["name"] for item in fake.held(plural)] == ["theirs"]


@each_kind
def test_pages_with_limit_and_continue(services: Services, kind: Kind) -> None:
    resource = kind.of(services)
    for name in ("a3", "a1", "a4", "a0", "a2"):
        resource.create(NS, kind.body(name))
    pages: list[list[str]] = []
    token = ""

    while True:
        answer = resource.list(NS, 2, token)
        pages.append(names(answer, resource))
        token = answer.get(resource.kind.token_key, "")
        if not token:
            break

    assert pages == [["a0", "a1"], ["a2", "a3"], ["a4"]]


@each_kind
def test_a_cache_page_token_is_honoured_while_the_cache_is_off(services: Services, kind: Kind) -> None:
    resource = kind.of(services)
    services.compute_templates.create(OTHER, template())
    for namespace, name in ((NS, "a0"), (NS, "a1"), (NS, "a2"), (OTHER, "b0")):
        resource.create(namespace, kind.body(name))
    token_key = resource.kind.token_key

    second = resource.list(None, 2, cache_token((OTHER, "b0")))
    last = resource.list(None, 2, second[token_key])

    assert names(second, resource) == ["a0", "a1"]
    assert second[token_key] == cache_token((NS, "a1"))
    assert last == {resource.kind.items_key: [resource.get(NS, "a2")]}


@each_kind
def test_a_page_token_kubernetes_cannot_read_is_refused(services: Services, kind: Kind) -> None:
    with pytest.raises(InvalidInput, match="continue"):
        kind.of(services).list(NS, 2, "not-a-token")


def test_a_job_on_a_cluster_selector_reads_no_compute_template(services: Services, fake: FakeGateway) -> None:
    job: RayJob = {"name": "on-mine", "user": "ada", "entrypoint": "python -V", "clusterSelector": {"ray.io/cluster": "mine"}}

    assert services.jobs.create(OTHER, job)["clusterSelector"] == {"ray.io/cluster": "mine"}
    assert [item["metadata"]["name"] for item in fake.held("rayjobs", OTHER)] == ["on-mine"]
