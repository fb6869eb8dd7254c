"""The events an answer shows, read from the fake API server by the field selectors the services
send: a cluster's own, a service's own then its active cluster's, and a job's none."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from app.constants import RAYCLUSTER, RAYJOB, RAYSERVICE
from app.services import Services
from tests.services.bodies import NS, OTHER, cluster, job, service, template
from tests.support.fake_gateway import FakeGateway


def event(fake: FakeGateway, namespace: str, name: str, kind: str, about: str, reason: str) -> None:
    """An event as the operator records it about the object `about` of `kind`."""
    fake.add("events", namespace, {
        "metadata": {"name": name},
        "regarding": {"kind": kind, "name": about, "namespace": namespace},
        "eventTime": "2025-01-02T03:04:05.678901Z",
        "reason": reason, "note": f"{reason} {about}", "type": "Normal",
    })


def shown(events: Sequence[Mapping[str, object]]) -> list[tuple[object, object]]:
    """(name, message) of each event of an answer."""
    return [(item["name"], item["message"]) for item in events]


def test_a_cluster_shows_the_events_of_its_raycluster_only(services: Services, fake: FakeGateway) -> None:
    services.compute_templates.create(OTHER, template())
    for namespace, name in ((NS, "c1"), (NS, "c2"), (OTHER, "c1")):
        services.clusters.create(namespace, cluster(name))
    event(fake, NS, "e1", RAYCLUSTER.kind, "c1", "Created")
    event(fake, NS, "e2", RAYJOB.kind, "c1", "Submitted")  # a RayJob of the same name
    event(fake, NS, "e3", RAYCLUSTER.kind, "c2", "Scaled")
    event(fake, OTHER, "e4", RAYCLUSTER.kind, "c1", "Deleted")

    got = services.clusters.get(NS, "c1")

    assert got["events"] == [{
        "id": "e1", "name": "c1-e1", "createdAt": fake.held("events", NS)[0]["metadata"]["creationTimestamp"],
        "firstTimestamp": "2025-01-02T03:04:05Z", "lastTimestamp": "2025-01-02T03:04:05Z",
        "reason": "Created", "message": "Created c1", "type": "Normal",
    }]
    listed = {(item["namespace"], item["name"]): shown(item.get("events", []))
              for item in services.clusters.list(None)["clusters"]}
    assert listed == {(NS, "c1"): [("c1-e1", "Created c1")], (NS, "c2"): [("c2-e3", "Scaled c2")],
                      (OTHER, "c1"): [("c1-e4", "Deleted c1")]}


def test_a_service_shows_its_own_events_then_its_active_clusters(services: Services, fake: FakeGateway) -> None:
    services.rayservices.create(NS, service("s1"))
    fake.change("rayservices", NS, "s1", lambda obj: obj.update(
        status={"activeServiceStatus": {"rayClusterName": "s1-raycluster-x"}}))
    event(fake, NS, "e1", RAYCLUSTER.kind, "s1-raycluster-x", "Ready")
    event(fake, NS, "e2", RAYSERVICE.kind, "s1", "Deployed")
    event(fake, NS, "e3", RAYCLUSTER.kind, "s1", "Unrelated")  # a cluster named as the service

    status = services.rayservices.get(NS, "s1")["rayServiceStatus"]
    [listed] = services.rayservices.list(NS)["services"]

    assert status["rayClusterName"] == "s1-raycluster-x"
    assert shown(status["rayServiceEvents"]) == [("s1-e2", "Deployed s1"), ("s1-e1", "Ready s1-raycluster-x")]
    assert listed["rayServiceStatus"] == status


def test_a_job_shows_no_events(services: Services, fake: FakeGateway) -> None:
    created = services.jobs.create(NS, job("j1"))
    event(fake, NS, "e1", RAYJOB.kind, "j1", "Submitted")

    assert "events" not in services.jobs.get(NS, "j1")
    assert services.jobs.get(NS, "j1") == created


@pytest.mark.parametrize("field_selector", ["regarding.kind!=RayCluster", "regarding.kind in (RayCluster)"])
def test_the_fake_refuses_selectors_it_cannot_read(fake: FakeGateway, field_selector: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        fake.list_events(NS, field_selector)
