"""The services as the server builds them (caches off), over an in-memory Kubernetes that holds
the namespaces `NS` and `OTHER` and a compute template in `NS`: no control plane."""
from __future__ import annotations

import pytest

from app.services import Services
from app.validation import Limits
from tests.services.bodies import NS, OTHER, template
from tests.support.fake_gateway import FakeGateway


@pytest.fixture
def fake() -> FakeGateway:
    return FakeGateway(NS, OTHER)


@pytest.fixture
def services(fake: FakeGateway) -> Services:
    built = Services.build(fake, Limits(max_workers_per_cluster=10))
    built.compute_templates.create(NS, template())
    return built
