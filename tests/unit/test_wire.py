"""app/http/wire.py: upstream's lenient input (protojson's) normalised against the real spec's schemas."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from connexion.spec import Specification

from app.errors import InvalidInput
from app.http.wire import (
    Shape,
    field_validation,
    field_warnings,
    normalise,
    parse_json,
    rename_query,
    strict_refusal,
    warning_headers,
)
from app.types import Json
from tests.support.fixture_pairs import folder, load

SPEC = Specification.load(Path(__file__).parents[2] / "openapi" / "kuberay.yaml")


def body_schema(path: str, method: str = "post") -> Json:
    schema: Json = SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return schema


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
    ("unknown-fields-dropped", CLUSTER,
     {"name": "c", "bogus": None, "clusterSpec": {"headGroupSpec": {"bogus_name": 1}}},
     {"name": "c", "clusterSpec": {"headGroupSpec": {}}}),
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


@pytest.mark.parametrize(("schema", "body", "expected"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_normalise(schema: Json, body: Any, expected: Any) -> None:
    original = copy.deepcopy(body)
    assert normalise(body, schema) == expected
    assert body == original  # pure: the input is not modified


@pytest.mark.parametrize("body", [None, [], ["a"], "text", 3])
def test_a_body_that_is_not_an_object_is_left_for_validation(body: Any) -> None:
    assert normalise(body, CLUSTER) == body


UNKNOWN = [
    # (id, schema, request body, what the handlers see, the paths of the unknown fields dropped)
    ("top-level", TEMPLATE, {"name": "t", "cpus": 2}, {"name": "t"}, [("cpus",)]),
    ("in-an-object", CLUSTER, {"clusterSpec": {"headGroupSpec": {"foo": "x", "image": "i"}}},
     {"clusterSpec": {"headGroupSpec": {"image": "i"}}}, [("clusterSpec", "headGroupSpec", "foo")]),
    ("in-a-list", CLUSTER, {"clusterSpec": {"workerGroupSpec": [{"groupName": "a"}, {"replica": 1}]}},
     {"clusterSpec": {"workerGroupSpec": [{"groupName": "a"}, {}]}},
     [("clusterSpec", "workerGroupSpec", 1, "replica")]),
    ("in-a-map-of-objects", CLUSTER, {"envs": {"valuesFrom": {"POD": {"source": "FIELD", "path": "x"}}}},
     {"envs": {"valuesFrom": {"POD": {"source": 3}}}}, [("envs", "valuesFrom", "POD", "path")]),
    ("under-a-protobuf-name", CLUSTER, {"cluster_spec": {"head_group_spec": {"compute_templat": "t"}}},
     {"clusterSpec": {"headGroupSpec": {}}}, [("clusterSpec", "headGroupSpec", "compute_templat")]),
    ("only-upstream-proto-names-are-aliases", JOB,  # proto spells these entrypointNumCpus, activeDeadlineSeconds
     {"entrypoint_num_cpus": 1, "active_deadline_seconds": 5}, {},
     [("entrypoint_num_cpus",), ("active_deadline_seconds",)]),
    ("null-valued", JOB, {"name": "j", "bogus": None}, {"name": "j"}, [("bogus",)]),
    ("named-once-with-all-it-holds", JOB, {"extra": {"clusterSpec": {"x": 1}}}, {}, [("extra",)]),
    ("keys-of-free-form-maps-are-data", CLUSTER,
     {"annotations": {"any key": "v"}, "clusterSpec": {"headGroupSpec": {"rayStartParams": {"num cpus": "1"}}},
      "envs": {"values": {"foo": "bar"}, "valuesFrom": {"bogus": {"name": "n"}}}},
     {"annotations": {"any key": "v"}, "clusterSpec": {"headGroupSpec": {"rayStartParams": {"num cpus": "1"}}},
      "envs": {"values": {"foo": "bar"}, "valuesFrom": {"bogus": {"name": "n"}}}}, []),
    ("extended-resources-are-data", TEMPLATE, {"extendedResources": {"vpc.amazonaws.com/efa": 32}},
     {"extendedResources": {"vpc.amazonaws.com/efa": 32}}, []),
    ("output-only-fields-are-known", SERVICE, {"rayServiceStatus": {"rayClusterName": "c", "nodes": 2}},
     {"rayServiceStatus": {"rayClusterName": "c"}}, [("rayServiceStatus", "nodes")]),
    ("python-client-template", TEMPLATE,
     load(folder("compute_templates") / "python-client-gpu.request.json"),
     {"name": "gpu-template", "namespace": "default", "cpu": 2, "memory": 8, "gpu": 1},
     [("gpu accelerator",), ("extended resources",)]),
]


@pytest.mark.parametrize(("schema", "body", "expected", "paths"), [case[1:] for case in UNKNOWN],
                         ids=[case[0] for case in UNKNOWN])
def test_unknown_fields_are_dropped_and_their_paths_reported(schema: Json, body: Any, expected: Any,
                                                             paths: list[tuple[Any, ...]]) -> None:
    original = copy.deepcopy(body)
    unknown: list[tuple[Any, ...]] = []
    assert normalise(body, schema, unknown) == expected
    assert unknown == paths
    assert body == original


def test_shape_knows_which_objects_forbid_other_fields() -> None:
    shape = Shape.of(CLUSTER)  # allOf: the closed Cluster and the request's name rule
    assert shape.closed
    assert shape.fields["clusterSpec"].closed
    assert not shape.fields["annotations"].closed
    assert shape.fields["annotations"].values is not None


MODES = [
    (b"", "Warn"),  # Kubernetes' default
    (b"fieldValidation=Ignore", "Ignore"),
    (b"fieldValidation=Warn", "Warn"),
    (b"fieldValidation=Strict", "Strict"),
    (b"a=1&fieldValidation=Strict&fieldValidation=Ignore", "Ignore"),  # the last, as Connexion reads it
    (b"fieldValidation=strict", None),  # Kubernetes' values are case-sensitive; validation refuses it
    (b"fieldValidation=", "Warn"),  # empty: Kubernetes' default (rest.go `fieldValidation`)
    (b"fieldValidation=Strict&fieldValidation=", "Warn"),
    (b"fieldvalidation=Strict", "Warn"),  # another parameter
]


@pytest.mark.parametrize(("query", "mode"), MODES)
def test_field_validation(query: bytes, mode: str | None) -> None:
    assert field_validation(query) == mode


def test_strict_names_every_unknown_field_sorted_as_kubernetes_does() -> None:
    refusal = strict_refusal([("z",), ("clusterSpec", "workerGroupSpec", 10, "x"),
                                     ("clusterSpec", "workerGroupSpec", 2, "x")])
    assert refusal.status == 400
    assert refusal.message == (
        "Unknown fields 'clusterSpec.workerGroupSpec[10].x', 'clusterSpec.workerGroupSpec[2].x', 'z': "
        "the API has no such field.")


WARNINGS = [
    # (paths of unknown fields, the Warning header values: kube-apiserver's for a custom resource)
    ([("gpu accelerator",), ("extended resources",)],
     [r'299 - "unknown field \"extended resources\""', r'299 - "unknown field \"gpu accelerator\""']),
    ([("clusterSpec", "workerGroupSpec", 0, "foo")],
     [r'299 - "unknown field \"clusterSpec.workerGroupSpec[0].foo\""']),
    ([("a", "b"), ("a", "b")], [r'299 - "unknown field \"a.b\""']),  # each text once
    ([('say "hi"',), ("back\\slash",)],  # the header's quoting: only " and \ escaped
     [r'299 - "unknown field \"back\\slash\""', r'299 - "unknown field \"say \"hi\"\""']),
    ([("café",)], [r'299 - "unknown field \"café\""']),  # UTF-8 as it is
    ([("line\nfeed\x01\x7f\x85",)],  # control characters as Go's %q writes them
     [r'299 - "unknown field \"line\\nfeed\\x01\\x7f\\u0085\""']),
    ([("lone\ud800",)], ['299 - "unknown field \\"lone\ufffd\\""']),
    ([], []),
]


@pytest.mark.parametrize(("paths", "headers"), WARNINGS)
def test_unknown_field_warnings(paths: list[tuple[Any, ...]], headers: list[str]) -> None:
    assert field_warnings(paths) == headers


REPEATED = [
    # (JSON text, its value (a repeated key's last value kept), the paths of the repeated fields)
    (b'{"a": 1, "b": 2}', {"a": 1, "b": 2}, []),
    (b'{"a": 1, "a": 2}', {"a": 2}, [("a",)]),
    (b'{"a": 1, "a": 2, "a": 3}', {"a": 3}, [("a",)]),  # once, however often
    (b'{"spec": {"groups": [{"x": {"n": 1, "n": 1}}], "name": "a", "name": "b"}}',
     {"spec": {"groups": [{"x": {"n": 1}}], "name": "b"}}, [("spec", "groups", 0, "x", "n"), ("spec", "name")]),
    (b'{"annotations": {"k": "1", "k": "2"}, "unknown": {"z": 0, "z": 0}}',  # in maps and unknown fields too
     {"annotations": {"k": "2"}, "unknown": {"z": 0}}, [("annotations", "k"), ("unknown", "z")]),
    (b'[{"a": 1, "a": 1}]', [{"a": 1}], [(0, "a")]),
]


@pytest.mark.parametrize(("text", "value", "paths"), REPEATED)
def test_parse_json_finds_the_keys_given_more_than_once(text: bytes, value: Any, paths: list[Any]) -> None:
    assert parse_json(text) == (value, paths)


def test_warnings_name_repeated_fields_in_the_body_order_then_unknown_ones_sorted() -> None:
    """As kube-apiserver warns for a RayCluster created with both (fieldValidation=Warn)."""
    assert field_warnings([("spec", "z"), ("spec", "a")], [("metadata", "annotations", "z"), ("spec", "b")]) == [
        r'299 - "duplicate field \"metadata.annotations.z\""', r'299 - "duplicate field \"spec.b\""',
        r'299 - "unknown field \"spec.a\""', r'299 - "unknown field \"spec.z\""']


STRICT = [
    # (unknown fields, repeated fields, the message of the 400)
    ([], [("clusterSpec", "headGroupSpec", "image")],
     "Field 'clusterSpec.headGroupSpec.image' is given more than once: only the last value would be kept."),
    ([], [("b",), ("a",)], "Fields 'b', 'a' are given more than once: only the last value would be kept."),
    ([("z",)], [("a",)], "Field 'a' is given more than once; unknown field 'z': the API has no such field."),
]


@pytest.mark.parametrize(("unknown", "repeated", "message"), STRICT)
def test_strict_names_repeated_fields_then_unknown_ones(unknown: list[Any], repeated: list[Any],
                                                        message: str) -> None:
    refusal = strict_refusal(unknown, repeated)
    assert (refusal.status, refusal.code, refusal.message) == (400, 3, message)


def test_warnings_past_4096_characters_are_cut_as_kubernetes_cuts_them() -> None:
    """kube-apiserver's recorder: 4096 characters of text in all; past that, every text is cut to
    256 characters (those already written too) and the texts that no longer fit are left out."""
    texts = [f"{i:02d}" + "x" * 298 for i in range(20)]  # 300 characters each
    assert warning_headers(texts[:13]) == [f'299 - "{text}"' for text in texts[:13]]  # 3900: all fit
    assert warning_headers(texts) == [f'299 - "{text[:256]}"' for text in texts[:16]]  # 16 x 256 = 4096


DUPLICATES = [
    (CLUSTER, {"clusterSpec": {}, "cluster_spec": {}}, "Field 'clusterSpec' is given twice, as 'clusterSpec' and as 'cluster_spec'."),
    (CLUSTER, {"clusterSpec": {"workerGroupSpec": [{"groupName": "a", "group_name": "b"}]}},
     "Field 'clusterSpec.workerGroupSpec[0].groupName' is given twice, as 'groupName' and as 'group_name'."),
]


@pytest.mark.parametrize(("schema", "body", "message"), DUPLICATES)
def test_a_field_given_under_both_names_is_refused(schema: Json, body: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise(body, schema)
    assert caught.value.message == message


def test_shape_merges_allof_so_the_request_name_rule_and_the_aliases_both_apply() -> None:
    shape = Shape.of(CLUSTER)
    assert "name" in shape.fields
    assert shape.aliases["cluster_spec"] == "clusterSpec"
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


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_rename_query(query: bytes, expected: bytes) -> None:
    assert rename_query(query, ALIASES) == expected
