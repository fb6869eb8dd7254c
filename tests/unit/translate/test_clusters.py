"""Clusters <-> RayClusters, table-driven over tests/fixtures/clusters/.

Per case: `<case>.api.json` is a request and `<case>.crd.json` the RayCluster built from it (a
`.crd.json` without a request is an object found in a cluster: made by the operator, or edited).
Reading back uses the stored object: the `.crd.json` plus what the API server adds
(`SERVER_METADATA`), the operator's `<case>.status.json` and the events in `<case>.events.json`,
when present; the expected response is `<case>.response.json`. Compute templates come from
`templates.json`, in the API form the service layer hands in.
"""
from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.translate.cluster import (
    referenced_templates,
    to_api_cluster,
    to_api_cluster_spec,
    to_raycluster,
    to_raycluster_spec,
)
from app.types import Json
from tests.support.fixture_pairs import case_id, cases, expected_response, folder, load, optional, sibling

FIXTURES = folder("clusters")
REQUESTS = cases("clusters", "api")
OBJECTS = cases("clusters", "crd")
NOW = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
SERVER_METADATA = {"creationTimestamp": "2025-01-02T03:04:06Z", "generation": 1, "resourceVersion": "811",
                   "uid": "6f1b6f0c-6b1e-4a8e-9d7c-2b1f0f3e4a5b"}
TEMPLATES: dict[str, Json] = load(FIXTURES / "templates.json")


def stored(raycluster: Json, case_file: Path) -> Json:
    """The object as the API server returns it once the operator has seen it."""
    stored_object = {**raycluster, "metadata": {**SERVER_METADATA, **raycluster["metadata"]}}
    status = sibling(case_file, "status")
    if status.exists():
        stored_object["status"] = load(status)
    return stored_object


def events(case_file: Path) -> list[Json]:
    found: list[Json] = optional(case_file, "events", [])
    return found


# -- both directions, every case ------------------------------------------------------------


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_to_raycluster(api_file: Path) -> None:
    assert to_raycluster(load(api_file), TEMPLATES, NOW) == load(sibling(api_file, "crd"))


@pytest.mark.parametrize("crd_file", OBJECTS, ids=case_id)
def test_to_api_cluster(crd_file: Path) -> None:
    raycluster = stored(load(crd_file), crd_file)
    assert to_api_cluster(raycluster, events(crd_file)) == expected_response(crd_file)


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_response_sent_back_as_request_reads_back_the_same(api_file: Path) -> None:
    """A client that edits a response and posts it again gets what it sent."""
    response = expected_response(api_file)
    rebuilt = stored(to_raycluster(response, TEMPLATES, NOW), api_file)
    assert to_api_cluster(rebuilt, events(api_file)) == response


# -- the spec alone, as jobs and services use it --------------------------------------------


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_to_raycluster_spec(api_file: Path) -> None:
    cluster = load(api_file)
    serve = (cluster.get("annotations") or {}).get("ray.io/enable-serve-service") == "true"
    spec = to_raycluster_spec(cluster["clusterSpec"], TEMPLATES, cluster.get("version", ""),
                              envs=cluster.get("envs"), serve_ports=serve)
    assert spec == load(sibling(api_file, "crd"))["spec"]


@pytest.mark.parametrize("crd_file", OBJECTS, ids=case_id)
def test_to_api_cluster_spec(crd_file: Path) -> None:
    assert to_api_cluster_spec(load(crd_file)["spec"]) == expected_response(crd_file)["clusterSpec"]


def test_service_clusters_get_serve_ports_without_the_annotation() -> None:
    spec = load(FIXTURES / "serve-service.api.json")["clusterSpec"]
    built = to_raycluster_spec(spec, TEMPLATES, "2.46.0", serve_ports=True)
    assert built == load(FIXTURES / "serve-service.crd.json")["spec"]


# -- purity ---------------------------------------------------------------------------------


def _clear(value: Any) -> None:
    """Empty every dict and list inside `value`, to catch output that shares state."""
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    for child in children:
        _clear(child)
    if isinstance(value, (dict, list)):
        value.clear()


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_inputs_and_outputs_share_nothing(api_file: Path) -> None:
    """No input is changed, and a caller may change an output without touching anything else."""
    request, templates = load(api_file), copy.deepcopy(TEMPLATES)
    raycluster = stored(load(sibling(api_file, "crd")), api_file)
    event_list = events(api_file)
    before = copy.deepcopy((request, templates, raycluster, event_list))

    _clear(to_raycluster(request, templates, NOW))
    _clear(to_api_cluster(raycluster, event_list))

    assert (request, templates, raycluster, event_list) == before
    assert to_raycluster(request, templates, NOW) == load(sibling(api_file, "crd"))
    assert to_api_cluster(raycluster, event_list) == expected_response(api_file)


# -- the templates a request needs --------------------------------------------------------


@pytest.mark.parametrize(("spec", "names"), [
    ({"headGroupSpec": {"computeTemplate": "head-t"},
      "workerGroupSpec": [{"computeTemplate": "worker-t"}, {"computeTemplate": "head-t"}]}, ["head-t", "worker-t"]),
    ({"headGroupSpec": {"computeTemplate": "h"},
      "workerGroupSpec": [{"computeTemplate": "w2"}, {"computeTemplate": "h"}, {"computeTemplate": "w1"},
                          {"computeTemplate": "w2"}]}, ["h", "w2", "w1"]),
    ({"headGroupSpec": {"computeTemplate": "h"}}, ["h"]),
    ({"headGroupSpec": {}, "workerGroupSpec": [{"computeTemplate": "w"}]}, ["w"]),
    (None, []),
    ({}, []),
], ids=["head then workers", "distinct in first-seen order", "head only", "empty names skipped", "no spec", "empty spec"])
def test_referenced_templates(spec: Json | None, names: list[str]) -> None:
    assert referenced_templates(spec) == names


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_every_template_a_request_uses_is_referenced(api_file: Path) -> None:
    """The service layer reads only these, so translation must find every one it uses among them."""
    cluster = load(api_file)
    needed = {name: TEMPLATES[name] for name in referenced_templates(cluster["clusterSpec"])}
    assert to_raycluster(cluster, needed, NOW) == load(sibling(api_file, "crd"))
