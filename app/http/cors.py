"""Browsers: CORS, for a UI served from another origin (the KubeRay dashboard), on when origins are
set; and, always, no writes from pages of other origins.

Starlette's middleware does the CORS work; `Cors` only keeps it off the probes and `/metrics`,
which browsers have no business reading. The methods and headers are upstream's (its CORS options
in apiserver/cmd/main.go@v1.7.0), plus `Authorization`, so that a UI can send a token.
"""
from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import Forbidden
from app.http.v2 import early_refusal
from app.settings import CORS_ALLOW_ORIGIN

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
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


class CrossOriginWrites:
    """A page of any origin can make a browser send some writes without asking first (a POST whose
    body is text/plain or untyped, a CORS "simple request"): CORS then only hides the answer from
    the page, after the write is done. So a write (POST, PUT, PATCH, DELETE) that carries an
    `Origin` other than an allowed one or the server's own (its `Host`) is refused, 403, before it
    reaches either API. Clients other than browsers send no `Origin`, and are not concerned.
    """

    def __init__(self, app: ASGIApp, origins: Collection[str], v2: bool) -> None:
        self.app = app
        self._any = "*" in origins
        self._origins = frozenset(origins)
        self._v2 = v2

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and not self._any:
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and origin not in self._origins and _host(origin) != headers.get("host"):
                message = (f"Forbidden: a write from a page of {origin}, an origin this server does not allow "
                           f"({CORS_ALLOW_ORIGIN}).")
                await early_refusal(Forbidden(message), scope["path"], self._v2)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host(origin: str) -> str | None:
    """`host[:port]` of an origin such as `https://ui.example.com:8443` (None for `null`)."""
    return urlsplit(origin).netloc or None
