"""A real Ray head on loopback, for the tests of the job submissions (no fakes).

Ray runs from a venv of its own (tests/support/ray_venv.py). `RayHead` starts one head
(`ray start --head --block`) in a session of its own, with every port it lets us choose taken
from `devcluster.cluster.free_port()`, so it never meets another Ray or control plane of the
machine; it is stopped by signalling its own processes only, never with `ray stop` (which stops
every Ray of the machine).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from devcluster.procs import free_port
from tests.support.procfs import all_stats, cmdline, environ_has, rss_kib, stat
from tests.support.ray_venv import ray_venv

START_TIMEOUT = 120.0
# stop(): how long `ray start` may take to stop the head on SIGTERM (1.5-4.5 s seen; a SIGTERM
# that lands while it forks is lost and it hangs), how long what it left may take to exit on
# SIGTERM before SIGKILL, and how long SIGKILL may take.
LEADER_STOP_TIMEOUT = 6.0
STOP_GRACE = 3.0
STOP_TIMEOUT = 10.0

# `ray start` flag -> name of the port in RayHead.ports. The dashboard's gRPC server has no flag
# of its own in the Ray we pin (it listens on none).
PORT_FLAGS = {
    "--port": "gcs",
    "--dashboard-port": "dashboard",
    "--ray-client-server-port": "client",
    "--dashboard-agent-listen-port": "agent-http",
    "--dashboard-agent-grpc-port": "agent-grpc",
    "--metrics-export-port": "metrics",
    "--runtime-env-agent-port": "runtime-env-agent",
    "--node-manager-port": "node-manager",
    "--object-manager-port": "object-manager",
}
# Ports with no flag, set through the environment: the Prometheus endpoints of the dashboard
# and of the autoscaler's monitor (fixed at 44227 and 44217 otherwise, the same for every Ray).
PORT_ENV = {
    "DASHBOARD_METRIC_PORT": "dashboard-metrics",
    "AUTOSCALER_METRIC_PORT": "autoscaler-metrics",
}
# Workers and job drivers bind ports the kernel chooses (0): from the ephemeral range, where
# free_port() never chooses, and with no list to run out of. Ray's default, 10002-19999 handed
# out in order, would be the same ports for every Ray of the machine.
WORKER_PORTS = ["--min-worker-port=0", "--max-worker-port=0"]

# Ray's environment: no usage reports, no look-up of the machine's outside address (a single
# node on loopback). The dashboard's Prometheus and Grafana defaults are on localhost already.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # on Linux too: the node's address is loopback
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # stop at once, no draining of the node first
    "PYTHONUNBUFFERED": "1",
}
# Set in the head's environment to its temp dir: every process of the head inherits it.
MARK_VAR = "KUBERAY_API_RAY_HEAD"


# The session's head (the `ray_head` fixture): a custom resource jobs can ask for, and how long a
# job may wait for resources before Ray fails it (Ray's default: 900 s).
RAY_HEAD_RESOURCES = {"kuberay_api_test": 2.0}
RAY_JOB_START_TIMEOUT = 20


class RayHeadError(RuntimeError):
    """The head could not be started or stopped; the message says why, with its logs."""


# -- the head ----------------------------------------------------------------------------------

class RayHead:
    """One Ray head on 127.0.0.1, its dashboard (and Jobs API) at `url`.

    `state_dir` (a pytest tmp dir) gets the output of `ray start` (ray-start.log) and, on
    close(), a copy of Ray's logs, a folder per start of the head (ray-logs/session_*/). Ray's
    own temp dir is a short folder in /tmp: Ray puts unix sockets under it and their paths must
    stay under 108 bytes.
    """

    def __init__(self, state_dir: Path, *, venv: Path | None = None, num_cpus: int = 2,
                 object_store_mb: int = 80, start_timeout: float = START_TIMEOUT,
                 env: dict[str, str] | None = None, resources: dict[str, float] | None = None,
                 token: str = "") -> None:
        """`env` adds to Ray's environment, e.g. RAY_JOB_START_TIMEOUT_SECONDS (900 by default:
        how long a job waiting for resources stays PENDING before Ray fails it). With `token`, Ray
        runs with token authentication (Ray 2.60 reads `RAY_AUTH_MODE=token` and the token from
        `RAY_AUTH_TOKEN`, as the KubeRay operator sets them in a head's container): its dashboard
        then refuses every request without `Authorization: Bearer <token>` (or `X-Ray-Authorization`)
        but a few public paths, 401 without a token and 403 with another."""
        self.state_dir = Path(state_dir)
        self.token = token
        self.extra_env = dict(env or {})
        if token:
            self.extra_env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.venv = venv or ray_venv()
        self.num_cpus = num_cpus
        self.resources = dict(resources or {})  # custom resources of the head, e.g. {"special": 2}
        self.object_store_mb = object_store_mb
        self.start_timeout = start_timeout
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        (self.state_dir / "ray-temp").unlink(missing_ok=True)
        (self.state_dir / "ray-temp").symlink_to(self.temp_dir)
        self.ports = _distinct_free_ports([*PORT_FLAGS.values(), *PORT_ENV.values()])
        self._proc: subprocess.Popen[bytes] | None = None
        self._seen: dict[int, int] = {}  # pid -> start time of every process of this head met

    # -- where --

    @property
    def url(self) -> str:
        """The dashboard's base URL (the Jobs API is under /api/jobs/)."""
        return f"http://127.0.0.1:{self.ports['dashboard']}"

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.ports['gcs']}"

    @property
    def start_log(self) -> Path:
        return self.state_dir / "ray-start.log"

    @property
    def pid(self) -> int | None:
        """The `ray start` process: leader of the head's session and process group."""
        return self._proc.pid if self._proc is not None else None

    def env(self) -> dict[str, str]:
        """The environment of the head: the venv's bin first on PATH, so a job's `python`
        (and `ray`) is the venv's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env.update(RAY_ENV)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["RAY_TMPDIR"] = str(self.temp_dir)
        env.update({var: str(self.ports[name]) for var, name in PORT_ENV.items()})
        env[MARK_VAR] = str(self.temp_dir)  # inherited by every process of the head: see processes()
        env.update(self.extra_env)
        return env

    def argv(self) -> list[str]:
        ports = [f"{flag}={self.ports[name]}" for flag, name in PORT_FLAGS.items()]
        return [str(self.venv / "bin" / "python"), "-m", "ray.scripts.scripts", "start", "--head", "--block",
                f"--temp-dir={self.temp_dir}", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
                "--include-dashboard=true", "--disable-usage-stats",
                f"--object-store-memory={self.object_store_mb * 1024 * 1024}", f"--num-cpus={self.num_cpus}",
                "--num-gpus=0", f"--resources={json.dumps(self.resources)}", *ports, *WORKER_PORTS,
                "--log-style=record", "--log-color=false"]

    # -- life --

    def start(self) -> RayHead:
        """Start the head and wait until its dashboard answers GET /api/version with 200."""
        if self.running:
            return self
        self._seen.clear()
        with open(self.start_log, "ab") as log:
            log.write(f"\n== {time.strftime('%H:%M:%S')} {' '.join(self.argv())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True,
                                          env=self.env(), cwd=self.temp_dir)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise RayHeadError(f"ray start exited with code {code} during start-up\n{self.log_tail()}")
            if self._answers("/api/version"):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RayHeadError(f"the Ray dashboard at {self.url} did not answer /api/version within "
                                   f"{self.start_timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.25)
        self.processes()  # remember who belongs to the head, for stop()
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop every process of this head, and only those: SIGTERM to `ray start`, whose handler
        stops the rest in Ray's order (raylet first, then GCS, ...); SIGTERM to whatever is left
        once it has exited, or after a wait (job drivers run in sessions of their own, and Ray's
        shutdown leaves them running); then SIGKILL to what is still left, until none is.

        Signalling the whole process group at once is slower: the GCS goes before the raylet,
        whose shutdown then hangs for seconds waiting on it.
        """
        if self._proc is None:
            return
        for pid in self.processes():  # a paused process would not act on SIGTERM
            self._signal(pid, signal.SIGCONT)
        self._proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + LEADER_STOP_TIMEOUT
        while not self._leader_exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        termed: set[int] = set()
        graceful = time.monotonic() + STOP_GRACE
        while (left := self.processes()) and time.monotonic() < graceful:
            for pid in left.keys() - termed:
                self._signal(pid, signal.SIGTERM)
                termed.add(pid)
            time.sleep(0.1)
        deadline = time.monotonic() + STOP_TIMEOUT
        while left := self.processes():
            if time.monotonic() > deadline:
                raise RayHeadError(f"processes of the Ray head survive SIGKILL: {left}")
            for pid in left:
                self._signal(pid, signal.SIGKILL)
            time.sleep(0.1)
        self._proc.wait(timeout=STOP_TIMEOUT)  # reaped only now: till then no process can take its pid
        self._proc = None
        self._seen.clear()

    def restart(self) -> RayHead:
        """Stop and start again, on the same ports."""
        self.stop()
        return self.start()

    def pause(self) -> None:
        """Freeze every process of the head (SIGSTOP): its ports still accept connections, as a
        hung head would, but nothing answers."""
        done: set[int] = set()
        for _ in range(20):  # a process spawned meanwhile is found by the next pass
            new = set(self.processes()) - done
            if not new:
                return
            for pid in new:
                self._signal(pid, signal.SIGSTOP)
            done |= new
        raise RayHeadError("the head kept starting processes while being paused")

    def resume(self) -> None:
        """Let the paused processes go on (SIGCONT)."""
        for pid in sorted(self.processes()):
            self._signal(pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop, keep a copy of Ray's logs in the state dir and remove Ray's temp dir."""
        try:
            self.stop()
        finally:
            for logs in sorted(self.temp_dir.glob("session_2*/logs")):  # one per start: a restart is a new session
                shutil.copytree(logs, self.state_dir / "ray-logs" / logs.parent.name, dirs_exist_ok=True,
                                ignore_dangling_symlinks=True)
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            (self.state_dir / "ray-temp").unlink(missing_ok=True)

    def __enter__(self) -> RayHead:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- who --

    def processes(self) -> dict[int, str]:
        """The live processes of this head, pid -> command line: the leader's session and process
        group, everything below the leader, what was below it before, and any process that
        inherited the head's mark in its environment (a job driver runs in a session of its own
        and, when its parent dies, is adopted by init: it still belongs to the head)."""
        if self._proc is None:
            return {}
        leader = self._proc.pid
        stats = all_stats()
        mark = f"{MARK_VAR}={self.temp_dir}".encode()
        mine = {pid for pid, (_, pgid, sid, _) in stats.items()
                if sid == leader or pgid == leader or environ_has(pid, mark)}
        mine |= {pid for pid, start in self._seen.items() if stats.get(pid, (0, 0, 0, -1))[3] == start}
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in stats.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(mine | ({leader} & stats.keys()))
        while todo:
            pid = todo.pop()
            mine.add(pid)
            todo.extend(c for c in children.get(pid, ()) if c not in mine)
        mine.discard(os.getpid())
        for pid in mine:
            self._seen[pid] = stats[pid][3]
        return {pid: cmdline(pid) for pid in sorted(mine)}

    def rss_mib(self) -> float:
        """The resident memory of all the head's processes together (shared pages counted in each)."""
        return sum(rss_kib(pid) for pid in self.processes()) / 1024

    def log_tail(self, lines: int = 30) -> str:
        """The end of `ray start`'s output and of Ray's main logs, for error messages."""
        parts = []
        logs = self.temp_dir / "session_latest" / "logs"
        for path in [self.start_log, *(logs / n for n in ("gcs_server.out", "raylet.out", "dashboard.log",
                                                          "dashboard_agent.log"))]:
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or "(no logs)"

    # -- helpers --

    def _answers(self, path: str, timeout: float = 2.0) -> bool:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers),
                                        timeout=timeout) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _leader_exited(self) -> bool:
        """Whether `ray start` has exited, without reaping it (WNOWAIT): while it is a zombie its
        pid, which names the head's session and process group, can't go to another process."""
        assert self._proc is not None
        if self._proc.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _signal(self, pid: int, sig: int) -> None:
        now = stat(pid)
        if now is None or self._seen.get(pid, now[3]) != now[3]:  # gone, or another process now
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _distinct_free_ports(names: Iterable[str]) -> dict[str, int]:
    """A free port for each name, no two the same (free_port() holds none, so it may repeat)."""
    ports: dict[str, int] = {}
    for name in names:
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return ports
