"""Upstream's lenient JSON input, turned into the one form the spec validates.

The Go server parses bodies with protojson, which also accepts the protobuf field names
(`cluster_spec` for `clusterSpec`), `null` for "not set", enum names or numbers, and integers
written as strings; and it reads every body as JSON whatever its Content-Type. `Shape` reads
what the spec declares (`properties`, `x-proto-names`, `x-enum-numbers`, integer and number
types, `allOf`) and `normalise` applies it to a body: pure, no I/O. `WireMiddleware` runs it
before Connexion's validation, so the handlers and services only ever see JSON names and enum
numbers. Keys of free-form maps (`rayStartParams`, `annotations`, ...) are data and never renamed.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import InvalidInput
from app.http.validators import field_path

_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Shape:
    """What normalisation needs to know about one node of a schema, `allOf` merged."""

    fields: Mapping[str, Shape] = field(default_factory=dict)  # declared properties
    aliases: Mapping[str, str] = field(default_factory=dict)  # protobuf name -> JSON name
    values: Shape | None = None  # a free-form map: the shape of each value
    items: Shape | None = None
    enum: Mapping[str, int] = field(default_factory=dict)  # enum name -> number
    scalar: str | None = None  # "integer" or "number": numeric strings are converted

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> Shape:
        """Compile a resolved schema (no `$ref`) once, so a request costs one walk of its body."""
        parts = list(_parts(schema))
        fields: dict[str, list[Mapping[str, Any]]] = {}
        aliases: dict[str, str] = {}
        values: list[Mapping[str, Any]] = []
        items: list[Mapping[str, Any]] = []
        enum: dict[str, int] = {}
        scalar = None
        for part in parts:
            for name, sub in part.get("properties", {}).items():
                fields.setdefault(name, []).append(sub)
            aliases.update(part.get("x-proto-names", {}))
            if isinstance(part.get("additionalProperties"), Mapping) and part["additionalProperties"]:
                values.append(part["additionalProperties"])
            if "items" in part:
                items.append(part["items"])
            enum.update(part.get("x-enum-numbers", {}))
            if part.get("type") in ("integer", "number"):
                scalar = part["type"]
        return cls(
            fields={name: cls.of({"allOf": subs}) for name, subs in fields.items()},
            aliases=aliases,
            values=cls.of({"allOf": values}) if values else None,
            items=cls.of({"allOf": items}) if items else None,
            enum=enum,
            scalar=scalar,
        )

    def apply(self, value: Any, path: tuple[str | int, ...] = ()) -> Any:
        """A new value with JSON names, numbers and no nulls; the input is left untouched."""
        if isinstance(value, dict):
            if self.fields:
                return self._object(value, path)
            if self.values is not None:
                return {key: self.values.apply(item, (*path, key)) for key, item in value.items()}
            return value
        if isinstance(value, list) and self.items is not None:
            return [self.items.apply(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._scalar(value)
        if self.scalar == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)  # protojson takes 2.0 for an integer; JSON Schema draft 4 does not
        return value

    def _object(self, value: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = key
            if key not in self.fields and key in self.aliases:
                name = self.aliases[key]
                if name in value:  # protojson refuses a field given twice, under either name
                    raise InvalidInput(
                        f"Field '{field_path((*path, name))}' is given twice, as '{name}' and as '{key}'."
                    )
            shape = self.fields.get(name)
            if shape is None:
                result[name] = item  # undeclared: validation names it
            elif item is not None:  # null means "not set"
                result[name] = shape.apply(item, (*path, name))
        return result

    def _scalar(self, value: str) -> Any:
        if value in self.enum:
            return self.enum[value]
        if self.scalar == "integer" and _INTEGER.fullmatch(value):
            return int(value)
        if self.scalar == "number" and _NUMBER.fullmatch(value) and math.isfinite(float(value)):
            return float(value)
        return value


def _parts(schema: Mapping[str, Any]) -> Any:
    """The schema and, depth first, every schema it `allOf`-includes."""
    yield schema
    for part in schema.get("allOf", ()):
        yield from _parts(part)


def normalise(body: Any, schema: Mapping[str, Any]) -> Any:
    """`body` as the spec names it: protobuf names renamed, nulls dropped, enum names and numeric
    strings turned into numbers. Raises `InvalidInput` when a field is given under both names."""
    return Shape.of(schema).apply(body)


def rename_query(query_string: bytes, aliases: Mapping[str, str]) -> bytes:
    """Query parameters by their JSON names (`page_size` -> `pageSize`), unless both are given."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    given = {name for name, _ in pairs}
    if not any(name in aliases and aliases[name] not in given for name in given):
        return query_string
    renamed = [(aliases[name] if name in aliases and aliases[name] not in given else name, value)
               for name, value in pairs]
    return urlencode(renamed).encode("latin-1")


# -- the middleware around it -------------------------------------------------------------


class _WireOperation:
    def __init__(self, next_app: ASGIApp, shape: Shape | None, query_aliases: Mapping[str, str]) -> None:
        self.next_app = next_app
        self.shape = shape
        self.query_aliases = query_aliases

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.query_aliases and scope.get("query_string"):
            scope = {**scope, "query_string": rename_query(scope["query_string"], self.query_aliases)}
        if self.shape is not None:
            scope, receive = await self._body(scope, receive, self.shape)
        await self.next_app(scope, receive, send)

    @staticmethod
    async def _body(scope: Scope, receive: Receive, shape: Shape) -> tuple[Scope, Receive]:
        """Read the whole body, normalise it if it is a JSON object, and replay it as JSON."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None  # the validator answers malformed JSON
        if isinstance(parsed, dict):
            body = json.dumps(shape.apply(parsed), separators=(",", ":")).encode()

        scope = {**scope, "headers": list(scope["headers"])}
        headers = MutableHeaders(scope=scope)
        if not headers.get("content-type", "").lower().startswith("application/json"):
            headers["content-type"] = "application/json"  # as grpc-gateway: a body is JSON
        headers["content-length"] = str(len(body))
        return scope, _replay(body, receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _WireAPI(RoutedAPI[_WireOperation]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> _WireOperation:
        schema = operation.body_schema() if operation.request_body else None
        aliases = {param["x-proto-name"]: param["name"] for param in operation.parameters
                   if param.get("in") == "query" and "x-proto-name" in param}
        return _WireOperation(self.next_app, Shape.of(schema) if schema else None, aliases)


class WireMiddleware(RoutedMiddleware[_WireAPI]):
    """Add with `position=MiddlewarePosition.BEFORE_VALIDATION`: it needs the routed operation."""

    api_cls = _WireAPI


class LineFeedGuard:
    """Refuse a path with a line feed (`%0A`) in it before routing: 400, as for any invalid name.

    Starlette mounts each API at `<prefix>/{path:path}`, whose `.*` stops at a line feed, so
    Connexion's router would pass such a request on unrouted while Flask's URL map (`[^/]+`) still
    matched the operation, whose handler then failed outside Connexion's operation context (500).
    Add with `position=MiddlewarePosition.BEFORE_ROUTING`. Other control characters are routed,
    and the spec's name patterns refuse them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\n" in scope["path"]:
            raise InvalidInput("The request path contains a line feed (%0A), which no API path or name can.")
        await self.app(scope, receive, send)
