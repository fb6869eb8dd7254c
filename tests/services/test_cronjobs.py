"""Cron jobs' own service behaviour (app/services/cronjobs.py) over the fake API server: suspend and
resume patch `spec.suspend` of a managed cron job only, and an answer lists the RayJobs it made
with one list per namespace, however many cron jobs there are."""
from __future__ import annotations

from typing import Any

import pytest

from app.constants import RAYCRONJOB, RAYJOB
from app.errors import NotFound
from app.services import Services
from tests.services.bodies import NS, OTHER, cronjob, template
from tests.support.fake_gateway import FakeGateway


def operator_made(fake: FakeGateway, namespace: str, cron: str, suffix: str, scheduled: str) -> None:
    """A RayJob as the operator makes it from the cron job's template (labels and owner only: not managed)."""
    owner = fake.get_object(RAYCRONJOB, namespace, cron)
    fake.add("rayjobs", namespace, {"metadata": {
        "name": f"{cron}-{suffix}", "labels": {"ray.io/cronjob-name": cron},
        "annotations": {"ray.io/cronjob-scheduled-timestamp": scheduled},
        "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCronJob", "name": cron,
                             "uid": owner["metadata"]["uid"], "controller": True}]}, "spec": {}})


def test_suspend_and_resume_change_the_flag_alone(services: Services, fake: FakeGateway) -> None:
    services.cronjobs.create(NS, cronjob("nightly"))
    fake.change("raycronjobs", NS, "nightly", lambda obj: obj.update(status={"lastScheduleTime": "2026-01-01T00:00:00Z"}))
    suspended = services.cronjobs.suspend(NS, "nightly")
    assert suspended["suspend"] is True
    assert suspended["lastScheduleTime"] == "2026-01-01T00:00:00Z"
    stored = fake.held("raycronjobs", NS)[0]
    assert stored["spec"]["suspend"] is True
    assert stored["spec"]["schedule"] == "CRON_TZ=Europe/Paris */10 * * * *"
    assert services.cronjobs.suspend(NS, "nightly")["suspend"] is True  # again: no change
    resumed = services.cronjobs.resume(NS, "nightly")
    assert "suspend" not in resumed
    assert fake.held("raycronjobs", NS)[0]["spec"]["suspend"] is False


def test_an_unmanaged_cron_job_is_not_found_and_left_alone(services: Services, fake: FakeGateway) -> None:
    fake.add("raycronjobs", NS, {"metadata": {"name": "theirs"}, "spec": {"schedule": "@daily", "jobTemplate": {}}})
    for change in (services.cronjobs.suspend, services.cronjobs.resume):
        with pytest.raises(NotFound, match="Cron job theirs not found in namespace team"):
            change(NS, "theirs")
    assert "suspend" not in fake.held("raycronjobs", NS)[0]["spec"]


def test_answers_carry_the_jobs_made_read_once_per_list(services: Services, fake: FakeGateway,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    services.compute_templates.create(OTHER, template())
    for namespace in (NS, OTHER):
        for name in ("a", "b", "c"):
            services.cronjobs.create(namespace, {**cronjob(name), "namespace": namespace})
    operator_made(fake, NS, "a", "xxxx1", "2026-01-01T00:00:00Z")
    operator_made(fake, NS, "a", "xxxx2", "2026-01-01T00:10:00Z")
    operator_made(fake, OTHER, "b", "yyyy1", "2026-01-01T00:00:00Z")
    lists: list[tuple[str, str | None]] = []
    real = fake.list_objects

    def counted(kind: Any, ns: str | None, selector: str, limit: int = 0, token: str = "") -> Any:
        lists.append((kind.plural, ns))
        return real(kind, ns, selector, limit, token)

    monkeypatch.setattr(fake, "list_objects", counted)
    page = services.cronjobs.list(NS)
    assert {item["name"]: [run["name"] for run in item.get("jobs", [])] for item in page["cronjobs"]} == {
        "a": ["a-xxxx2", "a-xxxx1"], "b": [], "c": []}
    assert lists == [("raycronjobs", NS), (RAYJOB.plural, NS)]
    lists.clear()
    everything = services.cronjobs.list(None)
    assert sum(len(item.get("jobs", [])) for item in everything["cronjobs"]) == 3
    assert lists == [("raycronjobs", None), (RAYJOB.plural, None)]
    assert [run["scheduledAt"] for run in services.cronjobs.get(OTHER, "b")["jobs"]] == ["2026-01-01T00:00:00Z"]
