"""HTTP authentication: every request but the open ones names its caller (app/auth.py) before
either API sees it, and runs as that caller.

Open: the probes (`/healthz`, `/readyz`), `/metrics` unless it is protected, and the documentation
(the specs and Swagger UI), which hold no data. A request without acceptable credentials gets 401
with `WWW-Authenticate: Bearer`, in the V1 error format, or as a Kubernetes `Status` on V2 paths.
A client past its rate of refused tokens (app/ratelimit.py) gets 429 with `Retry-After`; its
address is the peer's (`scope["client"]`), which the server's own settings decide (gunicorn.conf.py
trusts no `X-Forwarded-For`). The caller's name goes into `scope["extensions"]` for the access log
(`access.CALLER`, app/http/access.py).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app import auth
from app.errors import ApiError, TooManyRequests
from app.http.access import CALLER
from app.http.v2 import early_refusal
from app.ratelimit import client_key


class Authenticate:
    def __init__(self, app: ASGIApp, authenticator: auth.Authenticator, is_open: Callable[[str], bool],
                 v2: bool) -> None:
        self.app = app
        self._authenticator = authenticator
        self._is_open = is_open
        self._v2 = v2

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("authorization")
        peer = scope.get("client")
        client = client_key(peer[0] if peer else None)
        try:
            try:  # what is known already (nearly always), without leaving the event loop
                caller = self._authenticator.authenticate(given, may_ask=False, client=client)
            except auth.MustAsk:  # a call to Kubernetes: in a thread
                caller = await anyio.to_thread.run_sync(partial(self._authenticator.authenticate, given,
                                                                client=client))
        except ApiError as exc:
            response = early_refusal(exc, scope["path"], self._v2)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = auth.CHALLENGE
            if isinstance(exc, TooManyRequests):
                response.headers["Retry-After"] = str(exc.retry_after)
            await response(scope, receive, send)
            return
        if caller is not None:
            scope.setdefault("extensions", {})[CALLER] = caller.name
        with auth.acting_as(caller):
            await self.app(scope, receive, send)


def checked(token: str) -> dict[str, str]:
    """The spec's `bearer` scheme, for Connexion: it declares the credentials so that Swagger UI can
    send them, and they are optional there, as `Authenticate` has checked them before any route."""
    return {}
