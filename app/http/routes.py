"""The one index of the routes the OpenAPI specs declare, under every base path they are served at.

Used for a 405's `Allow` header (Starlette's router lists only the methods of the first route
that matched, and Connexion adds one route per method), to name requests in the metrics and
logs, also those refused before routing, and by `EmptySegments`. Built by `create_app` once every
API has been added.

A path parameter matches an empty segment here (`…/clusters/` is `get_cluster` with an empty
name), as upstream's grpc-gateway routes it; Starlette's routes never do.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connexion.http_facts import METHODS
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import InvalidInput
from app.http.validators import empty_parameter_problem

_PARAMETER = re.compile(r"\\{[^/]+?\\}")  # a `{name}` of a path template, once escaped


class ServedSpec(Protocol):
    """One spec served under one base path (Connexion's `app.middleware.apis` items)."""

    base_path: str
    specification: Any


@dataclass(frozen=True)
class Operation:
    """One operation of a concrete path: its id, its path template, the path's parameter values."""

    operation_id: str
    template: str  # "<base><path template>"
    values: Mapping[str, str]  # path parameter -> its segment, "" when empty
    empty: Mapping[str, str]  # the operation's `x-empty`: parameter -> refusal of an empty value

    def empty_problem(self) -> str | None:
        """Upstream's refusal of the first empty path parameter, or None when none is empty."""
        return empty_parameter_problem(self.values, self.empty)


@dataclass(frozen=True)
class _Route:
    base: str
    template: str
    pattern: re.Pattern[str]  # each parameter a group that may be empty
    parameters: tuple[str, ...]  # the groups' names, in order
    operations: Mapping[str, tuple[str, Mapping[str, str]]]  # METHOD -> (operationId, x-empty)
    allowed: str  # "GET, HEAD, ..."


class SpecRoutes:
    def __init__(self, apis: Iterable[ServedSpec]) -> None:
        routes: list[_Route] = []
        templates: dict[tuple[str, str], str] = {}
        bases: list[str] = []
        for api in apis:
            bases.append(api.base_path)
            for path, item in api.specification["paths"].items():
                template = f"{api.base_path}{path}"
                operations = {method.upper(): (operation["operationId"], operation.get("x-empty", {}))
                              for method, operation in item.items()
                              if method in METHODS and isinstance(operation, dict) and "operationId" in operation}
                for operation_id, _ in operations.values():
                    templates[(api.base_path, operation_id)] = template
                methods = {method.upper() for method in item if method in METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                if "GET" in operations:
                    operations["HEAD"] = operations["GET"]
                routes.append(_Route(
                    base=api.base_path, template=template,
                    pattern=re.compile(_PARAMETER.sub("([^/]*)", re.escape(template))),
                    parameters=tuple(re.findall(r"{([^/]+?)}", path)),
                    operations=operations, allowed=", ".join(sorted(methods))))
        self._routes = tuple(routes)
        self._templates = templates  # (base path, operationId) -> "<base><path template>"
        self.bases = tuple(dict.fromkeys(bases))

    def allowed_methods(self, path: str) -> str:
        """The methods the specs declare for a concrete path, or "" for a path they do not have."""
        return next((route.allowed for route in self._routes if route.pattern.fullmatch(path)), "")

    def template(self, base_path: str, operation_id: str) -> str:
        """The path template of an operation under one base path (its base path if unknown)."""
        return self._templates.get((base_path, operation_id), base_path)

    def operation(self, path: str, method: str) -> Operation | None:
        """The operation the specs serve for `method` at a concrete path, its parameters possibly
        empty; None when the path has no route, or its route not this method."""
        for route in self._routes:
            matched = route.pattern.fullmatch(path)
            if matched is None or method not in route.operations:
                continue
            operation_id, empty = route.operations[method]
            return Operation(operation_id, route.template, dict(zip(route.parameters, matched.groups(), strict=True)),
                             empty)
        return None

    def base_of(self, path: str) -> str | None:
        """The base path a path is under, if any."""
        return next((base for base in self.bases if path == base or path.startswith(f"{base}/")), None)


class EmptySegments:
    """Answers every path under an API's base path that has an empty segment, before routing.

    Such a path is either an operation's with an empty parameter (`GET …/clusters/`), refused
    with 400 and upstream's text for that parameter (its grpc-gateway hands an empty name to the
    handler, which refuses it), or a path no route has: 405 or 404 here, since Starlette's router
    would redirect `…/clusters/` to `…/clusters` (307, to an absolute URL built from the backend's
    own host) and Flask's would merge `//`. The documentation's directories (`docs`, e.g. the
    Swagger UI's) are left to their own handlers. Add with `position=MiddlewarePosition.BEFORE_SWAGGER`.
    """

    def __init__(self, app: ASGIApp, routes: SpecRoutes, docs: Collection[str] = ()) -> None:
        self.app = app
        self._routes = routes
        self._docs = tuple(docs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._check(scope["path"], scope["method"])
        await self.app(scope, receive, send)

    def _check(self, path: str, method: str) -> None:
        base = self._routes.base_of(path)
        if base is None:
            return
        rest = path[len(base):]
        if not (rest.endswith("/") or "//" in rest) or any(rest.startswith(f"{doc}/") for doc in self._docs):
            return
        operation = self._routes.operation(path, method)
        problem = operation.empty_problem() if operation else None
        if problem is not None:
            raise InvalidInput(problem)
        raise HTTPException(405 if self._routes.allowed_methods(path) else 404)
