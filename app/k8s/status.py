"""The API server's answers read: JSON bodies decoded (orjson), and a refusal turned into the
`app.errors.ApiError` that says what went wrong, with Kubernetes' own message (it names the field).
"""
from __future__ import annotations

import logging
from typing import Any

import orjson

from app.errors import AlreadyExists, ApiError, Conflict, Forbidden, Internal, InvalidInput, NotFound, Unavailable
from app.types import Json

log = logging.getLogger("app.k8s")  # the package's one logger, whichever module logs

# 400 and 422: Kubernetes refused the object (its message names the field); 410: a `continue`
# token that has expired, which is the client's to fix like a malformed one. 401 means our own
# credentials are not accepted: nothing the caller can change, and usually transient (a rotated
# token), so the server is unavailable rather than the caller forbidden.
BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    403: Forbidden,
    404: NotFound,
    409: AlreadyExists,
    410: InvalidInput,
    422: InvalidInput,
    429: Unavailable,
}


def json_value(data: bytes, default: Any) -> Any:
    """The JSON value of a body (an empty body is `{}`), or `default` if it is not JSON."""
    try:
        return orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return default


def json_object(call: str, data: bytes) -> Json:
    """A success's body, which must be a JSON object: anything else is not the API server we expect
    (a proxy's page?)."""
    decoded = json_value(data, None)
    if not isinstance(decoded, dict):
        raise Internal(f"unreadable response from the Kubernetes API in {call}")
    return decoded


def error(call: str, status: int, data: bytes) -> ApiError:
    """The error for a refusal (a status outside 2xx), from its body (a Status object, if JSON)."""
    body = json_value(data, {})
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    message = message or f"HTTP {status}"
    if status == 409 and isinstance(body, dict) and body.get("reason") == "Conflict":
        return Conflict(message)  # a write based on a resourceVersion that is no longer current
    known = BY_STATUS.get(status)
    if known is not None:
        return known(message)
    if status == 401:
        log.error("Kubernetes API rejected our credentials in %s: %s", call, message)
        return Unavailable("Kubernetes API server rejected the server's credentials")
    if status >= 500:
        log.warning("Kubernetes API call %s failed (%s): %s", call, status, message)
        return Unavailable(f"Kubernetes API server unavailable: {message}")
    log.error("Kubernetes API call %s failed with %s: %s", call, status, message)
    return Internal(f"Kubernetes API call failed: {message}")
