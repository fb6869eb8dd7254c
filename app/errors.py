"""Every error a client can see: the tree that every layer raises from, and the error body.

Tree (HTTP status / gRPC code in the body):

    ApiError            500 / 2   upstream's uncoded errors: not managed, unexpected reads
    ├── InvalidInput     400 / 3
    │   ├── Unprocessable 422 / 3  the V2 API's refusal of a body it cannot complete (a missing compute template)
    │   └── TooLarge     413 / 3   a request body beyond its API's limit (app/http/bodies.py)
    ├── NotFound         404 / 5
    ├── AlreadyExists    409 / 6
    ├── Conflict         409 / 10  an update that kept meeting concurrent changes (gRPC Aborted)
    ├── FailedPrecondition 409 / 9 the object is not in a state the operation needs (a cluster not ready)
    ├── Unauthenticated  401 / 16  no credentials, or credentials not accepted (app/auth.py)
    ├── Forbidden        403 / 7
    ├── MethodNotAllowed 405 / 12
    ├── TooManyRequests  429 / 8   a client past its rate (app/ratelimit.py): `retry_after` seconds
    ├── Internal         500 / 13
    ├── Unavailable      503 / 14
    └── DeadlineExceeded 504 / 4

Every error body is `{"code": <gRPC code>, "message": "<one sentence>"}` and nothing else: upstream's
Go client decodes it as `google.rpc.Status` and rejects unknown keys. The HTTP edge turns these
errors, and Connexion's and Starlette's own failures, into that body (app/http/problems.py), the
gRPC front into a status (app/rpc/server.py); app/http/validators.py phrases the validation
messages. This module imports nothing, so that every layer can raise from it.
"""
from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """Base of every error a client can see; a bare one is upstream's code 2 (Unknown), HTTP 500.
    A subclass names its HTTP status and gRPC code as class keywords; one it leaves out is its base's."""

    status: ClassVar[int] = 500
    code: ClassVar[int] = 2

    def __init_subclass__(cls, status: int | None = None, code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The tree of the module's docstring, one error a line.
class InvalidInput(ApiError, status=400, code=3): ...
class Unprocessable(InvalidInput, status=422): ...
class TooLarge(InvalidInput, status=413): ...
class NotFound(ApiError, status=404, code=5): ...
class AlreadyExists(ApiError, status=409, code=6): ...
class Conflict(ApiError, status=409, code=10): ...
class FailedPrecondition(ApiError, status=409, code=9): ...
class Unauthenticated(ApiError, status=401, code=16): ...
class Forbidden(ApiError, status=403, code=7): ...
class MethodNotAllowed(ApiError, status=405, code=12): ...
class Internal(ApiError, status=500, code=13): ...
class Unavailable(ApiError, status=503, code=14): ...
class DeadlineExceeded(ApiError, status=504, code=4): ...


class TooManyRequests(ApiError, status=429, code=8):
    """gRPC RESOURCE_EXHAUSTED; the fronts send `retry_after` (whole seconds) as `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def sentence(text: str) -> str:
    """One sentence on one line, ending with a full stop: every message of the API reads alike."""
    text = " ".join(str(text).split())
    return text if text.endswith((".", "?", "!")) else text + "."
