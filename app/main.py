"""The composition point: `create_app` is the only place where things are wired.

One spec (openapi/kuberay.yaml) is served twice, under `/apis/v1` and under `/apis/v1alpha2`
(upstream's older prefix), each with its spec at `<prefix>/openapi.json` and its Swagger UI at
`<prefix>/swagger-ui/`; `/swagger-ui/`, upstream's address, leads to the `/apis/v1` one.
Outside the spec: `/healthz`, `/readyz` (app/health.py) and `/metrics` (app/http/access.py), and,
when `v2` is on, the V2 API (app/http/v2.py): the Kubernetes API's own routes, forwarded. With CORS
origins set, browsers on those origins may call both APIs (app/http/cors.py).
The same operations are served over gRPC (app/rpc/) by the same handlers, when `grpc_bind` is set:
the app's lifespan starts that server and drains it at the end.

Importing this module loads the whole server, prometheus_client included, which picks its
multiprocess mode then: so it is a module of its own, not the package `app`, whose modules
gunicorn.conf.py imports before it sets PROMETHEUS_MULTIPROC_DIR (tests/unit/test_prometheus_order.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import connexion
import flask
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.spec import Specification
from werkzeug.wrappers import Response

import handlers
from app import auth, health, logs
from app.cache import Caches
from app.dashboard import Dashboard
from app.http import access, authn, bridge, cors, problems, v2, validators, wire
from app.http.routes import EmptySegments, SpecRoutes
from app.k8s import K8s
from app.rpc.routes import rpc_routes
from app.rpc.server import RpcServer
from app.services import Services
from app.settings import Settings
from app.translate.job_submissions import dashboard_route
from app.validation import Limits

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC = "kuberay.yaml"
API_PREFIXES = ("/apis/v1", "/apis/v1alpha2")
SWAGGER_UI = "/swagger-ui"
SPEC_DOCS = (SWAGGER_UI, "/openapi.json", "/openapi.yaml")  # served under each API prefix
OPS_ROUTES = ("/healthz", "/readyz", "/metrics")  # probes and scrapes: logged at DEBUG when fine
DOCS = (SWAGGER_UI, *(f"{prefix}{doc}" for prefix in API_PREFIXES for doc in SPEC_DOCS))  # and below each
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # upstream's /healthz
# Connexion indents JSON by default; upstream's gateway writes it compact, and it is cheaper.
COMPACT_JSON = Jsonifier(json, separators=(",", ":"))
RPC_EXTENSION = "kuberay_api.rpc"  # the app's gRPC server (or None), in Flask's `extensions`

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, k8s: K8s | None = None) -> connexion.FlaskApp:
    """The one composition point: what reaches what is visible here, and tests hand in their own
    settings and Kubernetes gateway. The gateway connects on first use, so an app that only
    validates requests needs no cluster; a server connects at start-up (`_connect_at_startup`)."""
    settings = settings or Settings.from_env(os.environ)
    logs.configure_logging(settings.log_level, settings.log_format)
    gateway = k8s or K8s.from_settings(settings)
    # Job submissions reach the Ray dashboards at the administrator's template if set; else a
    # server in a pod by the head Services' cluster DNS names, any other through the Kubernetes API
    # server's service proxy, with the gateway's client.
    route = dashboard_route(settings.dashboard_url, gateway.in_cluster)
    log.info("Job submissions reach each cluster's Ray dashboard %s.", route)
    dashboard = Dashboard(settings.dashboard_timeout, settings.job_log_limit, gateway)
    # Who calls (app/auth.py): with `kubernetes`, Kubernetes verifies each caller and decides what
    # they may do, also for reads the caches answer and for job submissions.
    authenticator = auth.authenticator(settings.auth_mode, settings.auth_token, gateway.review_token,
                                       settings.auth_review_rate, settings.auth_review_burst)
    permissions = auth.Access(gateway.review_access) if settings.auth_mode == "kubernetes" else None
    services = Services.build(gateway, Limits(settings.max_workers_per_cluster), dashboard, route,
                              cache=settings.cache, write_marks=settings.write_marks,
                              cache_namespace=settings.cache_namespace, access=permissions,
                              pod_check=settings.pod_check, consistent_reads=settings.consistent_reads)
    rpc = None
    if settings.grpc_bind:  # the same handlers, each in the same deadline scope, over gRPC
        rpc = RpcServer(rpc_routes(Specification.load(OPENAPI_DIR / SPEC)), handlers.operations(services),
                        gateway.request_scope, partial(health.not_ready_reason, gateway, services.caches),
                        settings.request_id_header, authenticator)
    app = connexion.FlaskApp(
        __name__,
        specification_dir=OPENAPI_DIR,
        lifespan=partial(_lifespan, gateway, services.caches, rpc, settings),
        jsonifier=COMPACT_JSON,
        pythonic_params=True,  # `continue` arrives as `continue_`, `pageSize` as `page_size`
        validate_responses=settings.validate_responses,
        validator_map=validators.VALIDATOR_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path=SWAGGER_UI),
    )
    # Flask's URL map would answer `a//b` with a redirect (to an absolute URL) to `a/b`.
    app.app.url_map.merge_slashes = False
    # Flask's answers reach the event loop in one hand-over (app/http/bridge.py), not three.
    app._middleware_app.asgi_app = bridge.OneStepWSGI(app.app.wsgi_app)
    # the table of which handler reaches which service, each run under one deadline for its calls
    resolver = handlers.resolver(services, gateway.request_scope)
    for prefix in API_PREFIXES:
        app.add_api(SPEC, base_path=prefix, resolver=resolver)
    routes = SpecRoutes(app.middleware.apis)
    app.add_middleware(wire.WireMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION,
                       body_limit=settings.body_limit)
    app.add_middleware(wire.LineFeedGuard, position=MiddlewarePosition.BEFORE_ROUTING)
    # An empty name (`…/clusters/`) is refused and no API path redirected, also the specs' own.
    app.add_middleware(EmptySegments, position=MiddlewarePosition.BEFORE_SWAGGER, routes=routes, docs=(SWAGGER_UI,))
    # Outermost first (each is inserted just before Connexion's exception handling): every answer is
    # counted and logged, CORS headers go on every other answer (and preflights, which carry no
    # credentials, are answered), writes from pages of other origins are refused, callers are
    # authenticated, and the V2 API answers its own paths before the V1 API's routing sees them.
    app.add_middleware(access.RequestMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       routes=access.Routes(app, routes, SPEC_DOCS),
                       header=settings.request_id_header, quiet=OPS_ROUTES)
    if settings.cors_origins:
        app.add_middleware(cors.Cors, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           origins=settings.cors_origins, skip=OPS_ROUTES)
    app.add_middleware(cors.CrossOriginWrites, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       origins=settings.cors_origins, v2=settings.v2)
    if settings.auth_mode != "none":
        app.add_middleware(authn.Authenticate, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           authenticator=authenticator, is_open=partial(_is_open, settings.auth_metrics),
                           v2=settings.v2)
    if settings.v2:
        app.add_middleware(v2.V2Middleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           api=services.v2, request_scope=gateway.request_scope)
    app.add_url_rule(f"{SWAGGER_UI}/", "swagger_ui", _swagger_ui, strict_slashes=False)
    app.add_url_rule("/healthz", "healthz", health.healthz, methods=ANY_METHOD)
    app.add_url_rule("/readyz", "readyz", partial(health.readyz, gateway, services.caches))
    app.add_url_rule("/metrics", "metrics", partial(access.metrics, settings.metrics_dir))
    problems.register(app, routes)
    app.app.extensions[RPC_EXTENSION] = rpc
    return app


@contextlib.asynccontextmanager
async def _lifespan(k8s: K8s, caches: Caches, rpc: RpcServer | None, settings: Settings,
                    _app: Any) -> AsyncIterator[None]:
    """A server builds its Kubernetes client when it starts, so a wrong setup stops it there, and
    starts filling its caches (reads go to Kubernetes until they are synced) and its gRPC front; at
    the end (HTTP has drained) it drains the gRPC calls in flight, then stops the caches' watches."""
    k8s.connect()
    caches.start()
    if rpc is not None:
        rpc.start(settings.grpc_bind)
    try:
        yield
    finally:
        if rpc is not None:
            await asyncio.to_thread(rpc.stop, settings.grpc_grace)
        caches.stop()


def _is_open(metrics_protected: bool, path: str) -> bool:
    """Paths served without credentials: the probes, `/metrics` unless protected, and the
    documentation (the specs and Swagger UI), which hold no data."""
    if path in ("/healthz", "/readyz") or (path == "/metrics" and not metrics_protected):
        return True
    return any(path == doc or path.startswith(f"{doc}/") for doc in DOCS)


def _swagger_ui() -> Response:
    """Upstream serves its UI at `/swagger-ui/`: show the current version's."""
    return flask.redirect(f"{flask.request.script_root}{API_PREFIXES[0]}{SWAGGER_UI}/")
