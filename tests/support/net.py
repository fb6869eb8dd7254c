"""Loopback ports for tests of what the server does when its peers cannot be reached."""
from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port nothing listens on: bound a moment to choose it, closed again on return."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
