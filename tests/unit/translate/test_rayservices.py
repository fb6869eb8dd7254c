"""RayService translation, over the fixture pairs in tests/fixtures/services/ and a few tables.

`<case>.api.json` is a request, `<case>.crd.json` the RayService as the API server then holds it,
`<case>.events.json` (optional) the events the service layer selected for it, and
`<case>.response.json` what the API returns. A `.crd.json` without `.api.json` is only read back.
"""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.constants import (
    CREATION_TIMESTAMP,
    SERVE_CONFIG_DIGEST,
    SERVE_DEPLOYMENT_GRAPH_SPEC,
    UPDATE_TIMESTAMP,
)
from app.translate.rayservices import to_api_service, to_rayservice, to_rayservice_update
from app.types import Json
from tests.support.fixture_pairs import as_created, case_id, cases, folder, load, optional, sibling

FIXTURES = folder("services")
TEMPLATES = load(FIXTURES / "templates.json")
BUILT = cases("services", "api")
STORED = cases("services", "crd")
NOW = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
LATER = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)


def events_of(path: Path) -> list[Json]:
    found: list[Json] = optional(path, "events", [])
    return found


def graph_service(**changes: Any) -> Json:
    return {**load(FIXTURES / "readme-v1-graph.api.json"), **changes}


def with_graph(**graph: Any) -> Json:
    return graph_service(serveDeploymentGraphSpec={"importPath": "app:graph", **graph})


def deployed(service: Json) -> Json:
    """The Serve application the generated serveConfigV2 describes."""
    config = yaml.safe_load(to_rayservice(service, TEMPLATES, NOW)["spec"]["serveConfigV2"])
    assert len(config["applications"]) == 1
    application: Json = config["applications"][0]
    return application


# -- fixture pairs ------------------------------------------------------------------------


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_to_rayservice(api_file: Path) -> None:
    assert to_rayservice(load(api_file), TEMPLATES, NOW) == as_created(load(sibling(api_file, "crd")))


@pytest.mark.parametrize("crd_file", STORED, ids=case_id)
def test_to_api_service(crd_file: Path) -> None:
    assert to_api_service(load(crd_file), events_of(crd_file)) == load(sibling(crd_file, "response"))


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_round_trip_returns_the_response_less_server_fields(api_file: Path) -> None:
    expected = {k: v for k, v in load(sibling(api_file, "response")).items() if k != "createdAt"}
    assert to_api_service(to_rayservice(load(api_file), TEMPLATES, NOW), []) == expected


@pytest.mark.parametrize("api_file", BUILT, ids=case_id)
def test_translation_leaves_its_input_alone(api_file: Path) -> None:
    service = load(api_file)
    rayservice = to_rayservice(service, TEMPLATES, NOW)
    assert service == load(api_file)
    stored, events = copy.deepcopy(rayservice), events_of(api_file)
    to_api_service(rayservice, events)
    assert rayservice == stored
    assert events == events_of(api_file)


# -- the v1.0.0 deployment graph ----------------------------------------------------------


def test_readme_graph_becomes_one_serve_application() -> None:
    assert deployed(graph_service()) == {
        "name": "default",
        "import_path": "fruit.deployment_graph",
        "route_prefix": "/",
        "runtime_env": {"working_dir": "https://github.com/ray-project/test_dag/archive/"
                                       "c620251044717ace0a4c19d766d43c5099af8a77.zip"},
        "deployments": [
            {"name": "OrangeStand", "num_replicas": 1, "user_config": {"price": 2},
             "ray_actor_options": {"num_cpus": 0.1}},
            {"name": "PearStand", "num_replicas": 1, "user_config": {"price": 1},
             "ray_actor_options": {"num_cpus": 0.1}},
            {"name": "FruitMarket", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}},
            {"name": "DAGDriver", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}},
        ],
    }


def test_graph_is_returned_as_sent_and_serve_config_is_not() -> None:
    service = graph_service()
    returned = to_api_service(to_rayservice(service, TEMPLATES, NOW), [])
    assert returned["serveDeploymentGraphSpec"] == service["serveDeploymentGraphSpec"]
    assert "serveConfigV2" not in returned


def test_graph_annotations_hold_the_graph_and_the_digest_of_its_config() -> None:
    annotations = to_rayservice(graph_service(), TEMPLATES, NOW)["metadata"]["annotations"]
    assert set(annotations) == {CREATION_TIMESTAMP, SERVE_DEPLOYMENT_GRAPH_SPEC, SERVE_CONFIG_DIGEST}
    assert json.loads(annotations[SERVE_DEPLOYMENT_GRAPH_SPEC]) == graph_service()["serveDeploymentGraphSpec"]


@pytest.mark.parametrize(("version", "image", "key"), [
    ("2.9.3", "", "max_concurrent_queries"),
    ("2.10.0", "", "max_ongoing_requests"),
    ("2.46.0", "rayproject/ray:2.7.0", "max_ongoing_requests"),  # the version wins over the image
    ("", "rayproject/ray:2.7.0-py310", "max_concurrent_queries"),
    ("", "registry.local:5000/ray:2.9.0", "max_concurrent_queries"),
    ("", "registry.local:5000/ray", "max_ongoing_requests"),
    ("", "", "max_ongoing_requests"),
    ("nightly", "", "max_ongoing_requests"),
    ("3.0.0", "", "max_ongoing_requests"),
    ("1.13.0", "", "max_concurrent_queries"),
])
def test_max_concurrent_queries_uses_the_name_of_the_clusters_ray(version: str, image: str, key: str) -> None:
    service = with_graph(serveConfigs=[{"deploymentName": "A", "maxConcurrentQueries": 7}])
    service["version"] = version
    service["clusterSpec"] = {"headGroupSpec": {**service["clusterSpec"]["headGroupSpec"], "image": image}}
    assert deployed(service)["deployments"] == [{"name": "A", key: 7}]


@pytest.mark.parametrize(("config", "deployment"), [
    ({"deploymentName": "A", "replicas": 2}, {"name": "A", "num_replicas": 2}),
    ({"deploymentName": "A"}, {"name": "A"}),
    ({"deploymentName": "A", "replicas": -1}, {"name": "A"}),
    ({"deploymentName": "A", "replicas": 2, "autoscalingConfig": "min_replicas: 1\nmax_replicas: 3"},
     {"name": "A", "autoscaling_config": {"min_replicas": 1, "max_replicas": 3}}),
    ({"deploymentName": "A", "replicas": 2, "autoscalingConfig": "# nothing\n"}, {"name": "A", "num_replicas": 2}),
    ({"deploymentName": "A", "userConfig": "{\"k\": [1, 2]}"}, {"name": "A", "user_config": {"k": [1, 2]}}),
    ({"deploymentName": "A", "actorOptions": {"gpusPerActor": 0.5, "memoryPerActor": "2048"}},
     {"name": "A", "ray_actor_options": {"num_gpus": 0.5, "memory": 2048}}),
    ({"deploymentName": "A", "actorOptions": {"cpusPerActor": -1, "objectStoreMemoryPerActor": 0}}, {"name": "A"}),
    ({"deploymentName": "A", "actorOptions": {"customResource": "custom_res: 1", "accceleratorType": "T4"}},
     {"name": "A", "ray_actor_options": {"resources": {"custom_res": 1}, "accelerator_type": "T4"}}),
], ids=["replicas", "no replicas", "negative replicas", "autoscaled: no num_replicas", "empty autoscaling YAML",
        "user config as JSON", "gpus and memory", "non-positive options", "resources and accelerator"])
def test_serve_config_fields(config: Json, deployment: Json) -> None:
    assert deployed(with_graph(serveConfigs=[config]))["deployments"] == [deployment]


@pytest.mark.parametrize(("graph", "application"), [
    ({}, {"name": "default", "import_path": "app:graph"}),
    ({"runtimeEnv": "", "serveConfigs": []}, {"name": "default", "import_path": "app:graph"}),
    ({"serveConfigs": [{"deploymentName": "A", "routePrefix": "/x"}, {"deploymentName": "B", "routePrefix": "/x"}]},
     {"name": "default", "import_path": "app:graph", "route_prefix": "/x", "deployments": [{"name": "A"}, {"name": "B"}]}),
], ids=["import path only", "empty fields", "one prefix on two deployments"])
def test_application_fields(graph: Json, application: Json) -> None:
    assert deployed(with_graph(**graph)) == application


def _stored_graph_service(**annotations: str | None) -> Json:
    stored = load(FIXTURES / "readme-v1-graph.crd.json")
    kept = {**stored["metadata"]["annotations"], **annotations}
    return {**stored, "metadata": {**stored["metadata"],
                                   "annotations": {k: v for k, v in kept.items() if v is not None}}}


@pytest.mark.parametrize("annotations", [
    {SERVE_DEPLOYMENT_GRAPH_SPEC: "{not json"},
    {SERVE_DEPLOYMENT_GRAPH_SPEC: "[1, 2]"},
    {SERVE_DEPLOYMENT_GRAPH_SPEC: ""},
    {SERVE_CONFIG_DIGEST: None},
    {SERVE_CONFIG_DIGEST: "0" * 64},
], ids=["graph not JSON", "graph not an object", "graph empty", "digest missing", "digest of another config"])
def test_untrustworthy_graph_annotation_falls_back_to_serve_config(annotations: dict[str, str | None]) -> None:
    stored = _stored_graph_service(**annotations)
    returned = to_api_service(stored, [])
    assert returned["serveConfigV2"] == stored["spec"]["serveConfigV2"]
    assert "serveDeploymentGraphSpec" not in returned


# -- PUT: the replacement object ----------------------------------------------------------


def _existing(name: str) -> Json:
    """The stored object, plus what others added since: foreign labels and annotations, a new version."""
    stored = load(FIXTURES / f"{name}.crd.json")
    metadata = stored["metadata"]
    return {**stored, "metadata": {
        **metadata, "resourceVersion": "98765",
        "labels": {**metadata["labels"], "team": "ml"},
        "annotations": {**metadata["annotations"], "kubectl.kubernetes.io/last-applied-configuration": "{}"},
    }, "status": {"serviceStatus": "Running"}}


def test_update_rebuilds_the_object_with_only_the_update_timestamp() -> None:
    service = {**load(FIXTURES / "readme-v2.api.json"), "serviceUnhealthySecondThreshold": 60}
    replacement = to_rayservice_update(service, TEMPLATES, _existing("readme-v2"), LATER)
    created = to_rayservice(service, TEMPLATES, NOW)
    assert replacement["metadata"] == {
        **created["metadata"],
        "annotations": {UPDATE_TIMESTAMP: "2025-02-03 04:05:06 +0000 UTC"},
        "resourceVersion": "98765",
    }
    assert replacement["spec"] == created["spec"]
    assert replacement["spec"]["serviceUnhealthySecondThreshold"] == 60
    assert "status" not in replacement


def test_update_from_a_graph_keeps_the_graph_annotations() -> None:
    service = graph_service(user="someone-else")
    replacement = to_rayservice_update(service, TEMPLATES, _existing("readme-v1-graph"), LATER)
    annotations = replacement["metadata"]["annotations"]
    assert set(annotations) == {UPDATE_TIMESTAMP, SERVE_DEPLOYMENT_GRAPH_SPEC, SERVE_CONFIG_DIGEST}
    returned = to_api_service(replacement, [])
    assert returned["serveDeploymentGraphSpec"] == service["serveDeploymentGraphSpec"]
    assert returned["user"] == "someone-else"


def test_update_from_serve_config_drops_the_graph() -> None:
    service = {**load(FIXTURES / "readme-v2.api.json"), "name": "test-v1"}
    replacement = to_rayservice_update(service, TEMPLATES, _existing("readme-v1-graph"), LATER)
    assert set(replacement["metadata"]["annotations"]) == {UPDATE_TIMESTAMP}
    assert to_api_service(replacement, [])["serveConfigV2"] == service["serveConfigV2"]


def test_update_of_an_object_without_resource_version_sends_none() -> None:
    existing = load(FIXTURES / "readme-v2.crd.json")
    del existing["metadata"]["resourceVersion"]
    replacement = to_rayservice_update(load(FIXTURES / "readme-v2.api.json"), TEMPLATES, existing, LATER)
    assert "resourceVersion" not in replacement["metadata"]


def test_update_leaves_the_existing_object_alone() -> None:
    existing = _existing("readme-v2")
    kept = copy.deepcopy(existing)
    to_rayservice_update(load(FIXTURES / "readme-v2.api.json"), TEMPLATES, existing, LATER)
    assert existing == kept


# -- reading back -------------------------------------------------------------------------


def test_minimal_stored_object_has_status_and_delete_at() -> None:
    assert to_api_service({"metadata": {"name": "s", "namespace": "n"}}, []) == {
        "name": "s", "namespace": "n", "rayServiceStatus": {}, "deleteAt": "1969-12-31T23:59:59Z"}


def test_events_alone_make_the_status() -> None:
    events = load(FIXTURES / "status.events.json")
    status = to_api_service({"metadata": {"name": "svc"}}, events)["rayServiceStatus"]
    assert [event["name"] for event in status["rayServiceEvents"]] == [
        "svc-status.1788218ee2f173bc", "svc-status-raycluster-7grg7.1788218976cd5268"]
    assert set(status) == {"rayServiceEvents"}
