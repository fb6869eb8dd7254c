"""What `Services.build` asks of its gateway."""
from __future__ import annotations

import pytest

from app.services import Services
from app.validation import Limits
from tests.support.fake_gateway import FakeGateway


def test_the_watch_caches_need_the_kubernetes_gateway_itself(fake: FakeGateway) -> None:
    with pytest.raises(TypeError, match="the watch caches list and watch through app.k8s.K8s, not FakeGateway"):
        Services.build(fake, Limits(), cache=True)
