"""app/http/bodies.py: a body is read within its limit, and reading stops as soon as it is passed."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import TooLarge
from app.http.bodies import read_body

LIMIT = 10


def reading(chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None) -> tuple[Any, list[int]]:
    """read_body over `chunks` (the last one ends the body), and how many of them it asked for."""
    asked: list[int] = []

    async def receive() -> dict[str, Any]:
        asked.append(len(asked))
        if len(asked) > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[len(asked) - 1], "more_body": len(asked) < len(chunks)}

    scope = {"type": "http", "headers": headers or []}
    try:
        result: Any = asyncio.run(read_body(scope, receive, LIMIT))
    except TooLarge as exc:
        result = exc
    return result, asked


@pytest.mark.parametrize("chunks", [[b""], [b"0123456789"], [b"01234", b"", b"56789"]])
def test_a_body_within_the_limit_is_read_whole(chunks: list[bytes]) -> None:
    assert reading(chunks)[0] == b"".join(chunks)


def test_reading_stops_at_the_chunk_that_passes_the_limit() -> None:
    result, asked = reading([b"0123", b"4567", b"89a", b"never", b"asked"])
    assert isinstance(result, TooLarge)
    assert (result.status, result.code) == (413, 3)
    assert len(asked) == 3


def test_a_length_over_the_limit_is_refused_before_any_chunk_is_read() -> None:
    result, asked = reading([b"0"], [(b"content-length", b"11")])
    assert isinstance(result, TooLarge)
    assert asked == []

