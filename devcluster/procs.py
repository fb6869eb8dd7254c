"""The processes of one instance: started in sessions of their own, logged to files, recorded in a
pids file, so that a later run (after a crash, say) can find and stop them by that file alone; and
the one-line progress messages every part of devcluster prints.

A pids file records each process's start time with its pid. This machine has only 32,768 pids and a
test run starts thousands of processes, so a recorded pid whose process has died is soon another
program's, and that program is often a session leader too (a test's server, started with
`start_new_session`): signalling the recorded pid's process group would stop it. A process is
signalled only while its pid still names the process recorded (`Recorded.signal_group`).
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
from collections.abc import Callable, Collection
from dataclasses import dataclass
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
# Kubernetes' default NodePort range, the control plane's: the real node's kube-proxy sends a
# NodePort on localhost to its Service's pods, so a component listening on that port on loopback
# would lose its connections to the Service (a Ray head's, say) while it exists.
NODE_PORTS = range(30000, 32768)


def free_port(avoid: Collection[int] = ()) -> int:
    """A loopback port that nothing is bound to, taken below the kernel's ephemeral range and
    outside Kubernetes' NodePort range (`NODE_PORTS`).

    A port from the ephemeral range (what binding port 0 gives) is free for the kernel to hand to
    any outgoing connection of the machine as its local port, between this check and the moment the
    component binds it; the component then fails to start. Below the range only an explicit bind
    can take it.
    """
    low = _ephemeral_low()
    if low - PORTS_BELOW_EPHEMERAL < 1024:  # an unusual range: fall back on the kernel's choice
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    chooser = random.SystemRandom()
    candidates = [port for port in range(low - PORTS_BELOW_EPHEMERAL, low)
                  if port not in NODE_PORTS and port not in avoid]  # (`avoid`: ports given out, not yet bound)
    for _ in range(200):
        port = chooser.choice(candidates)
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
        self.pids_file.write_text(json.dumps({name: Recorded.of(proc.pid).as_json()
                                              for name, proc in self.procs.items()}))


@dataclass(frozen=True)
class Recorded:
    """A process as a pids file names it: its pid and its start time (in clock ticks after boot,
    /proc/<pid>/stat's 22nd field), which tells it from a later process given the same pid. `start`
    is None for a file written before start times were recorded: such a pid is taken at its word."""

    pid: int
    start: int | None = None

    @classmethod
    def of(cls, pid: int) -> Recorded:
        return cls(pid, start_time(pid))

    @classmethod
    def from_json(cls, value: object) -> Recorded:
        if isinstance(value, dict):
            start = value.get("start")
            return cls(int(value["pid"]), None if start is None else int(start))
        return cls(int(value))  # type: ignore[call-overload]  # a bare pid: an older file

    def as_json(self) -> dict[str, int | None]:
        return {"pid": self.pid, "start": self.start}

    def same(self) -> bool:
        """Whether the pid still names the recorded process (alive, or a zombie not yet reaped)."""
        now = start_time(self.pid)
        return now is not None and (self.start is None or now == self.start)

    def alive(self) -> bool:
        return self.same() and pid_alive(self.pid)

    def signal_group(self, sig: int) -> None:
        """Signal the process group the recorded process leads. With its leader gone, the group's
        id cannot be another process's pid while any member lives (Linux allocates no pid still in
        use as a group id), so the survivors are signalled; with the pid reused, nothing is."""
        if start_time(self.pid) is None or self.same():
            signal_group(self.pid, sig)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot, or None if no process has the pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])  # the 22nd field; the split starts at the 3rd
    except (OSError, IndexError, ValueError):
        return None


def load(pids_file: Path) -> dict[str, Recorded]:
    """The processes a pids file names, by component; none if it is missing or unreadable."""
    try:
        return {name: Recorded.from_json(value) for name, value in json.loads(pids_file.read_text()).items()}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def stop_recorded(pids_file: Path, grace: float = 10.0) -> None:
    """Stop every process a pids file names, latest first, and remove the file."""
    if not pids_file.exists():
        return
    stop_processes(list(load(pids_file).values()), grace)
    pids_file.unlink()


def stop_processes(processes: list[Recorded], grace: float = 10.0) -> None:
    """SIGTERM to each process group, latest first; SIGKILL to what still runs after `grace` s."""
    for proc in reversed(processes):
        proc.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(proc.alive() for proc in processes):
        for proc in processes:
            reap(proc.pid)
        time.sleep(0.1)
    for proc in processes:
        proc.signal_group(signal.SIGKILL)
        reap(proc.pid)


def recorded_alive(pids_file: Path) -> bool:
    """Whether every process of a pids file still runs (a crash leaves some dead)."""
    processes = load(pids_file).values()
    return bool(processes) and all(proc.alive() for proc in processes)


def any_recorded_alive(pids_file: Path) -> bool:
    return any(proc.alive() for proc in load(pids_file).values())


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
