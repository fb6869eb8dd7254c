"""app/http/wire.py: upstream's lenient input (protojson's) normalised against the real spec's schemas."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from connexion.spec import Specification

from app.errors import InvalidInput
from app.http.wire import Shape, normalise, rename_query

SPEC = Specification.load(Path(__file__).parents[2] / "openapi" / "kuberay.yaml")


def body_schema(path: str, method: str = "post") -> dict[str, Any]:
    return SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


TEMPLATE = body_schema("/namespaces/{namespace}/compute_templates")
CLUSTER = body_schema("/namespaces/{namespace}/clusters")
JOB = body_schema("/namespaces/{namespace}/jobs")
SERVICE = body_schema("/namespaces/{namespace}/services/{name}", "put")

CASES = [
    # (id, schema, request body, what the handlers must see)
    ("json-names-untouched", CLUSTER,
     {"name": "c", "clusterSpec": {"headGroupSpec": {"computeTemplate": "t"}}},
     {"name": "c", "clusterSpec": {"headGroupSpec": {"computeTemplate": "t"}}}),
    ("proto-names-at-every-depth", CLUSTER,
     {"cluster_spec": {"head_group_spec": {"compute_template": "t", "service_type": "NodePort"},
                       "worker_group_spec": [{"group_name": "g", "min_replicas": 1, "max_replicas": 2}]}},
     {"clusterSpec": {"headGroupSpec": {"computeTemplate": "t", "serviceType": "NodePort"},
                      "workerGroupSpec": [{"groupName": "g", "minReplicas": 1, "maxReplicas": 2}]}}),
    ("map-keys-are-data-not-names", CLUSTER,
     {"annotations": {"cluster_spec": "x"},
      "cluster_spec": {"head_group_spec": {"ray_start_params": {"node_ip_address": "$MY_POD_IP"},
                                           "labels": {"compute_template": "y"}}}},
     {"annotations": {"cluster_spec": "x"},
      "clusterSpec": {"headGroupSpec": {"rayStartParams": {"node_ip_address": "$MY_POD_IP"},
                                        "labels": {"compute_template": "y"}}}}),
    ("null-means-not-set", CLUSTER,
     {"name": "c", "version": None, "cluster_spec": None, "envs": {"values": None}},
     {"name": "c", "envs": {}}),
    ("null-inside-a-map-is-left-for-validation", CLUSTER,
     {"annotations": {"a": None}}, {"annotations": {"a": None}}),
    ("undeclared-field-is-left-for-validation", CLUSTER,
     {"bogus": None, "clusterSpec": {"headGroupSpec": {"bogus_name": 1}}},
     {"bogus": None, "clusterSpec": {"headGroupSpec": {"bogus_name": 1}}}),
    ("enum-names-become-numbers", CLUSTER,
     {"environment": "PRODUCTION",
      "clusterSpec": {"headGroupSpec": {"volumes": [
          {"name": "v", "volume_type": "CONFIGMAP", "host_path_type": "FILE",
           "mount_propagation_mode": "BIDIRECTIONAL", "accessMode": "RWX"}]}}},
     {"environment": 3,
      "clusterSpec": {"headGroupSpec": {"volumes": [
          {"name": "v", "volumeType": 3, "hostPathType": 1, "mountPropagationMode": 2, "accessMode": 2}]}}}),
    ("enum-inside-a-map-of-objects", CLUSTER,
     {"envs": {"valuesFrom": {"REDIS_PASSWORD": {"source": "SECRET", "name": "s", "key": "k"}}}},
     {"envs": {"valuesFrom": {"REDIS_PASSWORD": {"source": 1, "name": "s", "key": "k"}}}}),
    ("enum-numbers-and-unknown-names-kept", CLUSTER,
     {"environment": 2, "clusterSpec": {"headGroupSpec": {"volumes": [{"name": "v", "volumeType": "CONFIG_MAP"}]}}},
     {"environment": 2, "clusterSpec": {"headGroupSpec": {"volumes": [{"name": "v", "volumeType": "CONFIG_MAP"}]}}}),
    ("numeric-strings-become-integers", TEMPLATE,
     {"cpu": "2", "memory": "+4", "gpu": 1.0, "extended_resources": {"vpc.amazonaws.com/efa": "32"}},
     {"cpu": 2, "memory": 4, "gpu": 1, "extendedResources": {"vpc.amazonaws.com/efa": 32}}),
    ("non-numeric-strings-kept", TEMPLATE,
     {"cpu": "two", "memory": "4.5", "memory_unit": "8"},
     {"cpu": "two", "memory": "4.5", "memoryUnit": "8"}),
    ("numeric-strings-become-numbers", JOB,
     {"entrypointNumCpus": "0.5", "entrypointNumGpus": ".25", "ttl_seconds_after_finished": "60",
      "version": "2.7", "entrypointResources": "1"},
     {"entrypointNumCpus": 0.5, "entrypointNumGpus": 0.25, "ttlSecondsAfterFinished": 60,
      "version": "2.7", "entrypointResources": "1"}),
    ("only-upstream-proto-names-are-aliases", JOB,  # proto spells this field entrypointNumCpus
     {"entrypoint_num_cpus": 1, "active_deadline_seconds": 5}, {"entrypoint_num_cpus": 1, "active_deadline_seconds": 5}),
    ("infinite-number-left-for-validation", JOB,
     {"entrypointNumCpus": "1e999"}, {"entrypointNumCpus": "1e999"}),
    ("service-names-including-serve_config_V2", SERVICE,
     {"serve_config_V2": "applications: []", "service_unhealthy_second_threshold": "900",
      "serve_deployment_graph_spec": {"import_path": "fruit.deployment_graph",
                                      "serve_configs": [{"deployment_name": "D", "actor_options": {
                                          "cpus_per_actor": "0.1", "memory_per_actor": "1024",
                                          "acccelerator_type": "T4"}}]}},
     {"serveConfigV2": "applications: []", "serviceUnhealthySecondThreshold": 900,
      "serveDeploymentGraphSpec": {"importPath": "fruit.deployment_graph",
                                   "serveConfigs": [{"deploymentName": "D", "actorOptions": {
                                       "cpusPerActor": 0.1, "memoryPerActor": "1024",
                                       "accceleratorType": "T4"}}]}}),
    ("output-only-fields-normalised-too", SERVICE,
     {"ray_service_status": {"ray_cluster_name": "c", "ray_service_events": [{"first_timestamp": None, "count": "2"}]}},
     {"rayServiceStatus": {"rayClusterName": "c", "rayServiceEvents": [{"count": 2}]}}),
]


@pytest.mark.parametrize("schema, body, expected", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_normalise(schema: dict[str, Any], body: Any, expected: Any) -> None:
    original = copy.deepcopy(body)
    assert normalise(body, schema) == expected
    assert body == original  # pure: the input is not modified


@pytest.mark.parametrize("body", [None, [], ["a"], "text", 3])
def test_a_body_that_is_not_an_object_is_left_for_validation(body: Any) -> None:
    assert normalise(body, CLUSTER) == body


DUPLICATES = [
    (CLUSTER, {"clusterSpec": {}, "cluster_spec": {}}, "Field 'clusterSpec' is given twice, as 'clusterSpec' and as 'cluster_spec'."),
    (CLUSTER, {"clusterSpec": {"workerGroupSpec": [{"groupName": "a", "group_name": "b"}]}},
     "Field 'clusterSpec.workerGroupSpec[0].groupName' is given twice, as 'groupName' and as 'group_name'."),
]


@pytest.mark.parametrize("schema, body, message", DUPLICATES)
def test_a_field_given_under_both_names_is_refused(schema: dict[str, Any], body: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise(body, schema)
    assert caught.value.message == message


def test_shape_merges_allof_so_the_request_name_rule_and_the_aliases_both_apply() -> None:
    shape = Shape.of(CLUSTER)
    assert "name" in shape.fields and shape.aliases["cluster_spec"] == "clusterSpec"
    assert shape.fields["environment"].enum == {"DEV": 0, "TESTING": 1, "STAGING": 2, "PRODUCTION": 3}
    assert shape.fields["clusterSpec"].fields["workerGroupSpec"].items is not None


ALIASES = {"page_size": "pageSize", "page_token": "pageToken"}
QUERIES = [
    (b"page_size=10&page_token=abc", b"pageSize=10&pageToken=abc"),
    (b"pageSize=10&page_token=a%2Fb", b"pageSize=10&pageToken=a%2Fb"),
    (b"pageSize=10&page_size=20", b"pageSize=10&page_size=20"),  # both given: the JSON name wins
    (b"limit=5&other=x", b"limit=5&other=x"),
    (b"", b""),
]


@pytest.mark.parametrize("query, expected", QUERIES)
def test_rename_query(query: bytes, expected: bytes) -> None:
    assert rename_query(query, ALIASES) == expected
