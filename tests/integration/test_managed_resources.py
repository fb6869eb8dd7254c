"""What clusters, jobs and services share (app/services/resource.py's ManagedResource), tested
once for each kind: a taken name, a missing compute template, and objects that are absent or
that this server does not manage."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from app.types import Json
from tests.support.api import ok, refused
from tests.support.bodies import cluster_body, job_body, raycluster_spec, service_body
from tests.support.kube import Kube


@dataclass(frozen=True)
class Kind:
    resource: str  # the API's path segment
    plural: str  # the custom resource's
    body: Callable[[str], Json]  # the README's request, in a namespace
    unmanaged_spec: Callable[[], Json]  # the spec of an object another client made


KINDS = [
    Kind("clusters", "rayclusters", cluster_body, raycluster_spec),
    Kind("jobs", "rayjobs", job_body, lambda: {"entrypoint": "python -V", "rayClusterSpec": raycluster_spec()}),
    Kind("services", "rayservices", service_body,
         lambda: {"serveConfigV2": "applications: []\n", "rayClusterConfig": raycluster_spec()}),
]
each_kind = pytest.mark.parametrize("kind", KINDS, ids=[kind.resource for kind in KINDS])


@each_kind
def test_duplicate_name_is_409(app_client: TestClient, with_template: str, kind: Kind) -> None:
    base = f"/apis/v1/namespaces/{with_template}/{kind.resource}"
    body = kind.body(with_template)
    ok(app_client.post(base, json=body))

    assert body["name"] in refused(app_client.post(base, json=body), 409, 6)


@each_kind
def test_missing_template_is_400_naming_it_and_writes_nothing(app_client: TestClient, kube: Kube, namespace: str,
                                                              kind: Kind) -> None:
    message = refused(app_client.post(f"/apis/v1/namespaces/{namespace}/{kind.resource}",
                                      json=kind.body(namespace)), 400, 3)

    assert "default-template" in message
    assert kube.items(kind.plural, namespace) == []


@each_kind
def test_unknown_and_unmanaged_objects_are_404_and_survive_delete(app_client: TestClient, kube: Kube, namespace: str,
                                                                  kind: Kind) -> None:
    kube.create(kind.plural, namespace, {"metadata": {"name": "theirs"}, "spec": kind.unmanaged_spec()})
    base = f"/apis/v1/namespaces/{namespace}/{kind.resource}"

    for name in ("nope", "theirs"):
        assert name in refused(app_client.get(f"{base}/{name}"), 404, 5)
        refused(app_client.delete(f"{base}/{name}"), 404, 5)

    assert kube.get(kind.plural, namespace, "theirs") is not None
    assert ok(app_client.get(base)) == {}
    listed_all = ok(app_client.get(f"/apis/v1/{kind.resource}")).get(kind.resource, [])
    assert all(item["namespace"] != namespace for item in listed_all)
