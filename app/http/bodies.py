"""Request bodies, read whole within a limit: the one way the HTTP edge reads a body.

Each API has its limit: the V1 API's is a setting (`Settings.body_limit`, 4 MiB by default, gRPC's
own limit for a message), the V2 API's the Kubernetes API server's for an object (3 MiB). A body
beyond it is refused with `TooLarge` (413) as soon as that is known: at once when its
`Content-Length` says so, else when the chunks read pass the limit, so that a refused body is never
held beyond the limit.

What the client still sends after the 413, uvicorn reads and drops (its protocol discards a body
once the answer is complete), and the connection stays open. It is not closed on purpose: uvicorn
closes at once, without the lingering close of Go's server, so a client still sending (as
http.client and requests do, the whole body before they read) would meet a reset instead of the 413.
"""
from __future__ import annotations

from starlette.types import Receive, Scope

from app.errors import TooLarge


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body (what came, if the client went away); `TooLarge` beyond `limit` bytes."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large(limit)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > limit:
            raise too_large(limit)
        body += chunk
        if not message.get("more_body", False):
            break
    return bytes(body)


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"The request body is larger than {limit} bytes ({limit / 1024 / 1024:g} MiB), "
                    "the most this API accepts.")
