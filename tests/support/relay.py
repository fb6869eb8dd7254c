"""A TCP relay for tests: a slow network in front of the API server, or a way in to a loopback
service for a client that will not dial loopback (the API server's service proxy).

It relays to this machine only (loopback, or this host's own address), accepts only the peers it
is told to, and stops on its own: when its `with` block ends, or after `lifetime` seconds.
"""
from __future__ import annotations

import contextlib
import ipaddress
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Collection

ACCEPT_POLL = 0.2  # seconds between the accept loop's checks that the relay should stop
DEFAULT_LIFETIME = 600.0
TEST_NET = "198.51.100.1"  # TEST-NET-2 (RFC 5737): a UDP connect() to it only picks a route


def host_address() -> str:
    """This host's own non-loopback IPv4 address: the one its default route leaves from, else
    the first global one `ip` lists. Raises if it has none."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((TEST_NET, 9))  # UDP: no packet is sent
            address = str(probe.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    except OSError:
        pass
    listed = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                            text=True, check=False).stdout
    for line in listed.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    raise RuntimeError("this host has no non-loopback IPv4 address (none by its default route, none "
                       f"in `ip -4 addr show scope global`: {listed!r})")


def _on_this_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback or host == host_address()
    except ValueError:
        return host == "localhost"


class Relay:
    """Relays each connection to `host`:`port` to `upstream`, each byte `latency` seconds late
    (each way), for peers in `peers` only (any, if None): a connection from another is closed at
    once and its address noted in `refused`; `accepted` notes the peers relayed."""

    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1", latency: float = 0.0,
                 peers: Collection[str] | None = None, lifetime: float = DEFAULT_LIFETIME) -> None:
        if not _on_this_host(upstream[0]):
            raise ValueError(f"a relay reaches this host only, not {upstream[0]}")
        self._upstream, self._latency = upstream, latency
        self._peers = None if peers is None else frozenset(peers)
        self._stop_at = time.monotonic() + lifetime
        self._stopped = threading.Event()
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(ACCEPT_POLL)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._sockets = [self._listener]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops accepting and ends every relayed connection (its threads end with its sockets)."""
        self._stopped.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it; close() alone may not
            sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            if time.monotonic() > self._stop_at:
                self.close()
                return
            try:
                near, (peer, *_) = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._peers is not None and peer not in self._peers:
                self.refused.append(peer)
                near.close()
                continue
            self.accepted.append(peer)
            near.settimeout(None)
            try:
                far = socket.create_connection(self._upstream)
            except OSError:
                near.close()
                continue
            with self._lock:
                if self._stopped.is_set():
                    near.close()
                    far.close()
                    return
                self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                pending: queue.Queue[tuple[float, bytes]] = queue.Queue()
                threading.Thread(target=self._read, args=(source, pending), daemon=True).start()
                threading.Thread(target=self._write, args=(sink, pending), daemon=True).start()

    def _read(self, source: socket.socket, pending: queue.Queue[tuple[float, bytes]]) -> None:
        data = b"-"
        while data:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            pending.put((time.monotonic() + self._latency, data))

    @staticmethod
    def _write(sink: socket.socket, pending: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            due, data = pending.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
