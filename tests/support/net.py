"""Loopback ports and peers for tests of what the server does when its peers cannot be reached or
do not answer."""
from __future__ import annotations

import socket
import struct
import threading


def closed_port() -> int:
    """A loopback port nothing listens on: bound a moment to choose it, closed again on return."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TakesRequests:
    """A loopback HTTP peer that accepts each connection and reads the request whole, then never
    answers (`then="hang"`) or resets the connection (`then="reset"`): a dashboard that took a
    request and hung or died before answering. `requests` holds what arrived. Use as a context."""

    def __init__(self, then: str) -> None:
        if then not in ("hang", "reset"):
            raise ValueError(then)
        self._then = then
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TakesRequests:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._listener.close()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            self.requests.append(_read_request(conn))
            if self._then == "reset":  # SO_LINGER 0: close sends a reset, not a polite end
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)


def _read_request(conn: socket.socket) -> bytes:
    """The head and the body (by Content-Length) of one HTTP request."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
