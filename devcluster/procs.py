"""The processes of one instance: started in sessions of their own, logged to files, recorded in a
pids file, so that a later run (after a crash, say) can find and stop them by that file alone; and
the one-line progress messages every part of devcluster prints.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import ComponentError

START_TIMEOUT = 90.0


def say(message: str) -> None:
    print(f"devcluster: {message}", file=sys.stderr, flush=True)


def http_ok(url: str) -> bool:
    """A component's plain-HTTP health or readiness endpoint answers 200."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bool(resp.status == 200)
PORTS_BELOW_EPHEMERAL = 10000  # how many ports under the ephemeral range free_port chooses from


def free_port() -> int:
    """A loopback port that nothing is bound to, taken below the kernel's ephemeral range.

    A port from that range (what binding port 0 gives) is free for the kernel to hand to any
    outgoing connection of the machine as its local port, between this check and the moment the
    component binds it; the component then fails to start. Below the range only an explicit bind
    can take it.
    """
    low = _ephemeral_low()
    if low - PORTS_BELOW_EPHEMERAL < 1024:  # an unusual range: fall back on the kernel's choice
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(low - PORTS_BELOW_EPHEMERAL, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free loopback port in {low - PORTS_BELOW_EPHEMERAL}-{low - 1}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


class Supervisor:
    """Starts named components and records their pids in `pids_file`, in start order."""

    def __init__(self, pids_file: Path, logs: Path) -> None:
        self.pids_file = pids_file
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env={**os.environ, **(env or {})})
        self.procs[name] = proc
        self._record()

    def start(self, name: str, argv: list[str], ready: Callable[[], bool], what: str, *,
              restart_if: str = "", restarts: int = 0) -> None:
        """`spawn`, then `wait`; a component that exits during start-up with `restart_if` in its last
        log line is started again, up to `restarts` times (as a kubelet restarts a static pod whose
        program fails its start-up for a reason a second start does not meet)."""
        for attempt in range(1 + restarts):
            self.spawn(name, argv)
            try:
                self.wait(name, ready, what)
                return
            except ComponentError as exc:
                if attempt == restarts or not restart_if or restart_if not in exc.reason:
                    raise
                say(f"{name}: {exc.reason}; started again")

    def wait(self, name: str, ready: Callable[[], bool], what: str,
             timeout: float = START_TIMEOUT) -> None:
        """Poll until ready; a component that dies or hangs fails with its log path."""
        deadline = time.monotonic() + timeout
        log = self.logs / f"{name}.log"
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                tail = last_line(log)
                raise ComponentError(name, f"exited with code {proc.returncode} during start-up"
                                     + (f": {tail}" if tail else ""), log)
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError, KeyError, ValueError,
                    subprocess.TimeoutExpired):
                pass
            time.sleep(0.2)
        raise ComponentError(name, f"not {what} after {timeout:.0f}s", log)

    def stop_one(self, name: str, grace: float = 3.0) -> None:
        """Stop one component (SIGTERM, then SIGKILL after `grace` seconds) and forget it."""
        proc = self.procs.pop(name)
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self._record()

    def _record(self) -> None:
        self.pids_file.write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))


def stop_recorded(pids_file: Path, grace: float = 10.0) -> None:
    """Stop every process a pids file names, latest first, and remove the file."""
    if not pids_file.exists():
        return
    stop_pids(list(json.loads(pids_file.read_text()).values()), grace)
    pids_file.unlink()


def stop_pids(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM to each process group, latest first; SIGKILL to what still runs after `grace` s."""
    for pid in reversed(pids):
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        for pid in pids:
            reap(pid)
        time.sleep(0.1)
    for pid in pids:
        signal_group(pid, signal.SIGKILL)
        reap(pid)


def recorded(pids_file: Path) -> list[int]:
    try:
        return [int(pid) for pid in json.loads(pids_file.read_text()).values()]
    except (OSError, ValueError, TypeError):
        return []


def recorded_alive(pids_file: Path) -> bool:
    """Whether every process of a pids file still runs (a crash leaves some dead)."""
    pids = recorded(pids_file)
    return bool(pids) and all(pid_alive(p) for p in pids)


def any_recorded_alive(pids_file: Path) -> bool:
    return any(pid_alive(p) for p in recorded(pids_file))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive: it only waits to be reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def last_line(log: Path) -> str:
    """The last non-empty line of a log (read from its end: logs of builds grow large)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
