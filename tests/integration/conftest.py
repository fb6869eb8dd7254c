"""Fixtures of the integration tests beyond the shared ones in tests/conftest.py."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import ok, template_body
from tests.support.chart import helm  # noqa: F401  (a fixture: the chart tool, built on first use)
from tests.support.real_ray import ray_on_node  # noqa: F401  (a fixture: the guide's cluster, running Ray)
from tests.support.seed_sequence import other_namespace  # noqa: F401  (a fixture)


@pytest.fixture
def with_template(app_client: Any, namespace: str) -> str:
    """The test's namespace, holding the user guide's `default-template`."""
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
    return namespace


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A control plane of the test module's own, whose components its tests may stop, start and
    freeze without disturbing the session's (about 20 s to start)."""
    from devcluster import ControlPlane

    own = ControlPlane(tmp_path_factory.mktemp("plane") / "state", owner_pid=os.getpid(), real_node=False).start()
    try:
        yield own
    finally:
        own.stop()
