"""Pure helpers shared by the translation modules: the API's JSON conventions.

Owns how upstream's gRPC gateway writes a message (zero values omitted, timestamps as RFC 3339
in whole seconds), the Go time string of `ray.io/creation-timestamp`, and Go's JSON encoding.
The API's enums are in `app.translate.enums`.
No I/O, no clock, no logging; imports nothing from the application.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import yaml

Body = TypeVar("Body", bound=Mapping[str, Any])

# A Go zero time.Time as the gateway renders it: what an unset Kubernetes time becomes.
ZERO_TIME = "0001-01-01T00:00:00Z"
FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float32

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Kubernetes object's `metadata`, empty when absent or null (a watch's Status has none)."""
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name): how every store, index and page order names an object."""
    meta = metadata(obj)
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def in_namespace(body: Body, namespace: str) -> Body:
    """A request body without `namespace` takes the path's; a different one is for validation to refuse."""
    return body if body.get("namespace") else cast(Body, {**body, "namespace": namespace})


def yaml_mapping(text: str) -> dict[str, Any]:
    """A YAML (or JSON) object given as a string; empty text, or YAML holding only comments, is none."""
    value = yaml.safe_load(text) if text else None
    return value if isinstance(value, dict) else {}


def omit_zero(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A message as protobuf JSON writes it: without "", 0, False, None, [] and {}.

    Apply it to messages, not to maps: map entries keep their zero values. Sub-messages that
    upstream writes even when empty (`"environment": {}`) are set by the caller afterwards.
    """
    return {key: value for key, value in fields.items() if value}


def positive(value: Any) -> int | float:
    """A number upstream writes only when > 0; anything else is the zero value (then omitted)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def positive_float32(value: Any) -> int | float:
    """`positive`, for a protobuf `float` read from Kubernetes, which keeps any number: one past
    float32's range (written past this server) is not set either, as no gRPC answer can carry it."""
    number = positive(value)
    return number if number <= FLOAT32_MAX else 0


def to_rfc3339(value: str | None) -> str:
    """A Kubernetes time (RFC 3339, any fraction or offset) in the gateway's form: UTC, whole seconds.

    An absent or unreadable time renders as Go's zero time, as upstream's does.
    """
    match = _RFC3339.fullmatch(value.strip()) if value else None
    if match is None:
        return ZERO_TIME
    year, month, day, hour, minute, second, _, sign, off_hours, off_minutes = match.groups()
    offset = f"{sign}{off_hours}:{off_minutes}" if sign else "+00:00"
    try:
        moment = datetime.fromisoformat(f"{year}-{month}-{day}T{hour}:{minute}:{second}{offset}")
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return ZERO_TIME
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"  # strftime's %Y drops leading zeros


def present_rfc3339(value: str | None) -> str:
    """A Kubernetes time in the gateway's form; an absent one is "" (omitted), not Go's zero time."""
    return to_rfc3339(value) if value else ""


def go_time_string(moment: datetime) -> str:
    """`time.Time.String()` of a UTC time: "2025-01-02 03:04:05.123456 +0000 UTC".

    The fraction has its trailing zeros trimmed and disappears when zero; a naive `moment`
    is taken to be UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}" + (f".{fraction}" if fraction else "") + " +0000 UTC"


def go_json(value: Any) -> str:
    """JSON as Go's `json.Marshal` writes it: compact, UTF-8, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text
