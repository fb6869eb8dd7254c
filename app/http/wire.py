"""Upstream's lenient JSON input, turned into the one form the spec validates.

The Go server parses bodies with protojson, which also accepts the protobuf field names
(`cluster_spec` for `clusterSpec`), `null` for "not set", enum names or numbers, and integers
written as strings, and drops fields it does not know; and it reads every body as JSON whatever
its Content-Type. `Shape` reads what the spec declares (`properties`, `additionalProperties:
false`, `x-proto-names`, `x-enum-numbers`, integer and number types, `allOf`) and `normalise`
applies it to a body: pure, no I/O. Keys of free-form maps (`rayStartParams`, `annotations`, ...)
are data and never renamed or dropped.

Unknown fields are handled as Kubernetes does, by the `fieldValidation` query parameter of
every operation with a body: `Ignore` drops them, `Warn` (the default) drops them and names each
one in a `Warning` response header (`unknown_field_warnings`), `Strict` refuses the request.

`WireMiddleware` runs all this before Connexion's validation, so the handlers and services only
ever see JSON names, enum numbers and known fields; it adds the warnings to the answer, whatever
its status.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import InvalidInput
from app.http.validators import field_path, unknown_fields_message

_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")

FieldPath = tuple[str | int, ...]  # of a field in a body: keys and list indexes


@dataclass(frozen=True)
class Shape:
    """What normalisation needs to know about one node of a schema, `allOf` merged."""

    fields: Mapping[str, Shape] = field(default_factory=dict)  # declared properties
    aliases: Mapping[str, str] = field(default_factory=dict)  # protobuf name -> JSON name
    values: Shape | None = None  # a free-form map: the shape of each value
    items: Shape | None = None
    enum: Mapping[str, int] = field(default_factory=dict)  # enum name -> number
    scalar: str | None = None  # "integer" or "number": numeric strings are converted
    closed: bool = False  # `additionalProperties: false`: an undeclared field is unknown

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
        closed = False
        for part in parts:
            for name, sub in part.get("properties", {}).items():
                fields.setdefault(name, []).append(sub)
            closed = closed or part.get("additionalProperties") is False
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
            closed=closed,
        )

    def apply(self, value: Any, unknown: list[FieldPath] | None = None) -> Any:
        """A new value with JSON names, numbers, no nulls and no unknown fields; the input is left
        untouched. The path of each unknown field dropped is added to `unknown`."""
        return self._value(value, (), [] if unknown is None else unknown)

    def _value(self, value: Any, path: FieldPath, unknown: list[FieldPath]) -> Any:
        if isinstance(value, dict):
            if self.fields:
                return self._object(value, path, unknown)
            if self.values is not None:
                return {key: self.values._value(item, (*path, key), unknown) for key, item in value.items()}
            return value
        if isinstance(value, list) and self.items is not None:
            return [self.items._value(item, (*path, i), unknown) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._scalar(value)
        if self.scalar == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)  # protojson takes 2.0 for an integer; JSON Schema draft 4 does not
        return value

    def _object(self, value: dict[str, Any], path: FieldPath, unknown: list[FieldPath]) -> dict[str, Any]:
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
                if self.closed:
                    unknown.append((*path, key))  # dropped, whatever its value, as protojson does
                else:
                    result[name] = item
            elif item is not None:  # null means "not set"
                result[name] = shape._value(item, (*path, name), unknown)
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


def normalise(body: Any, schema: Mapping[str, Any], unknown: list[FieldPath] | None = None) -> Any:
    """`body` as the spec names it: protobuf names renamed, nulls dropped, enum names and numeric
    strings turned into numbers, unknown fields dropped (their paths added to `unknown`). Raises
    `InvalidInput` when a field is given under both names."""
    return Shape.of(schema).apply(body, unknown)


# -- fieldValidation: Kubernetes' parameter, values and Warning headers ----------------------
# As kube-apiserver v1.37 answers for a custom resource: k8s.io/apiserver pkg/endpoints/handlers
# (rest.go `fieldValidation`), apiextensions-apiserver pkg/apiserver (customresource_handler.go,
# schema/pruning/algorithm.go `PruneWithOptions`), pkg/endpoints/filters/warning.go and
# apimachinery pkg/util/net/http.go (`NewWarningHeader`).

FIELD_VALIDATION = "fieldValidation"
IGNORE, WARN, STRICT = "Ignore", "Warn", "Strict"
_WARNING_TOTAL = 4 * 1024  # characters of warning text in one answer; past them, texts are cut ...
_WARNING_ITEM = 256  # ... to this many (warning.go: truncateAtTotalRunes, truncateItemRunes)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def field_validation(query_string: bytes) -> str | None:
    """The `fieldValidation` a query asks for: its last value, as Connexion reads a parameter;
    `Warn` when it is absent; None when it is not a valid value (the parameter's validation then
    refuses the request)."""
    values = [value for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
              if name == FIELD_VALIDATION]
    if not values:
        return WARN
    return values[-1] if values[-1] in (IGNORE, WARN, STRICT) else None


def unknown_field_paths(unknown: Iterable[FieldPath]) -> list[str]:
    """The paths as Kubernetes writes and orders them: `spec.workerGroupSpec[0].foo`, sorted."""
    return sorted(field_path(path) for path in unknown)


def refuse_unknown_fields(unknown: Iterable[FieldPath]) -> InvalidInput:
    """`fieldValidation=Strict`'s answer: one 400 naming every unknown field."""
    return InvalidInput(unknown_fields_message(unknown_field_paths(unknown)))


def unknown_field_warnings(unknown: Iterable[FieldPath]) -> list[str]:
    """`fieldValidation=Warn`'s `Warning` header values, one per field:
    `299 - "unknown field \\"spec.foo\\""`."""
    return warning_headers(f'unknown field "{_printable(path)}"' for path in unknown_field_paths(unknown))


def warning_headers(texts: Iterable[str]) -> list[str]:
    """`Warning` header values for `texts`, as warning.go's recorder writes them: code 299, agent
    `-`, the text quoted with `"` and `\\` escaped; each text once; past 4096 characters of text in
    all, every text is cut to 256 characters, and those that no longer fit are left out."""
    headers: list[str] = []
    seen: dict[str, None] = {}  # in order
    written, truncating = 0, False
    for text in texts:
        if not text or text in seen:
            continue
        if truncating and written >= _WARNING_TOTAL:
            break
        seen[text] = None
        if truncating:
            text = text[:_WARNING_ITEM]
        if truncating or written + len(text) <= _WARNING_TOTAL:
            headers.append(_warning_header(text))
            written += len(text)
            continue
        truncating = True  # over the limit: start again, with every text cut
        cut = [earlier[:_WARNING_ITEM] for earlier in seen]
        headers = [_warning_header(earlier) for earlier in cut]
        written = sum(len(earlier) for earlier in cut)
    return headers


def _warning_header(text: str) -> str:
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _printable(text: str) -> str:
    """`text` fit for a header: control characters escaped as Go's `%q` writes them (Kubernetes
    quotes its own types' paths so, and leaves out a warning with a raw one), lone surrogates as
    U+FFFD (as Go's JSON decoder reads them)."""
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if "\ud800" <= char <= "\udfff":
            return "\ufffd"
        return _GO_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x80 else f"\\u{ord(char):04x}")

    return _UNPRINTABLE.sub(escape, text)


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
        if self.shape is None:
            await self.next_app(scope, receive, send)
            return
        unknown: list[FieldPath] = []
        scope, receive = await self._body(scope, receive, self.shape, unknown)
        mode = field_validation(scope.get("query_string", b""))
        if unknown and mode == STRICT:
            raise refuse_unknown_fields(unknown)
        if unknown and mode == WARN:
            await _with_warnings(self.next_app, unknown_field_warnings(unknown))(scope, receive, send)
            return
        await self.next_app(scope, receive, send)  # Ignore; or an invalid mode, which validation refuses

    @staticmethod
    async def _body(scope: Scope, receive: Receive, shape: Shape,
                    unknown: list[FieldPath]) -> tuple[Scope, Receive]:
        """Read the whole body, normalise it if it is a JSON object (adding the paths of the unknown
        fields dropped to `unknown`), and replay it as JSON."""
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
            body = json.dumps(shape.apply(parsed, unknown), separators=(",", ":")).encode()

        scope = {**scope, "headers": list(scope["headers"])}
        headers = MutableHeaders(scope=scope)
        if not headers.get("content-type", "").lower().startswith("application/json"):
            headers["content-type"] = "application/json"  # as grpc-gateway: a body is JSON
        headers["content-length"] = str(len(body))
        return scope, _replay(body, receive)


def _with_warnings(app: ASGIApp, warnings: list[str]) -> ASGIApp:
    """`app`, whose answer carries `warnings` as `Warning` headers whatever its status.

    A failure further in is answered here, by the handlers Connexion's ExceptionMiddleware keeps in
    the scope (those of app/errors.py), so that its answer passes through this `send` too instead
    of being sent by the ExceptionMiddleware around this middleware. Starlette's routes and its
    ExceptionMiddleware do the same with the same helper (`starlette._exception_handler`, private:
    tests/unit/test_app_errors.py notices if it changes).
    """
    headers = [(b"warning", warning.encode()) for warning in warnings]

    async def warned(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_warnings(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        handling = wrap_app_handling_exceptions(app, Request(scope, receive))
        await handling(scope, receive, send_with_warnings)

    return warned


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _WireAPI(RoutedAPI[_WireOperation]):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> _WireOperation:
        schema = operation.body_schema() if operation.request_body else None
        aliases = {param["x-proto-name"]: param["name"] for param in operation.parameters
                   if param.get("in") == "query" and "x-proto-name" in param}
        return _WireOperation(self.next_app, Shape.of(schema) if schema else None, aliases)


class WireMiddleware(RoutedMiddleware[_WireAPI]):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
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
