"""Answers still being read when the gateway hands them over: a watch's events, and a forwarded
answer's bytes. Either may be closed from another thread, to end a read blocked on a quiet stream.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import orjson
import urllib3

from app.errors import Unavailable
from app.transport import transport_cause
from app.types import Json

CHUNK = 64 * 1024


class _Open:
    """An answer whose body is still being read; `close()` may be called from another thread."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = False
        self._read = False  # to its end: the connection may then serve another call
        self._lock = threading.Lock()

    def close(self) -> None:
        """Idempotent. A connection left mid-body is closed, never pooled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._read:
            # shutdown (urllib3 >= 2.3) wakes a read blocked in another thread; closing alone may not
            with contextlib.suppress(AttributeError, OSError, ValueError, RuntimeError):
                self._response.shutdown()
            with contextlib.suppress(OSError):
                self._response.close()
        self._response.release_conn()


class Watch(_Open):
    """One open watch: `events()` yields each decoded event as it arrives."""

    def events(self) -> Iterator[Json]:
        """Ends when the server ends the watch; a broken stream raises `Unavailable`."""
        buffered = b""
        try:
            for chunk in self._response.stream(CHUNK, decode_content=True):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"the watch broke: {transport_cause(exc)}") from exc


class Refused(Watch):
    """A watch the server refused at its start: its one event is the refusal, as the stream would say it."""

    def __init__(self, status: Json) -> None:  # (no answer to read: nothing of `_Open` is used)
        self._status = status

    def events(self) -> Iterator[Json]:
        yield {"type": "ERROR", "object": self._status}

    def close(self) -> None:
        pass


class Forwarded(_Open):
    """The Kubernetes API's own answer to a forwarded request (the V2 API): its status, its headers
    and its body as sent (still compressed, if it was), read as it arrives."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(response)
        self.status: int = response.status
        self.headers: list[tuple[str, str]] = list(response.headers.items())

    def chunks(self) -> Iterator[bytes]:
        """A watch's events as the server flushes them; a broken stream raises `Unavailable`."""
        try:
            yield from self._response.stream(CHUNK, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"the Kubernetes API's answer broke off: {transport_cause(exc)}") from exc
        self._read = True
