"""How handlers reach the service layer of their own app: `create_app` installs it on the
Flask app, handlers call `services()` inside the request.

The service layer is built on first use, not at import or in `create_app`: building it builds
the Kubernetes client, and an app that only validates requests (unit tests, the Swagger UI)
must not need a cluster. In a server, the start-up hook in `app/__init__.py` makes that first
use happen at start-up, so a wrong Kubernetes configuration stops the server at once.
Each app keeps its own, so several apps (with different clusters) can live in one process.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import flask

if TYPE_CHECKING:
    from app.services import Services

EXTENSION = "kuberay_api.services"


class LazyServices:
    """Builds the service layer once, thread-safely, when first asked."""

    def __init__(self, build: Callable[[], Services]) -> None:
        self._build = build
        self._value: Services | None = None
        self._lock = threading.Lock()

    def get(self) -> Services:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value


def install(flask_app: flask.Flask, lazy: LazyServices) -> None:
    """Give `flask_app` the service layer that `lazy` builds when first needed."""
    flask_app.extensions[EXTENSION] = lazy


def services_of(flask_app: flask.Flask) -> Services:
    """The app's service layer (built now if it was not yet)."""
    return flask_app.extensions[EXTENSION].get()


def services() -> Services:
    """The service layer of the app handling the current request."""
    return services_of(flask.current_app)
