"""CORS, for a UI served from another origin (the KubeRay dashboard): on when origins are set.

Starlette's middleware does the work; this only keeps it off the probes and `/metrics`, which
browsers have no business reading. The methods and headers are upstream's (BEHAVIOR §6.2), plus
`Authorization`, so that a UI can send a token.
"""
from __future__ import annotations

from collections.abc import Collection

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
HEADERS = ("Accept", "Content-Type", "X-Requested-With", "Authorization")


class Cors:
    def __init__(self, app: ASGIApp, origins: Collection[str], skip: Collection[str]) -> None:
        self.app = app
        self._cors = CORSMiddleware(app, allow_origins=list(origins), allow_methods=list(METHODS),
                                    allow_headers=list(HEADERS))
        self._skip = frozenset(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self._skip:
            await self._cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
