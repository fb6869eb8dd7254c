"""Every error a client can see, and the one place that turns any failure into a response.

Tree (HTTP status / gRPC code in the body):

    ApiError            500 / 2   upstream's uncoded errors: not managed, unexpected reads
    ├── InvalidInput     400 / 3
    │   ├── Unprocessable 422 / 3  the V2 API's refusal of a body it cannot complete (a missing compute template)
    │   └── TooLarge     413 / 3   a V2 request body beyond the limit
    ├── NotFound         404 / 5
    ├── AlreadyExists    409 / 6
    ├── Conflict         409 / 10  an update that kept meeting concurrent changes (gRPC Aborted)
    ├── FailedPrecondition 409 / 9 the object is not in a state the operation needs (a cluster not ready)
    ├── Unauthenticated  401 / 16  no credentials, or credentials not accepted (app/auth.py)
    ├── Forbidden        403 / 7
    ├── MethodNotAllowed 405 / 12
    ├── Internal         500 / 13
    ├── Unavailable      503 / 14
    └── DeadlineExceeded 504 / 4

Every error body is `{"code": <gRPC code>, "message": "<one sentence>"}` and nothing else: upstream's
Go client decodes it as `google.rpc.Status` and rejects unknown keys. This module
turns Connexion's and Starlette's own failures into the same body; app/http/validators.py phrases
the validation messages. It imports nothing from the rest of the application but the route
index of app/http/routes.py (for a 405's `Allow` header).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from connexion.exceptions import NonConformingResponse, ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    import connexion

    from app.http.routes import SpecRoutes

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of every error a client can see; a bare one is upstream's code 2 (Unknown), HTTP 500."""

    status: ClassVar[int] = 500
    code: ClassVar[int] = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ApiError):
    status, code = 400, 3


class Unprocessable(InvalidInput):
    status = 422


class TooLarge(InvalidInput):
    status = 413


class NotFound(ApiError):
    status, code = 404, 5


class AlreadyExists(ApiError):
    status, code = 409, 6


class Conflict(ApiError):
    status, code = 409, 10


class FailedPrecondition(ApiError):
    status, code = 409, 9


class Unauthenticated(ApiError):
    status, code = 401, 16


class Forbidden(ApiError):
    status, code = 403, 7


class MethodNotAllowed(ApiError):
    status, code = 405, 12


class Internal(ApiError):
    status, code = 500, 13


class Unavailable(ApiError):
    status, code = 503, 14


class DeadlineExceeded(ApiError):
    status, code = 504, 4


# gRPC code for an HTTP status that did not come from an ApiError (Connexion, Starlette, Flask):
# google.rpc.Code's own HTTP mapping (as grpc-gateway's runtime.HTTPStatusFromCode), plus
# upstream's 12 (Unimplemented) for a wrong method, as its gateway answers one.
_CODE_BY_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 499: 1,
                   500: 13, 501: 12, 503: 14, 504: 4}

INTERNAL = "Internal Server Error: the request failed unexpectedly; the cause is in the server log."


def grpc_code(status: int) -> int:
    """The gRPC code for an HTTP status: other client errors are invalid input, other failures internal."""
    return _CODE_BY_STATUS.get(status, 3 if 400 <= status < 500 else 13)


def error_body(code: int, message: str) -> dict[str, Any]:
    """The one error shape of the API (schema `Error` in openapi/kuberay.yaml)."""
    return {"code": code, "message": message}


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


def sentence(text: str) -> str:
    """One sentence on one line, ending with a full stop: every message of the API reads alike."""
    text = " ".join(str(text).split())
    return text if text.endswith((".", "?", "!")) else text + "."
