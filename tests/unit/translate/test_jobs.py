"""RayJob translation, over the fixture pairs in tests/fixtures/jobs/ and a few tables.

`<case>.api.json` is a request, `<case>.crd.json` the RayJob as the API server then holds it
(server-set metadata and status included), `<case>.response.json` what the API returns for it.
A `.crd.json` without `.api.json` is a stored object only read back (status, deletion).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from app.translate.jobs import to_api_job, to_rayjob
from app.types import Json
from tests.support.fixture_pairs import as_created, case_id, cases, folder, load, sibling

FIXTURES = folder("jobs")
TEMPLATES = load(FIXTURES / "templates.json")
BUILT = cases("jobs", "api")
STORED = cases("jobs", "crd")


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_to_rayjob(api_file: Path) -> None:
    assert to_rayjob(load(api_file), TEMPLATES) == as_created(load(sibling(api_file, "crd")))


@pytest.mark.parametrize("crd_file", STORED, ids=case_id)
def test_to_api_job(crd_file: Path) -> None:
    assert to_api_job(load(crd_file)) == load(sibling(crd_file, "response"))


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_round_trip_returns_the_response_less_server_fields(api_file: Path) -> None:
    expected = {k: v for k, v in load(sibling(api_file, "response")).items() if k != "createdAt"}
    assert to_api_job(to_rayjob(load(api_file), TEMPLATES)) == expected


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_translation_leaves_its_input_alone(api_file: Path) -> None:
    job = load(api_file)
    rayjob = to_rayjob(job, TEMPLATES)
    assert job == load(api_file)
    stored = copy.deepcopy(rayjob)
    to_api_job(rayjob)
    assert rayjob == stored


def test_metadata_map_is_not_shared() -> None:
    """spec.metadata and the annotations are equal maps, but editing one must not edit the other or the request."""
    job = load(FIXTURES / "all-fields.api.json")
    rayjob = to_rayjob(job, TEMPLATES)
    rayjob["spec"]["metadata"]["added"] = "x"
    assert "added" not in rayjob["metadata"]["annotations"]
    assert "added" not in job["metadata"]


def _with_submitter(pod_template: Json) -> Json:
    stored = load(FIXTURES / "selector-submitter.crd.json")
    return {**stored, "spec": {**stored["spec"], "submitterPodTemplate": pod_template}}


def _container(**fields: Any) -> Json:
    return {"spec": {"containers": [{"name": "ray-job-submitter", **fields}]}}


@pytest.mark.parametrize(("pod_template", "submitter"), [
    (_container(image="i", resources={"limits": {"cpu": "1", "memory": "1Gi"}}), {"image": "i"}),
    (_container(image="i", resources={"limits": {"cpu": "0.5", "memory": "1073741824"}}),
     {"image": "i", "cpu": "500m", "memory": "1073741824"}),  # decimal bytes stay decimal, so are not "1Gi"
    (_container(image="i", resources={"limits": {"cpu": "1000m", "memory": "1024Mi"}}), {"image": "i"}),
    (_container(image="i", resources={"limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "1"}}),
     {"image": "i", "cpu": "2", "memory": "512Mi"}),
    (_container(image="i", resources={"requests": {"cpu": "2"}}), {"image": "i"}),
    (_container(image="i", resources={"limits": {"cpu": "lots"}}), {"image": "i", "cpu": "lots"}),
    (_container(image="i"), {"image": "i"}),
    ({"spec": {"containers": [{"image": "first"}, {"image": "second", "resources": {"limits": {"cpu": "3"}}}]}},
     {"image": "first"}),
    ({"spec": {}}, {}),
    ({}, {}),
], ids=["defaults hidden", "canonical", "canonical defaults hidden", "limits not requests", "requests ignored",
        "unreadable kept", "no resources", "first container only", "no containers", "empty template"])
def test_job_submitter_read_back(pod_template: Json, submitter: dict[str, str]) -> None:
    assert to_api_job(_with_submitter(pod_template))["jobSubmitter"] == submitter


def test_without_submitter_template_no_job_submitter() -> None:
    assert "jobSubmitter" not in to_api_job(load(FIXTURES / "status.crd.json"))


def test_selector_and_spec_are_both_written() -> None:
    """Upstream does not refuse both, and neither does validation: the operator decides."""
    job = {**load(FIXTURES / "readme.api.json"), "clusterSelector": {"ray.io/cluster": "c"}}
    spec = to_rayjob(job, TEMPLATES)["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "c"}
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"] == {"dashboard-host": "0.0.0.0"}


def test_selector_job_needs_no_templates() -> None:
    assert "rayClusterSpec" not in to_rayjob(load(FIXTURES / "selector-submitter.api.json"), {})["spec"]


def test_minimal_stored_object_reads_back() -> None:
    assert to_api_job({"metadata": {"name": "j", "namespace": "n"}}) == {"name": "j", "namespace": "n"}
