"""The one-step bridge to Flask (app/http/bridge.py): the answer as the WSGI app gave it, sent at once."""
from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Iterator
from typing import Any

import connexion
import pytest
from a2wsgi import WSGIMiddleware

from app.http.bridge import OneStepWSGI

Message = dict[str, Any]
SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")


def _scope(method: str = "POST", path: str = "/apis/v1/x") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"a=1",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"7")],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8888)}


def _call(app: Callable[..., Any], scope: dict[str, Any] | None = None, body: bytes = b'{"a":1}') -> list[Message]:
    sent: list[Message] = []
    parts = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        SEEN.set("request-7")
        await OneStepWSGI(app)(scope or _scope(), receive, send)  # type: ignore[arg-type]  # plain dicts as messages

    asyncio.run(run())
    return sent


def test_the_whole_answer_goes_in_one_body_message() -> None:
    read: list[bytes] = []
    closed: list[bool] = []

    class Chunks:
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"name":'
            yield b'"c"}'

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Chunks:
        read.append(environ["wsgi.input"].read())
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Seen", SEEN.get())])
        return Chunks()

    sent = _call(app)
    assert sent == [
        {"type": "http.response.start", "status": 201,
         "headers": [(b"content-type", b"application/json"), (b"x-seen", b"request-7")]},
        {"type": "http.response.body", "body": b'{"name":"c"}'},
    ]
    assert read == [b'{"a":1}']  # the request body, read when the app asked for it
    assert closed == [True]


def test_what_the_app_writes_comes_before_what_it_returns() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"first,")
        return [b"then"]

    assert _call(app)[-1]["body"] == b"first,then"


def test_an_error_in_the_app_reaches_the_middleware_around_it() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise LookupError("from the handler")

    with pytest.raises(LookupError, match="from the handler"):
        _call(app)


def test_an_error_answer_may_replace_a_started_one_until_a_byte_is_written() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"oops"]

    assert _call(app)[0]["status"] == 500


def test_an_error_after_bytes_were_written_is_raised() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])(b"partial")
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return []

    with pytest.raises(ValueError, match="too late"):
        _call(app)


def test_an_app_that_never_starts_its_answer_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without starting"):
        _call(lambda environ, start_response: [b"body"])


def test_the_bridge_replaced_is_the_one_connexion_serves_flask_through() -> None:
    """create_app swaps Connexion's private `_middleware_app.asgi_app`: if a Connexion release moves
    its bridge, the swap would silently do nothing, and this fails instead."""
    app = connexion.FlaskApp(__name__)
    served = app._middleware_app.asgi_app
    assert type(served) is WSGIMiddleware
    assert served.app == app.app.wsgi_app
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    app._middleware_app.asgi_app = OneStepWSGI(lambda environ, start_response: (start_response("200 OK", []), [b"x"])[1])
    asyncio.run(app._middleware_app(_scope("GET"), receive, send))
    assert sent == [{"type": "http.response.start", "status": 200, "headers": []},
                    {"type": "http.response.body", "body": b"x"}]  # a2wsgi's own: a third, the end
