"""The step from Connexion's ASGI middleware to Flask, answering in one hand-over.

Connexion runs Flask with a2wsgi's `WSGIMiddleware`: Flask runs in a thread of its pool, and each
piece of an answer (its start, each chunk, its end) is handed to the event loop, the thread
waiting until the loop has taken it. That is three round trips between the threads per request,
each waking the loop, and on a create they cost more of the worker's CPU than the handler's own
translation. No Flask view of this server streams (the V2 API's watches are forwarded by an ASGI
middleware, app/http/v2.py), so here the thread collects the whole answer and the loop sends it
once. The request body is read as before, by a2wsgi's `Body`, when Flask asks for it.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable

from a2wsgi.asgi_typing import Receive, Scope, Send
from a2wsgi.wsgi import Body, WSGIMiddleware, build_environ
from a2wsgi.wsgi_typing import Environ, ExceptionInfo

Headers = list[tuple[bytes, bytes]]


class OneStepWSGI(WSGIMiddleware):
    """a2wsgi's bridge (its thread pool, its environ and body), with the answer sent in one step."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: a2wsgi's own answers
            await super().__call__(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        environ = build_environ(scope, Body(loop, receive))
        context = contextvars.copy_context()  # the request id and deadline scope reach the thread
        answer = functools.partial(context.run, self._answer, environ)
        status, headers, body = await loop.run_in_executor(self.executor, answer)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, environ: Environ) -> tuple[int, Headers, bytes]:
        """Run the WSGI app to the end: its status, headers and whole body."""
        started: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: ExceptionInfo | None = None) -> Callable[[bytes], None]:
            if exc_info is not None and started and chunks:  # PEP 3333: too late to change the answer
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return chunks.append

        iterable: Iterable[bytes] = self.app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app answered without starting its response")
        status, headers = started[0]
        encoded = [(name.strip().encode("latin-1").lower(), value.strip().encode("latin-1")) for name, value in headers]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)
