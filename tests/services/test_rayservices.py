"""A RayService's full replacement (PUT) over the fake API server: one read-modify-write carrying
the resourceVersion just read, retried while another writer (the operator) gets in between."""
from __future__ import annotations

import pytest

from app.constants import CREATION_TIMESTAMP, RAYSERVICE, UPDATE_TIMESTAMP, CustomResource
from app.errors import Conflict, InvalidInput, NotFound
from app.services import Services
from app.services.rayservices import UPDATE_ATTEMPTS
from app.types import Json
from app.validation import Limits
from tests.services.bodies import NS, service, template
from tests.support.fake_gateway import FakeGateway

CHANGED = "applications:\n  - name: fruit\n    import_path: fruit:app\n"


def test_an_update_replaces_the_spec_and_keeps_the_identity_and_status(services: Services, fake: FakeGateway) -> None:
    services.rayservices.create(NS, service("s1"))
    fake.change("rayservices", NS, "s1", lambda obj: obj.update(status={"serviceStatus": "Running"}))
    [before] = fake.held("rayservices")

    answer = services.rayservices.update(NS, "s1", {**service("s1", CHANGED), "user": "bob"})

    [after] = fake.held("rayservices")
    assert answer == services.rayservices.get(NS, "s1")
    assert (answer["serveConfigV2"], answer["user"]) == (CHANGED, "bob")
    assert after["spec"]["serveConfigV2"] == CHANGED
    assert after["status"] == {"serviceStatus": "Running"}
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert CREATION_TIMESTAMP in before["metadata"]["annotations"]
    assert list(after["metadata"]["annotations"]) == [UPDATE_TIMESTAMP]


def test_an_update_naming_another_service_is_refused_and_changes_nothing(services: Services,
                                                                          fake: FakeGateway) -> None:
    services.rayservices.create(NS, service("s1"))
    before = fake.held("rayservices")

    with pytest.raises(InvalidInput, match=r"^The name in the request \(s2\) is different from the name in the path \(s1\)\.$"):
        services.rayservices.update(NS, "s1", service("s2", CHANGED))
    with pytest.raises(InvalidInput, match=f"^Compute template missing not found in namespace {NS}$"):
        services.rayservices.update(NS, "s1", {**service("s1", CHANGED), "clusterSpec": {"headGroupSpec": {
            "computeTemplate": "missing", "image": "rayproject/ray:2.9.0", "rayStartParams": {"a": "b"}}}})

    assert fake.held("rayservices") == before


def test_an_update_of_an_absent_or_unmanaged_service_is_404(services: Services, fake: FakeGateway) -> None:
    fake.add("rayservices", NS, {"metadata": {"name": "theirs"}, "spec": {"serveConfigV2": ""}})
    before = fake.held("rayservices")

    for name in ("nope", "theirs"):
        with pytest.raises(NotFound, match=f"^Service {name} not found in namespace {NS}$"):
            services.rayservices.update(NS, name, service(name, CHANGED))

    assert fake.held("rayservices") == before


class Contended(FakeGateway):
    """The operator writes the service's status just before each of our first `changes` replacements."""

    def __init__(self, *namespaces: str, changes: int) -> None:
        super().__init__(*namespaces)
        self.changes = changes
        self.replacements = 0

    def replace_object(self, kind: CustomResource, ns: str, name: str, body: Json) -> Json:
        self.replacements += 1
        if self.changes:
            self.changes -= 1
            self.change(kind.plural, ns, name, lambda obj: obj.update(status={"observedGeneration": self.changes}))
        return super().replace_object(kind, ns, name, body)


def contended(changes: int) -> tuple[Services, Contended]:
    fake = Contended(NS, changes=changes)
    services = Services.build(fake, Limits())
    services.compute_templates.create(NS, template())
    services.rayservices.create(NS, service("s1"))
    return services, fake


def test_an_update_is_retried_while_the_operator_writes_meanwhile() -> None:
    services, fake = contended(changes=2)

    services.rayservices.update(NS, "s1", service("s1", CHANGED))

    [held] = fake.held(RAYSERVICE.plural)
    assert fake.replacements == 3
    assert held["spec"]["serveConfigV2"] == CHANGED
    assert held["status"] == {"observedGeneration": 0}


def test_an_update_gives_up_with_409_after_its_attempts() -> None:
    services, fake = contended(changes=UPDATE_ATTEMPTS)

    with pytest.raises(Conflict, match=f"^Service s1 in namespace {NS} kept being changed by others while it "
                                       rf"was being replaced \({UPDATE_ATTEMPTS} attempts\); try again\.$"):
        services.rayservices.update(NS, "s1", service("s1", CHANGED))

    [held] = fake.held(RAYSERVICE.plural)
    assert fake.replacements == UPDATE_ATTEMPTS
    assert held["spec"]["serveConfigV2"] != CHANGED
    assert held["metadata"]["annotations"].keys() == {CREATION_TIMESTAMP}
    assert held["status"] == {"observedGeneration": 0}
