"""The one index of the routes the OpenAPI specs declare, under every base path they are served at.

Built on first use from the Connexion app's APIs (every API has been added by then). Used for
a 405's `Allow` header (Starlette's router lists only the methods of the first route that
matched, and Connexion adds one route per method) and to name requests in the metrics and logs.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connexion.http_facts import METHODS

if TYPE_CHECKING:
    import connexion


@dataclass(frozen=True)
class _Index:
    patterns: tuple[tuple[re.Pattern[str], str], ...]  # a concrete path's regex -> "GET, HEAD, ..."
    templates: dict[tuple[str, str], str]  # (base path, operationId) -> "<base><path template>"
    bases: tuple[str, ...]


class SpecRoutes:
    def __init__(self, app: connexion.FlaskApp) -> None:
        self._app = app
        self._index: _Index | None = None
        self._lock = threading.Lock()

    def allowed_methods(self, path: str) -> str:
        """The methods the specs declare for a concrete path, or "" for a path they do not have."""
        return next((methods for pattern, methods in self._get().patterns if pattern.fullmatch(path)), "")

    def template(self, base_path: str, operation_id: str) -> str:
        """The path template of an operation under one base path (its base path if unknown)."""
        return self._get().templates.get((base_path, operation_id), base_path)

    @property
    def bases(self) -> tuple[str, ...]:
        return self._get().bases

    def _get(self) -> _Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build()
        return self._index

    def _build(self) -> _Index:
        patterns: list[tuple[re.Pattern[str], str]] = []
        templates: dict[tuple[str, str], str] = {}
        for api in self._app.middleware.apis:
            for template, item in api.specification["paths"].items():
                methods = {method.upper() for method in item if method in METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                regex = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(f"{api.base_path}{template}"))
                patterns.append((re.compile(regex), ", ".join(sorted(methods))))
                for method, operation in item.items():
                    if method in METHODS and isinstance(operation, dict) and "operationId" in operation:
                        templates[(api.base_path, operation["operationId"])] = f"{api.base_path}{template}"
        bases = tuple(dict.fromkeys(api.base_path for api in self._app.middleware.apis))
        return _Index(tuple(patterns), templates, bases)
