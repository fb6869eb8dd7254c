"""List answers and their page tokens.

Kubernetes pages a list by its own opaque token; a list answered from a watch cache pages in
the order of (namespace, name), by a token of this module's (`cache_token`). Either kind of
token is honoured by either path, so that paging survives the cache's coming and going.
"""
from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable
from typing import TypeVar

import orjson

from app.types import Json

Key = tuple[str, str]  # (namespace, name)
T = TypeVar("T")

# The mark of a page token of a list answered in name order (`cache_token`): public, no secret.
CACHE_TOKEN = "kuberay-api/v1"  # noqa: S105


def page_of(items: list[T], key: Callable[[T], Key], after: Key | None, limit: int) -> tuple[list[T], Key | None]:
    """The page of `items` (sorted by `key`) that follows the key `after`, at most `limit` long
    (0: all), and the key to continue after, if more follow."""
    start = 0 if after is None else bisect.bisect_right(items, after, key=key)
    if not limit or start + limit >= len(items):
        return items[start:], None
    chosen = items[start:start + limit]
    return chosen, key(chosen[-1])


def cache_token(after: Key | None) -> str:
    """A page token saying where the next page starts: after this (namespace, name). URL-safe
    base64 of JSON, as Kubernetes' tokens, which are objects where this is an array."""
    if after is None:
        return ""
    return base64.urlsafe_b64encode(orjson.dumps([CACHE_TOKEN, *after])).decode().rstrip("=")


def cache_token_key(token: str) -> Key | None:
    """The key a token of `cache_token`'s continues after; None for any other token (Kubernetes')."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    if isinstance(value, list) and len(value) == 3 and value[0] == CACHE_TOKEN \
            and all(isinstance(part, str) for part in value):
        return value[1], value[2]
    return None


def page(items_key: str, items: list[Json], token_key: str = "", token: str = "") -> Json:
    """A list answer without zero values, as upstream's JSON gateway writes it."""
    response: Json = {}
    if items:
        response[items_key] = items
    if token_key and token:
        response[token_key] = token
    return response
