"""Compute templates <-> ConfigMaps, table-driven over tests/fixtures/compute_templates/.

`<case>.api.json` is a request and `<case>.crd.json` the ConfigMap built from it; a `.crd.json`
without a request is a ConfigMap found in a cluster (older servers, hand edits). The response is
`<case>.response.json` where it differs from the request.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from app.translate.compute_templates import to_api_compute_template, to_configmap
from app.types import Json
from tests.support.fixture_pairs import case_id, cases, expected_response, load, sibling

REQUESTS = cases("compute_templates", "api")
CONFIGMAPS = cases("compute_templates", "crd")
# What the API server adds to a ConfigMap it stores.
SERVER_METADATA = {"creationTimestamp": "2025-01-02T03:04:06Z", "resourceVersion": "811",
                   "uid": "6f1b6f0c-6b1e-4a8e-9d7c-2b1f0f3e4a5b"}


def stored(configmap_file: Path) -> Json:
    configmap: Json = load(configmap_file)
    configmap["metadata"] = {**SERVER_METADATA, **configmap["metadata"]}
    return configmap


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_to_configmap(api_file: Path) -> None:
    assert to_configmap(load(api_file)) == load(sibling(api_file, "crd"))


@pytest.mark.parametrize("configmap_file", CONFIGMAPS, ids=case_id)
def test_to_api_compute_template(configmap_file: Path) -> None:
    assert to_api_compute_template(stored(configmap_file)) == expected_response(configmap_file)


@pytest.mark.parametrize("api_file", REQUESTS, ids=case_id)
def test_inputs_are_not_changed(api_file: Path) -> None:
    request, configmap = load(api_file), stored(sibling(api_file, "crd"))
    before = copy.deepcopy((request, configmap))
    to_configmap(request)
    to_api_compute_template(configmap)
    assert (request, configmap) == before
