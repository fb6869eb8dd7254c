"""How handlers reach the service layer: `create_app` installs it, handlers call `services()`.

The service layer is built on first use, not at import or in `create_app`: building it builds
the Kubernetes client, and an app that only validates requests (unit tests, the Swagger UI)
must not need a cluster. In a server, the start-up hook in `app/__init__.py` makes that first
use happen at start-up, so a wrong Kubernetes configuration stops the server at once.
One installation per process: the last `install` wins.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services import Services

_lock = threading.Lock()
_factory: Callable[[], Services] | None = None
_services: Services | None = None


def install(services: Services | Callable[[], Services]) -> None:
    """Use `services`, or whatever the callable returns when the first request needs it."""
    global _factory, _services
    with _lock:
        if callable(services):
            _factory, _services = services, None
        else:
            _factory, _services = None, services


def services() -> Services:
    """The installed service layer, built once (thread-safe) if it was installed as a factory."""
    global _services
    current = _services
    if current is not None:
        return current
    with _lock:
        if _services is None:
            if _factory is None:
                raise RuntimeError("no service layer installed: build the app with create_app()")
            _services = _factory()
        return _services
