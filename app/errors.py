"""Every error a client can see, and the one place that turns any failure into a response.

Tree (HTTP status / gRPC code in the body):

    ApiError            500 / 2   upstream's "plain" errors (BEHAVIOR §2.2): not managed, unexpected reads
    ├── InvalidInput     400 / 3
    ├── NotFound         404 / 5
    ├── AlreadyExists    409 / 6
    ├── Forbidden        403 / 7
    ├── MethodNotAllowed 405 / 12
    ├── Internal         500 / 13
    ├── Unavailable      503 / 14
    └── DeadlineExceeded 504 / 4

Every error body is `{"code": <gRPC code>, "message": "<one sentence>"}` and nothing else: upstream's
Go client decodes it as `google.rpc.Status` and rejects unknown keys (BEHAVIOR §2.1). This module
also phrases Connexion's validation failures (`VALIDATOR_MAP`), so that they name the field.
It imports nothing from the rest of the application.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any, ClassVar

import connexion
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, NonConformingResponse, ProblemException
from connexion.http_facts import METHODS as _METHODS
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match
from starlette.exceptions import HTTPException

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


class NotFound(ApiError):
    status, code = 404, 5


class AlreadyExists(ApiError):
    status, code = 409, 6


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
# google.rpc.Code's own HTTP mapping, plus upstream's 12 for a wrong method (BEHAVIOR §2.3).
_CODE_BY_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 429: 8, 499: 1,
                   500: 13, 501: 12, 503: 14, 504: 4}

EMPTY_BODY = "The request body is empty: a JSON object is required."
INTERNAL = "Internal Server Error: the request failed unexpectedly; the cause is in the server log."


def grpc_code(status: int) -> int:
    """The gRPC code for an HTTP status: other client errors are invalid input, other failures internal."""
    return _CODE_BY_STATUS.get(status, 3 if 400 <= status < 500 else 13)


def error_body(code: int, message: str) -> dict[str, Any]:
    """The one error shape of the API (schema `Error` in openapi/kuberay.yaml)."""
    return {"code": code, "message": message}


def register(app: connexion.FlaskApp) -> None:
    """Route every failure, ours or the framework's, through `_respond`."""
    allowed = _AllowedMethods(app)
    app.add_error_handler(ApiError, _api_error)
    app.add_error_handler(ProblemException, _problem)
    app.add_error_handler(HTTPException, partial(_http_exception, allowed))
    app.add_error_handler(Exception, _unexpected)


class _AllowedMethods:
    """The methods the specs declare for a concrete path, for a 405's `Allow` header.

    Starlette's router lists only the methods of the first route that matched the path, and
    Connexion adds one route per method, so its header would be incomplete.
    """

    def __init__(self, app: connexion.FlaskApp) -> None:
        self._app = app
        self._routes: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, path: str) -> str:
        if self._routes is None:  # built on first use: every API has been added by then
            self._routes = list(self._index())
        return next((methods for pattern, methods in self._routes if pattern.fullmatch(path)), "")

    def _index(self) -> Iterator[tuple[re.Pattern[str], str]]:
        for api in self._app.middleware.apis:
            for template, item in api.specification["paths"].items():
                methods = {method.upper() for method in item if method in _METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                regex = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(f"{api.base_path}{template}"))
                yield re.compile(regex), ", ".join(sorted(methods))


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
        return _respond(status, 13, f"Internal Server Error: {_sentence(exc.detail)}")
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
        return _respond(status, grpc_code(status), INTERNAL)
    return _respond(status, grpc_code(status), _sentence(exc.detail or exc.title or "Bad Request"),
                    exc.headers)


def _http_exception(allowed_methods: _AllowedMethods, request: ConnexionRequest,
                    exc: HTTPException) -> ConnexionResponse:
    """Routing outcomes: no route (404), a route without this method (405), Flask's own aborts."""
    method, path = request.method, request.url.path
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"Not Found: no API route matches {method} {path}."
    elif exc.status_code == 405:
        headers["Allow"] = allowed_methods(path) or headers.get("Allow", "")
        message = f"Method Not Allowed: {path} does not accept {method} (allowed: {headers['Allow']})."
    else:
        message = _sentence(exc.detail)
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", method, path, exc.detail)
        message = INTERNAL
    return _respond(exc.status_code, grpc_code(exc.status_code), message, headers)


def _unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A bug or an unforeseen failure: the client learns nothing internal, the log gets everything."""
    log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
    return _respond(500, 13, INTERNAL)


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "?", "!")) else text + "."


# -- validation messages ------------------------------------------------------------------

_ARTICLE_TYPES = {"integer": "an integer", "object": "a JSON object", "array": "an array",
                  "string": "a string", "number": "a number", "boolean": "true or false",
                  "null": "null"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    for name, python in (("a string", str), ("an integer", int), ("a number", float),
                         ("a JSON object", dict), ("an array", list)):
        if isinstance(value, python):
            return name
    return type(value).__name__


def field_path(path: Iterable[Any]) -> str:
    """`clusterSpec.workerGroupSpec[0].groupName`: how a message names a field of the body."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(error: ValidationError, subject: str = "The request body") -> str:
    """One sentence naming the field and saying what is wrong with it, for a JSON Schema failure.

    `subject` names the whole instance (the body, or a parameter); fields inside it are named by path.
    """
    path = list(error.absolute_path)
    what = f"Field '{field_path(path)}'" if path else subject
    value = json.dumps(error.instance)
    schema = error.schema if isinstance(error.schema, dict) else {}
    enum = _enum_numbers(error)
    kind = error.validator

    if enum is not None:
        names = ", ".join(enum)
        return (f"{what} has an unknown value {value}: use one of {names}, "
                f"or its number {min(enum.values())}-{max(enum.values())}.")
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        unknown = [field_path([*path, key]) for key in error.instance if key not in known]
        listed = ", ".join(f"'{name}'" for name in unknown)
        return f"Unknown field{'s' if len(unknown) > 1 else ''} {listed}: the API has no such field."
    if kind == "required" and isinstance(error.instance, dict):
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"Missing required field '{field_path([*path, missing])}'."
    if kind == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        expected = " or ".join(_ARTICLE_TYPES.get(name, name) for name in wanted)
        return f"{what} must be {expected}, not {_json_type(error.instance)}."
    if kind in ("pattern", "maxLength", "minLength") and "x-rule" in schema:
        return f"{what} has an invalid value {value}: it must be {schema['x-rule']}."
    if kind == "maxLength":
        return f"{what} is longer than {error.validator_value} characters."
    if kind == "minLength":
        return f"{what} must have at least {error.validator_value} character(s)."
    if kind == "pattern":
        return f"{what} has an invalid value {value}: it must match {error.validator_value}."
    if kind == "minimum":
        return f"{what} must be at least {error.validator_value}, not {value}."
    if kind == "maximum":
        return f"{what} must be at most {error.validator_value}, not {value}."
    if kind == "enum":
        allowed = ", ".join(json.dumps(item) for item in error.validator_value)
        return f"{what} has an unknown value {value}: use one of {allowed}."
    if kind == "maxProperties" and error.validator_value == 0:
        return f"{what} must be an empty object."
    return f"{what} is not valid: {_sentence(error.message)}"


def _enum_numbers(error: ValidationError | None) -> dict[str, int] | None:
    """The name->number table of the enum a failure belongs to (`x-enum-numbers`), if any."""
    while error is not None:
        if isinstance(error.schema, dict) and "x-enum-numbers" in error.schema:
            return dict(error.schema["x-enum-numbers"])
        error = error.parent
    return None


class RequestBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON body validator, with messages that name the field (see `describe`)."""

    async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
        try:
            return await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem as exc:
            if exc.detail == "RequestBody is required":  # Connexion's text for a missing body
                raise BadRequestProblem(detail=EMPTY_BODY) from None
            raise

    async def _parse(self, stream: Any, scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:  # includes bytes that are not UTF-8
            raise BadRequestProblem(detail=f"The request body is not valid JSON: {exc}.") from None

    def _validate(self, body: Any) -> None:
        if body is None:
            raise BadRequestProblem(detail=EMPTY_BODY)
        error = best_match(self._validator.iter_errors(body))
        if error is not None:
            raise BadRequestProblem(detail=describe(error))


class RequestParameterValidator(ParameterValidator):
    """Connexion's parameter validator, with messages that name the parameter."""

    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any],
                           param_name: str | None = None) -> str | None:
        if value is None:  # absent: Connexion's own check of `required`
            missing: str | None = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
            return missing
        validator = Draft4Validator(param.get("schema", param),
                                    format_checker=Draft4Validator.FORMAT_CHECKER)
        error = best_match(validator.iter_errors(value))
        if error is None:
            return None
        return describe(error, f"The {parameter_type} parameter '{param['name']}'")


VALIDATOR_MAP: dict[str, Any] = {
    "parameter": RequestParameterValidator,
    "body": MediaTypeDict({"*/*json": RequestBodyValidator}),
}
