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
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from app.errors import InvalidInput
from app.translate.clusters import (
    to_api_cluster,
    to_api_cluster_spec,
    to_raycluster,
    to_raycluster_spec,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "clusters"
REQUESTS = sorted(FIXTURES.glob("*.api.json"))
OBJECTS = sorted(FIXTURES.glob("*.crd.json"))
NOW = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
SERVER_METADATA = {"creationTimestamp": "2025-01-02T03:04:06Z", "generation": 1, "resourceVersion": "811",
                   "uid": "6f1b6f0c-6b1e-4a8e-9d7c-2b1f0f3e4a5b"}


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def sibling(path: Path, kind: str) -> Path:
    return path.with_name(f"{case_id(path)}.{kind}.json")


def case_id(path: Path) -> str:
    return path.name.split(".")[0]


TEMPLATES: dict[str, dict[str, Any]] = load(FIXTURES / "templates.json")


def stored(raycluster: dict[str, Any], case_file: Path) -> dict[str, Any]:
    """The object as the API server returns it once the operator has seen it."""
    stored_object = {**raycluster, "metadata": {**SERVER_METADATA, **raycluster["metadata"]}}
    status = sibling(case_file, "status")
    if status.exists():
        stored_object["status"] = load(status)
    return stored_object


def events(case_file: Path) -> list[dict[str, Any]]:
    path = sibling(case_file, "events")
    return load(path) if path.exists() else []


def expected_response(case_file: Path) -> Any:
    response = sibling(case_file, "response")
    return load(response if response.exists() else sibling(case_file, "api"))


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


# -- what cannot become a RayCluster --------------------------------------------------------


def _head(**fields: Any) -> dict[str, Any]:
    return {"headGroupSpec": {"computeTemplate": "default-template", "rayStartParams": {"num-cpus": "0"},
                              **fields}}


def _autoscaler(**options: Any) -> dict[str, Any]:
    return {**_head(), "enableInTreeAutoscaling": True, "autoscalerOptions": options}


BROKEN_TEMPLATES = {"bad-unit": {"name": "bad-unit", "cpu": 1, "memory": 4, "memoryUnit": "GB"}}

INVALID = [
    pytest.param(_head(volumes=[{"name": "v", "mountPath": "/v", "volumeType": "EPHEMERAL"}]),
                 "storage for ephemeral volume is empty (volume 'v')", id="ephemeral-without-storage"),
    pytest.param(_head(volumes=[{"name": "v", "mountPath": "/v", "volumeType": 2, "storage": "10 GB"}]),
                 "storage for ephemeral volume is not specified correctly (volume 'v')", id="ephemeral-bad-storage"),
    pytest.param(_head(volumes=[{"name": "v", "mountPath": "/v", "volumeType": "EMPTY_DIR", "storage": "lots"}]),
                 "storage for empty dir volume is not specified correctly (volume 'v')", id="empty-dir-bad-storage"),
    pytest.param(_head(volumes=[{"name": "v", "mountPath": "/v", "volumeType": 9}]),
                 "volume 'v': volumeType 9 is not a known volume type", id="unknown-volume-type"),
    pytest.param(_autoscaler(cpu="half"), "cpu for autoscaler is not specified correctly", id="autoscaler-bad-cpu"),
    pytest.param(_autoscaler(memory="1 Gi"), "memory for autoscaler is not specified correctly",
                 id="autoscaler-bad-memory"),
    pytest.param(_head(computeTemplate="missing"), "headGroupSpec computeTemplate: compute template 'missing'",
                 id="head-template-not-provided"),
    pytest.param({**_head(), "workerGroupSpec": [{"groupName": "wg", "computeTemplate": "missing", "maxReplicas": 1}]},
                 "workerGroupSpec wg computeTemplate: compute template 'missing'", id="worker-template-not-provided"),
    pytest.param(_head(computeTemplate="bad-unit"), "memory '4GB' is not a valid quantity", id="template-bad-unit"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID)
def test_spec_that_cannot_be_built_is_invalid_input(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        to_raycluster_spec(spec, {**TEMPLATES, **BROKEN_TEMPLATES}, "2.46.0")
