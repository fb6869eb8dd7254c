"""What the request checks share: the namespace rule and the one quantity check."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from app.errors import InvalidInput
from app.settings import DEFAULT_MAX_WORKERS
from app.translate.quantity import parse_quantity

NAMESPACE_EMPTY = "Namespace is empty. Please specify a valid value."


@dataclass(frozen=True)
class Limits:
    """Server-wide ceilings on what one request may ask for, from the settings: the rules above
    them are the API's, these are the administrator's."""

    max_workers_per_cluster: int = DEFAULT_MAX_WORKERS  # the sum of maxReplicas over worker groups; 0: none


DEFAULT_LIMITS = Limits()  # the settings' defaults, for callers that have no settings of their own


def check_namespace(body: Mapping[str, Any], namespace: str, where: str) -> None:
    if not namespace:
        raise InvalidInput(NAMESPACE_EMPTY)
    if (body.get("namespace") or namespace) != namespace:
        raise InvalidInput(f"The namespace in the request is different from the namespace {where}.")


def check_request(body: Mapping[str, Any], namespace: str, noun: str, user_refusal: str) -> None:
    """What a cluster, job or service request starts with: its namespace, its name, its user."""
    check_namespace(body, namespace, f"in the {noun} definition")
    if not body.get("name"):
        raise InvalidInput(f"{noun.capitalize()} name is empty. Please specify a valid value.")
    if not body.get("user"):
        raise InvalidInput(user_refusal)


def check_quantity(text: str, refusal: str, *, with_reason: bool = False) -> None:
    """Refuses `text` with `refusal` unless it is a Kubernetes quantity; `with_reason` adds the parser's."""
    try:
        parse_quantity(text)
    except ValueError as exc:
        raise InvalidInput(f"{refusal}: {exc}" if with_reason else refusal) from None


def check_yaml_mapping(holder: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """`holder[key]`, when given, is a YAML (or JSON) object such as 'key: value'; returns it ({}
    when absent or empty), so that a caller with more rules about it need not parse it again."""
    text = holder.get(key, "")
    if not text:
        return {}
    field = f"{where}.{key}" if where else key
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it cannot be parsed"
        raise InvalidInput(f"{field} is not valid YAML: {problem}{at}.") from None
    except RecursionError:  # the parser recurses once per level: hostile nesting must not crash it
        raise InvalidInput(f"{field} is nested too deeply to be read.") from None
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a YAML mapping such as 'key: value'.")
    return value or {}
