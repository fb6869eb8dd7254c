"""kuberay-api: the composition point. `create_app` is the only place where things are wired.

One spec (openapi/kuberay.yaml) is served twice, under `/apis/v1` and under `/apis/v1alpha2`
(upstream's older prefix), each with its spec at `<prefix>/openapi.json` and its Swagger UI at
`<prefix>/swagger-ui/`; `/swagger-ui/`, upstream's address, leads to the `/apis/v1` one.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import connexion
import flask
from werkzeug.wrappers import Response
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions

from app import errors, registry, wire
from app.settings import Settings

if TYPE_CHECKING:
    from app.k8s import K8s
    from app.services import Services

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC = "kuberay.yaml"
API_PREFIXES = ("/apis/v1", "/apis/v1alpha2")
SWAGGER_UI = "/swagger-ui"
# Connexion indents JSON by default; upstream's gateway writes it compact, and it is cheaper.
COMPACT_JSON = Jsonifier(json, separators=(",", ":"))


def create_app(settings: Settings | None = None, k8s: K8s | None = None) -> connexion.FlaskApp:
    """The one composition point, so tests can hand in their own settings and Kubernetes gateway.

    Without `k8s`, the gateway is built from `settings` when first needed (at server start-up,
    or by the first request that reaches a handler), so an app that only validates needs no cluster.
    """
    settings = settings or Settings.from_env(os.environ)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    registry.install(partial(_build_services, settings, k8s))

    app = connexion.FlaskApp(
        __name__,
        specification_dir=OPENAPI_DIR,
        lifespan=_services_at_startup,
        jsonifier=COMPACT_JSON,
        pythonic_params=True,  # `continue` arrives as `continue_`, `pageSize` as `page_size`
        validate_responses=settings.validate_responses,
        validator_map=errors.VALIDATOR_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path=SWAGGER_UI),
    )
    for prefix in API_PREFIXES:
        app.add_api(SPEC, base_path=prefix)
    app.add_middleware(wire.WireMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION)
    app.add_url_rule(f"{SWAGGER_UI}/", "swagger_ui", _swagger_ui, strict_slashes=False)
    errors.register(app)
    return app


def _build_services(settings: Settings, k8s: K8s | None) -> Services:
    # Imported here: the Kubernetes client is only loaded once a request needs it.
    from app.k8s import K8s
    from app.services import Services

    if k8s is None:
        if settings.kubeconfig:
            k8s = K8s.from_kubeconfig(settings.kubeconfig, timeout=settings.k8s_timeout)
        else:
            k8s = K8s.from_environment(timeout=settings.k8s_timeout)
    return Services.build(k8s)


@contextlib.asynccontextmanager
async def _services_at_startup(_app: Any) -> AsyncIterator[None]:
    """Build the service layer when the server starts, so a wrong Kubernetes setup stops it there."""
    registry.services()
    yield


def _swagger_ui() -> Response:
    """Upstream serves its UI at `/swagger-ui/`: show the current version's."""
    return flask.redirect(f"{flask.request.script_root}{API_PREFIXES[0]}{SWAGGER_UI}/")
