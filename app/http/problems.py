"""The one place that turns any failure of an HTTP request into a response: an `ApiError`
(app/errors.py) as its status and body, and Connexion's, Starlette's and unexpected failures
as the same body (`{"code": <gRPC code>, "message": "..."}`), with the HTTP status they carry.

A 405 names the methods its path allows (`Allow`), from the spec's route index (app/http/routes.py).
A failure of the server is logged here, whole; its client learns only `INTERNAL`.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from connexion.exceptions import NonConformingResponse, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from app.errors import INTERNAL, ApiError, error_body, grpc_code, sentence

if TYPE_CHECKING:
    import connexion

    from app.http.routes import SpecRoutes

log = logging.getLogger(__name__)


def register(app: connexion.FlaskApp, routes: SpecRoutes) -> None:
    """Route every failure, ours or the framework's, through `_respond`; `routes` names the
    methods a path allows, for a 405's `Allow` header."""
    app.add_error_handler(ApiError, _api_error)
    app.add_error_handler(ProblemException, _problem)
    app.add_error_handler(HTTPException, partial(_http_exception, routes))
    app.add_error_handler(Exception, _unexpected)


def _respond(status: int, code: int, message: str,
             headers: Mapping[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        body=json.dumps(error_body(code, message), separators=(",", ":")),
        headers=dict(headers or {}),
    )


def _api_error(request: ConnexionRequest, exc: ApiError) -> ConnexionResponse:
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message,
                  exc_info=exc.__cause__)
    return _respond(exc.status, exc.code, exc.message)


def _problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own failures: validation (400), media type (415), response validation (500)."""
    status = exc.status
    if isinstance(exc, NonConformingResponse):
        # Only ever on when responses are validated (tests): the detail is what a developer needs.
        log.error("%s %s: %s", request.method, request.url.path, exc.detail)
        return _respond(status, 13, f"Internal Server Error: {sentence(exc.detail)}")
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
        return _respond(status, grpc_code(status), INTERNAL)
    return _respond(status, grpc_code(status), sentence(exc.detail or exc.title or "Bad Request"),
                    exc.headers)


def _http_exception(routes: SpecRoutes, request: ConnexionRequest,
                    exc: HTTPException) -> ConnexionResponse:
    """Routing outcomes: no route (404), a route without this method (405), Flask's own aborts."""
    method, path = request.method, request.url.path
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"Not Found: no API route matches {method} {path}."
    elif exc.status_code == 405:
        headers["Allow"] = routes.allowed_methods(path) or headers.get("Allow", "")
        message = f"Method Not Allowed: {path} does not accept {method} (allowed: {headers['Allow']})."
    else:
        message = sentence(exc.detail)
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", method, path, exc.detail)
        message = INTERNAL
    return _respond(exc.status_code, grpc_code(exc.status_code), message, headers)


def _unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A bug or an unforeseen failure: the client learns nothing internal, the log gets everything."""
    log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
    return _respond(500, 13, INTERNAL)
