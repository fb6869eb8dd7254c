"""Upstream's lenient JSON input, turned into the one form the spec validates.

The Go server parses bodies with protojson, which also accepts the protobuf field names
(`cluster_spec` for `clusterSpec`), `null` for "not set", enum names or numbers, and integers
written as strings, and drops fields it does not know; and it reads every body as JSON whatever
its Content-Type. `Shape` reads what the spec declares (`properties`, `additionalProperties:
false`, `x-proto-names`, `x-enum-numbers`, integer and number types, `allOf`) and `normalise`
applies it to a body: pure, no I/O. Keys of free-form maps (`rayStartParams`, `annotations`, ...)
are data and never renamed or dropped.

Unknown fields, and fields given more than once in a JSON object (whose last value is kept), are
handled as Kubernetes does, by the `fieldValidation` query parameter of every operation with a
body: `Ignore` keeps silent, `Warn` (the default, also when empty) names each one in a `Warning`
response header (`field_warnings`), `Strict` refuses the request (`strict_refusal`). Bodies are
read within a limit (app/http/bodies.py).

`WireMiddleware` runs all this before Connexion's validation, so the handlers and services only
ever see JSON names, enum numbers and known fields; it adds the warnings to the answer, whatever
its status.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
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
from app.http.bodies import read_body
from app.http.validators import TOO_DEEP, field_path, unknown_fields_message

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
    `Warn` when it is absent or empty (as rest.go reads it); None when it is not a valid value (the
    parameter's validation then refuses the request)."""
    values = [value for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
              if name == FIELD_VALIDATION]
    if not values or not values[-1]:
        return WARN
    return values[-1] if values[-1] in (IGNORE, WARN, STRICT) else None


class _Repeated(dict[str, Any]):
    """A JSON object some of whose keys came more than once: those keys, in its order."""

    repeated: frozenset[str] = frozenset()


def parse_json(body: bytes) -> tuple[Any, list[FieldPath]]:
    """The JSON value of `body`, each object keeping a repeated key's last value (as Go's decoder
    does), and the paths of the fields given more than once, in the body's order; ValueError for
    text that is not JSON. A body without repeated keys costs no walk of its value."""
    seen_repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen_repeated
        value = dict(items)
        if len(value) == len(items):
            return value
        seen_repeated = True
        marked = _Repeated(value)
        marked.repeated = frozenset(key for key, count in Counter(key for key, _ in items).items() if count > 1)
        return marked

    parsed = json.loads(body, object_pairs_hook=pairs)
    return parsed, (_repeated_fields(parsed, ()) if seen_repeated else [])


def _repeated_fields(value: Any, path: FieldPath) -> list[FieldPath]:
    found: list[FieldPath] = []
    if isinstance(value, dict):
        repeated = value.repeated if isinstance(value, _Repeated) else frozenset()
        for key, item in value.items():
            if key in repeated:
                found.append((*path, key))
            found.extend(_repeated_fields(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_repeated_fields(item, (*path, index)))
    return found


def unknown_field_paths(unknown: Iterable[FieldPath]) -> list[str]:
    """The paths as Kubernetes writes and orders them: `spec.workerGroupSpec[0].foo`, sorted."""
    return sorted(field_path(path) for path in unknown)


def strict_refusal(unknown: Iterable[FieldPath], duplicates: Iterable[FieldPath] = ()) -> InvalidInput:
    """`fieldValidation=Strict`'s answer: one 400 naming every field given more than once, then
    every unknown field (kube-apiserver's "strict decoding error" names them in that order)."""
    repeated = [f"'{field_path(path)}'" for path in duplicates]
    unknown_message = unknown_fields_message(unknown_field_paths(unknown)) if unknown else ""
    if not repeated:
        return InvalidInput(unknown_message)
    many = len(repeated) > 1
    message = f"Field{'s' if many else ''} {', '.join(repeated)} {'are' if many else 'is'} given more than once"
    if unknown_message:
        return InvalidInput(f"{message}; {unknown_message[0].lower()}{unknown_message[1:]}")
    return InvalidInput(f"{message}: only the last value would be kept.")


def field_warnings(unknown: Iterable[FieldPath], duplicates: Iterable[FieldPath] = ()) -> list[str]:
    """`fieldValidation=Warn`'s `Warning` header values, one per field given more than once, in
    the body's order, then one per unknown field: `299 - "duplicate field \\"spec.foo\\""`,
    `299 - "unknown field \\"spec.bar\\""`, as kube-apiserver answers for a custom resource."""
    return warning_headers([*(f'duplicate field "{_printable(field_path(path))}"' for path in duplicates),
                            *(f'unknown field "{_printable(path)}"' for path in unknown_field_paths(unknown))])


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
    def __init__(self, next_app: ASGIApp, shape: Shape | None, query_aliases: Mapping[str, str],
                 body_limit: int) -> None:
        self.next_app = next_app
        self.shape = shape
        self.query_aliases = query_aliases
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.query_aliases and scope.get("query_string"):
            scope = {**scope, "query_string": rename_query(scope["query_string"], self.query_aliases)}
        if self.shape is None:
            await self.next_app(scope, receive, send)
            return
        unknown: list[FieldPath] = []
        duplicates: list[FieldPath] = []
        scope, receive = await self._body(scope, receive, self.shape, unknown, duplicates)
        mode = field_validation(scope.get("query_string", b""))
        if (unknown or duplicates) and mode == STRICT:
            raise strict_refusal(unknown, duplicates)
        if (unknown or duplicates) and mode == WARN:
            await _with_warnings(self.next_app, field_warnings(unknown, duplicates))(scope, receive, send)
            return
        await self.next_app(scope, receive, send)  # Ignore; or an invalid mode, which validation refuses

    async def _body(self, scope: Scope, receive: Receive, shape: Shape, unknown: list[FieldPath],
                    duplicates: list[FieldPath]) -> tuple[Scope, Receive]:
        """Read the whole body (`TooLarge` beyond the limit), normalise it if it is a JSON object
        (adding the paths of the unknown fields dropped to `unknown`, of those given more than once
        to `duplicates`), and replay it as JSON."""
        body = await read_body(scope, receive, self.body_limit)
        try:
            parsed, repeated = parse_json(body) if body.strip() else (None, [])
            if isinstance(parsed, dict):
                body = json.dumps(shape.apply(parsed, unknown), separators=(",", ":")).encode()
                duplicates.extend(repeated)
        except RecursionError:  # the reading of each level nests one call deeper
            raise InvalidInput(TOO_DEEP) from None
        except ValueError:
            pass  # the validator answers malformed JSON

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
    def __init__(self, *args: Any, body_limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_limit = body_limit
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> _WireOperation:
        schema = operation.body_schema() if operation.request_body else None
        aliases = {param["x-proto-name"]: param["name"] for param in operation.parameters
                   if param.get("in") == "query" and "x-proto-name" in param}
        return _WireOperation(self.next_app, Shape.of(schema) if schema else None, aliases, self.body_limit)


class WireMiddleware(RoutedMiddleware[_WireAPI]):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    """Add with `position=MiddlewarePosition.BEFORE_VALIDATION`: it needs the routed operation.
    `body_limit`: the bytes of a body it reads, at most (app/http/bodies.py)."""

    api_cls = _WireAPI

    def __init__(self, app: ASGIApp, body_limit: int) -> None:
        super().__init__(app)
        self.body_limit = body_limit

    def add_api(self, specification: Any, **kwargs: Any) -> _WireAPI:
        api: _WireAPI = super().add_api(specification, body_limit=self.body_limit, **kwargs)
        return api


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
