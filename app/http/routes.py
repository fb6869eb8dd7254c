"""The one index of the routes the OpenAPI specs declare, under every base path they are served at.

Used for a 405's `Allow` header (Starlette's router lists only the methods of the first route
that matched, and Connexion adds one route per method) and to name requests in the metrics and
logs. Built by `create_app` once every API has been added.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from connexion.http_facts import METHODS


class ServedSpec(Protocol):
    """One spec served under one base path (Connexion's `app.middleware.apis` items)."""

    base_path: str
    specification: Any


class SpecRoutes:
    def __init__(self, apis: Iterable[ServedSpec]) -> None:
        patterns: list[tuple[re.Pattern[str], str]] = []
        templates: dict[tuple[str, str], str] = {}
        bases: list[str] = []
        for api in apis:
            bases.append(api.base_path)
            for template, item in api.specification["paths"].items():
                methods = {method.upper() for method in item if method in METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                regex = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(f"{api.base_path}{template}"))
                patterns.append((re.compile(regex), ", ".join(sorted(methods))))
                for method, operation in item.items():
                    if method in METHODS and isinstance(operation, dict) and "operationId" in operation:
                        templates[(api.base_path, operation["operationId"])] = f"{api.base_path}{template}"
        self._patterns = tuple(patterns)  # a concrete path's regex -> "GET, HEAD, ..."
        self._templates = templates  # (base path, operationId) -> "<base><path template>"
        self.bases = tuple(dict.fromkeys(bases))

    def allowed_methods(self, path: str) -> str:
        """The methods the specs declare for a concrete path, or "" for a path they do not have."""
        return next((methods for pattern, methods in self._patterns if pattern.fullmatch(path)), "")

    def template(self, base_path: str, operation_id: str) -> str:
        """The path template of an operation under one base path (its base path if unknown)."""
        return self._templates.get((base_path, operation_id), base_path)
