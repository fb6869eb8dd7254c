"""The writes a server answered, shared by its workers: a read of any worker shows at least them.

A write's answer carries the resourceVersion the watch will deliver; `WriteMarks` keeps the highest
per collection, so that the next GET or list of the same client shows the write, whichever worker
serves it (app/cache/views.py waits for its watch to pass the mark, or asks Kubernetes).
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from collections.abc import Sequence


class WriteMarks:
    """The highest resourceVersion any worker answered a write of each collection with.

    Workers share it through a small file (`path`, which gunicorn.conf.py makes in /dev/shm); one
    process alone keeps it in memory. Updates and reads hold the file's lock: a write raises a
    mark once, and a read is a few bytes.
    """

    def __init__(self, slots: Sequence[str], path: str = "") -> None:
        self._slots = {name: index for index, name in enumerate(slots)}
        self._lock = threading.Lock()
        size = 8 * max(1, len(slots))
        self._fd: int | None = None
        if path:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
            self._values: mmap.mmap | bytearray = mmap.mmap(self._fd, size)
        else:
            self._values = bytearray(size)

    def get(self, slot: str) -> int:
        with self._locked(fcntl.LOCK_SH):
            return int(struct.unpack_from("<q", self._values, 8 * self._slots[slot])[0])

    def raise_to(self, slot: str, rv: int) -> None:
        with self._locked(fcntl.LOCK_EX):
            offset = 8 * self._slots[slot]
            if struct.unpack_from("<q", self._values, offset)[0] < rv:
                struct.pack_into("<q", self._values, offset, rv)

    def _locked(self, how: int) -> _FileLock:
        return _FileLock(self._lock, self._fd, how)


class _FileLock:
    """The thread lock, then (between processes) the file's."""

    def __init__(self, lock: threading.Lock, fd: int | None, how: int) -> None:
        self._lock, self._fd, self._how = lock, fd, how

    def __enter__(self) -> None:
        self._lock.acquire()
        if self._fd is not None:
            fcntl.flock(self._fd, self._how)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()
