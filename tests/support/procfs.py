"""The machine's processes as /proc shows them: enough to find every process of a group of our
own (by session, process group, ancestry or a mark in its environment) and to signal only those."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Stat = tuple[int, int, int, int]  # (ppid, process group, session, start time)


def stat(pid: int) -> Stat | None:
    """(ppid, process group, session, start time) of a live process, None for a gone one."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has no process left to signal
        return None
    return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])


def all_stats() -> dict[int, Stat]:
    """Every live process of the machine, pid -> its stat."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := stat(int(entry))) is not None:
            stats[int(entry)] = found
    return stats


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def environ_has(pid: int, entry: bytes) -> bool:
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pids_alive(pids: Iterable[int]) -> list[int]:
    """Which of these pids are live (non-zombie) processes."""
    return [pid for pid in pids if stat(pid) is not None]
