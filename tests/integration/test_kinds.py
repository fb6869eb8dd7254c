"""What holds alike for clusters, jobs and services: their lists come in pages, and a create the
server refuses writes nothing."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from app.types import Json
from tests.support.api import ok, refused, served_eventually
from tests.support.bodies import cluster_body, job_body, raycluster_spec, service_body
from tests.support.kube import PLURALS, Kube

PLANTED = {  # kind -> the spec of an object written past the server
    "clusters": raycluster_spec(),
    "jobs": {"entrypoint": "python -V", "clusterSelector": {"x": "y"}},
    "services": {"serveConfigV2": "applications: []\n", "rayClusterConfig": raycluster_spec()},
}
BODIES: dict[str, Callable[[str], Json]] = {"clusters": cluster_body, "jobs": job_body, "services": service_body}


@pytest.mark.parametrize(("kind", "size", "token", "next_token"), [
    ("clusters", "limit", "continue", "continue"),
    ("jobs", "limit", "continue", "continue"),
    ("services", "pageSize", "pageToken", "nextPageToken"),  # upstream's names for services' pages
])
def test_pages_through(app_client: TestClient, kube: Kube, namespace: str, kind: str, size: str, token: str,
                       next_token: str) -> None:
    kube.plant(kind, namespace, PLANTED[kind], ["a", "b", "c"])
    base = f"/apis/v1/namespaces/{namespace}/{kind}"
    served_eventually(app_client, base, kind, ["a", "b", "c"])  # (written past the server)

    first = ok(app_client.get(base, params={size: 2}))
    second = ok(app_client.get(base, params={size: 2, token: first[next_token]}))

    assert [item["name"] for item in first[kind]] == ["a", "b"]
    assert [item["name"] for item in second[kind]] == ["c"]
    assert next_token not in second
    refused(app_client.get(base, params={token: "garbage"}), 400, 3)


@pytest.mark.parametrize(("kind", "change", "fragment"), [
    ("clusters", {"namespace": "elsewhere"}, "namespace"),
    ("clusters", {"user": ""}, "'user'"),
    ("clusters", {"clusterSpec": {"headGroupSpec": {"computeTemplate": "default-template", "rayStartParams": {}}}},
     "rayStartParams"),
    ("jobs", {"namespace": "elsewhere"}, "namespace"),
    ("jobs", {"user": ""}, "'user'"),
    ("jobs", {"clusterSpec": None}, "'clusterSpec'"),  # (None: the field left out)
    ("services", {"namespace": "elsewhere"}, "namespace"),
    ("services", {"user": ""}, "'user'"),
    ("services", {"serveConfigV2": ""}, "serve configuration"),
])
def test_an_invalid_create_is_400_and_writes_nothing(
        app_client: TestClient, kube: Kube, with_template: str, kind: str, change: Json, fragment: str) -> None:
    body = {key: value for key, value in {**BODIES[kind](with_template), **change}.items() if value is not None}

    message = refused(app_client.post(f"/apis/v1/namespaces/{with_template}/{kind}", json=body), 400, 3)

    assert fragment in message
    assert kube.items(PLURALS[kind], with_template) == []
