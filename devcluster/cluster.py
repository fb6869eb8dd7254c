"""Start and stop one local control plane: etcd, kube-apiserver, controller-manager,
scheduler, kwok fake nodes and the KubeRay operator, all on loopback with free ports.

State (certificates, etcd data, logs, pids) lives in one folder; two instances with
different folders run side by side. A stale instance left by a crash in the same folder
is stopped before a new one starts.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml

from . import build, pki, versions
from .errors import ComponentError

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
FAKE_NODES = 2
START_TIMEOUT = 90.0
_NODE_ANNOTATION = "kwok.x-k8s.io/node"
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def say(message: str) -> None:
    print(f"devcluster: {message}", file=sys.stderr, flush=True)


@dataclass
class ControlPlane:
    """One instance; `start()` returns when the API answers and the operator is ready."""

    state_dir: Path
    owner_pid: int | None = None  # the instance is stale once this process is gone
    ports: dict[str, int] = field(default_factory=dict)  # fixed ports; the rest are free ones
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "pki" / "ca.crt"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> ControlPlane:
        started = time.monotonic()
        binaries = build.build_all(build.cache_root() / "logs", versions.CONTROL_PLANE)
        stop_instance(self.state_dir)
        sweep_stale(self.state_dir.parent)
        self.state_dir.mkdir(parents=True)
        self.logs.mkdir()
        if self.owner_pid:
            (self.state_dir / "owner.pid").write_text(str(self.owner_pid))
        pki.make_pki(self.state_dir / "pki")
        self.ports = {name: self.ports.get(name) or free_port() for name in (
            "etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok",
            "operator-metrics", "operator-probe")}
        pki.write_kubeconfig(self.kubeconfig, self.server, self.state_dir / "pki")
        try:
            self._start_etcd(binaries)
            self._start_apiserver(binaries)
            self._start_controllers(binaries)
            self._install_crds(binaries["crds"])
            self._start_nodes(binaries)
            self._start_operator(binaries)
        except BaseException:
            stop_instance(self.state_dir, remove=False)  # keep the logs the error points at
            raise
        (self.state_dir / "ports.json").write_text(json.dumps(self.ports))
        say(f"ready in {time.monotonic() - started:.1f}s (state: {self.state_dir})")
        return self

    def stop(self) -> None:
        stop_instance(self.state_dir)

    # Components that can be stopped and started again alone, keeping their port and state.
    _RESTARTABLE = ("etcd", "kube-apiserver", "kuberay-operator")

    def stop_component(self, name: str) -> None:
        """Stop one component of this running instance (for outage tests); the rest keeps running.

        Its port closes at once; a kube-apiserver then takes over 10 s to exit, so it gets 3.
        """
        if name not in self._RESTARTABLE:
            raise ValueError(f"{name} cannot be restarted alone (only {', '.join(self._RESTARTABLE)})")
        proc = self._procs.pop(name)
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        (self.state_dir / "pids.json").write_text(json.dumps({n: p.pid for n, p in self._procs.items()}))

    def start_component(self, name: str) -> None:
        """Start again, on the same port, a component that `stop_component` stopped; wait until ready."""
        if name not in self._RESTARTABLE:
            raise ValueError(f"{name} cannot be restarted alone (only {', '.join(self._RESTARTABLE)})")
        starters = {"etcd": self._start_etcd, "kube-apiserver": self._start_apiserver,
                    "kuberay-operator": self._start_operator}
        starters[name](build.build_all(build.cache_root() / "logs", versions.CONTROL_PLANE))

    def pause_component(self, name: str) -> None:
        """Freeze one component (SIGSTOP), for hang tests: its port still accepts connections, as a
        listening socket does, but nothing answers until `resume_component`."""
        _signal_group(self._procs[name].pid, signal.SIGSTOP)

    def resume_component(self, name: str) -> None:
        _signal_group(self._procs[name].pid, signal.SIGCONT)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})})
        log.close()
        self._procs[name] = proc
        pids = {n: p.pid for n, p in self._procs.items()}
        (self.state_dir / "pids.json").write_text(json.dumps(pids))

    def _wait(self, name: str, ready: Callable[[], bool], what: str) -> None:
        """Poll until ready; a component that dies or hangs fails with its log path."""
        deadline = time.monotonic() + START_TIMEOUT
        log = self.logs / f"{name}.log"
        while time.monotonic() < deadline:
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is not None:
                tail = _last_line(log)
                raise ComponentError(name, f"exited with code {proc.returncode} during start-up"
                                     + (f": {tail}" if tail else ""), log)
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError, KeyError, ValueError):
                pass
            time.sleep(0.2)
        raise ComponentError(name, f"not {what} after {START_TIMEOUT:.0f}s", log)

    # -- components ------------------------------------------------------------------

    def _start_etcd(self, bins: dict[str, Path]) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn("etcd", [
            str(bins["etcd"]), "--name=devcluster", f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=devcluster={peer}", "--unsafe-no-fsync",
            "--listen-metrics-urls=", "--log-level=warn"])
        self._wait("etcd", lambda: _http_ok(f"{client}/health"), "healthy")
        say("etcd is up")

    def _start_apiserver(self, bins: dict[str, Path]) -> None:
        p = self.state_dir / "pki"
        self._spawn("kube-apiserver", [
            str(bins["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none",  # loopback addresses are not valid endpoints
            "--allow-privileged=true", "--profiling=false", "--v=1"])
        self._wait("kube-apiserver", self._api_ready, "ready")
        say(f"kube-apiserver is ready at {self.server}")

    def _start_controllers(self, bins: dict[str, Path]) -> None:
        p, kc = self.state_dir / "pki", str(self.kubeconfig)
        common = [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                  f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                  "--leader-elect=false", "--v=1"]
        self._spawn("kube-controller-manager", [
            str(bins["kube-controller-manager"]), *common,
            f"--secure-port={self.ports['controller-manager']}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}", f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--use-service-account-credentials=false"])
        self._spawn("kube-scheduler", [
            str(bins["kube-scheduler"]), *common, f"--secure-port={self.ports['scheduler']}"])
        for name in ("kube-controller-manager", "kube-scheduler"):
            port = self.ports["controller-manager" if name.endswith("manager") else "scheduler"]
            self._wait(name, partial(_https_ok, f"https://127.0.0.1:{port}/healthz"), "healthy")
        say("kube-controller-manager and kube-scheduler are healthy")

    def _crd_established(self, name: str) -> bool:
        return _established(self._api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"))

    def _install_crds(self, crd_dir: Path) -> None:
        for path in sorted(crd_dir.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            self._api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        for path in sorted(crd_dir.glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            self._wait("kube-apiserver", partial(self._crd_established, name), f"serving CRD {name}")
        say(f"installed the KubeRay CRDs from {crd_dir}")

    def _start_nodes(self, bins: dict[str, Path]) -> None:
        for i in range(FAKE_NODES):
            self._api("POST", "/api/v1/nodes", _fake_node(f"kwok-node-{i}"))
        self._spawn("kwok", [
            str(bins["kwok"]), f"--kubeconfig={self.kubeconfig}", f"--config={bins['kwok-stages']}",
            f"--manage-nodes-with-annotation-selector={_NODE_ANNOTATION}=fake",
            f"--server-address=127.0.0.1:{self.ports['kwok']}", f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1"])
        self._wait("kwok", lambda: all(_node_ready(self._api("GET", f"/api/v1/nodes/kwok-node-{i}"))
                                       for i in range(FAKE_NODES)), "managing Ready nodes")
        say(f"kwok runs {FAKE_NODES} fake nodes")

    def _start_operator(self, bins: dict[str, Path]) -> None:
        self._spawn("kuberay-operator", [
            str(bins["ray-operator"]), f"--kubeconfig={self.kubeconfig}",
            f"--metrics-addr=127.0.0.1:{self.ports['operator-metrics']}",
            f"--health-probe-bind-address=127.0.0.1:{self.ports['operator-probe']}",
            "--enable-leader-election=false", "--log-stdout-encoder=console"])
        probe = f"http://127.0.0.1:{self.ports['operator-probe']}/readyz"
        self._wait("kuberay-operator", lambda: _http_ok(probe), "ready")
        say("the KubeRay operator is ready")

    # -- API access (admin) -----------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        p = self.state_dir / "pki"
        ctx.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
        return ctx

    def _api(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            if method != "GET":
                raise ComponentError("kube-apiserver", f"{method} {path} failed: {exc.code} {detail}",
                                     self.logs / "kube-apiserver.log") from exc
            raise

    def _api_ready(self) -> bool:
        req = urllib.request.Request(self.server + "/readyz")
        with urllib.request.urlopen(req, context=self._ssl(), timeout=5) as resp:
            return resp.status == 200


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status == 200


def _https_ok(url: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the components' self-signed serving certs; health only
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return resp.status == 200


def _established(crd: dict) -> bool:
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in crd.get("status", {}).get("conditions", []))


def _node_ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node.get("status", {}).get("conditions", []))


def _fake_node(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {_NODE_ANNOTATION: "fake",
                                                   "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "kubernetes.io/role": "agent"}},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250", "nvidia.com/gpu": "8"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250", "nvidia.com/gpu": "8"},
            "nodeInfo": {"architecture": "amd64", "kubeletVersion": "fake", "operatingSystem": "linux",
                         "kubeProxyVersion": "fake"},
        },
    }


def stop_instance(state_dir: Path, remove: bool = True) -> None:
    """Stop every process of the instance in `state_dir` and (normally) remove its state."""
    pids_file = state_dir / "pids.json"
    if pids_file.exists():
        pids = list(json.loads(pids_file.read_text()).values())
        for pid in reversed(pids):
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            for pid in pids:
                _reap(pid)
            time.sleep(0.1)
        for pid in pids:
            _signal_group(pid, signal.SIGKILL)
            _reap(pid)
        pids_file.unlink()
    if remove:
        shutil.rmtree(state_dir, ignore_errors=True)


def sweep_stale(parent: Path) -> None:
    """Stop instances whose owning test run died without cleaning up."""
    for owner in parent.glob("*/owner.pid"):
        try:
            alive = _pid_alive(int(owner.read_text().strip()))
        except (OSError, ValueError):
            alive = False
        if not alive:
            stop_instance(owner.parent)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def memory_mib(state_dir: Path) -> dict[str, float]:
    """Resident memory of each component, for the figures the README quotes."""
    pids = json.loads((state_dir / "pids.json").read_text())
    out = {}
    for name, pid in pids.items():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out
