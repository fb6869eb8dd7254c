"""Start and stop one local control plane: etcd, kube-apiserver, controller-manager,
scheduler, kwok fake nodes, the KubeRay operator, all on loopback with free ports, and, where
the machine allows, the real node (node.py).

State (certificates, etcd data, logs, pids) lives in one folder; two instances with
different folders run side by side (one of them with the real node). A stale instance left by
a crash in the same folder is stopped before a new one starts.

Which pods run for real: the PodNodeSelector admission plugin sends the pods of a namespace
annotated `scheduler.alpha.kubernetes.io/node-selector: type=kwok` to the kwok nodes, and, while
the instance has a real node, every other pod to it (`type=real`, the cluster's default).
"""
from __future__ import annotations

import json
import shutil
import signal
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from . import build, pki, procs, versions
from . import node as realnode
from .errors import ComponentError
from .procs import free_port, http_ok, say, signal_group

SERVICE_CIDR = "10.96.0.0/16"
# A kube-apiserver whose first check of the service IP and port allocations fails within 60 s of its
# start exits (kubernetes/kubernetes#141220), though the same check failing later is retried; on a
# busy machine a fresh one can meet it. A kubelet restarts a static pod's apiserver then; so do we.
REPAIR_HOOK_FAILED = 'PostStartHook "start-service-ip-repair-controllers" failed'
APISERVER_RESTARTS = 1
POD_CIDR = "10.244.0.0/16"
FAKE_NODES = 2
_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# The namespace annotation of the PodNodeSelector admission plugin, and the selector that sends a
# namespace's pods to the kwok nodes (what the tests and benchmarks put on theirs).
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
KWOK_SELECTOR = "type=kwok"


def kwok_namespace(name: str) -> dict[str, Any]:
    """A Namespace whose pods all go to the kwok nodes: what the tests and benchmarks create, so
    that their thousands of pods never reach the real node."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "annotations": {NODE_SELECTOR_ANNOTATION: KWOK_SELECTOR}}}


@dataclass
class ControlPlane:
    """One instance; `start()` returns when the API answers, the operator is ready and the real
    node, if it has one, is Ready."""

    state_dir: Path
    owner_pid: int | None = None  # the instance is stale once this process is gone
    ports: dict[str, int] = field(default_factory=dict)  # fixed ports; the rest are free ones
    # The real node: None takes it where the machine allows (saying why not otherwise), True
    # requires it, False never takes it (a second instance beside the one that has it).
    real_node: bool | None = None
    node: realnode.RealNode | None = None
    node_unavailable: str | None = None  # why the instance has no real node

    def __post_init__(self) -> None:
        self._sup = procs.Supervisor(self.state_dir / "pids.json", self.logs)

    @classmethod
    def attach(cls, state_dir: Path) -> ControlPlane:
        """The instance already running in `state_dir`, to talk to its API server."""
        return cls(state_dir, ports=json.loads((state_dir / "ports.json").read_text()))

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
        stop_instance(self.state_dir)
        sweep_stale(self.state_dir.parent)
        with_node = self._decide_node()
        modules = versions.CONTROL_PLANE + (versions.REAL_NODE if with_node else ())
        binaries = build.build_all(build.cache_root() / "logs", modules)
        self.state_dir.mkdir(parents=True)
        self.logs.mkdir()
        if self.owner_pid:
            (self.state_dir / "owner.pid").write_text(str(self.owner_pid))
        pki.make_pki(self.state_dir / "pki")
        for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok",
                     "operator-metrics", "operator-probe"):  # each its own: none is bound yet
            self.ports[name] = self.ports.get(name) or free_port(avoid=set(self.ports.values()))
        pki.write_kubeconfig(self.kubeconfig, self.server, self.state_dir / "pki")
        try:
            self._start_etcd(binaries)
            self._start_apiserver(binaries, with_node)
            self._start_controllers(binaries)
            self._install_crds(binaries["crds"])
            self._start_nodes(binaries)
            self._start_operator(binaries)
            if with_node:
                self.node = realnode.RealNode(self.state_dir, self.server, self.api, binaries)
                self.node.start()
        except BaseException:
            stop_instance(self.state_dir, remove=False)  # keep the logs the error points at
            raise
        (self.state_dir / "ports.json").write_text(json.dumps(self.ports))
        say(f"ready in {time.monotonic() - started:.1f}s (state: {self.state_dir})")
        return self

    def _decide_node(self) -> bool:
        if self.real_node is False:
            self.node_unavailable = "this instance was started without one"
            return False
        self.node_unavailable = realnode.unavailable(self.state_dir)
        if self.node_unavailable is None:
            return True
        if self.real_node:
            raise ComponentError("real node", self.node_unavailable, None)
        say(f"no real node: {self.node_unavailable}; pods run on the kwok nodes only")
        return False

    def stop(self) -> None:
        stop_instance(self.state_dir)

    def stop_node(self) -> None:
        """Stop the real node alone and undo what it made (as `stop` does); the rest keeps running."""
        realnode.teardown(self.state_dir)
        self.api_delete(f"/api/v1/nodes/{realnode.NODE_NAME}")

    def start_node(self) -> None:
        """Start the real node again after `stop_node`."""
        if self.node is None:
            raise ValueError("the instance was started without a real node")
        shutil.rmtree(self.node.dir, ignore_errors=True)
        for path in ("/api/v1/namespaces/kube-system/services/kube-dns",
                     "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-node"):
            self.api_delete(path)
        self.node.start()

    def api_delete(self, path: str) -> None:
        try:
            self.api("DELETE", path)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    # Components that can be stopped and started again alone, keeping their port and state.
    _RESTARTABLE = ("etcd", "kube-apiserver", "kuberay-operator")

    def stop_component(self, name: str) -> None:
        """Stop one component of this running instance (for outage tests); the rest keeps running.

        Its port closes at once; a kube-apiserver then takes over 10 s to exit, so it gets 3.
        """
        if name not in self._RESTARTABLE:
            raise ValueError(f"{name} cannot be restarted alone (only {', '.join(self._RESTARTABLE)})")
        self._sup.stop_one(name)

    def start_component(self, name: str) -> None:
        """Start again, on the same port, a component that `stop_component` stopped; wait until ready."""
        if name not in self._RESTARTABLE:
            raise ValueError(f"{name} cannot be restarted alone (only {', '.join(self._RESTARTABLE)})")
        binaries = build.build_all(build.cache_root() / "logs", versions.CONTROL_PLANE)
        if name == "kube-apiserver":
            self._start_apiserver(binaries, self.node is not None)
        else:
            {"etcd": self._start_etcd, "kuberay-operator": self._start_operator}[name](binaries)

    def pause_component(self, name: str) -> None:
        """Freeze one component (SIGSTOP), for hang tests: its port still accepts connections, as a
        listening socket does, but nothing answers until `resume_component`."""
        signal_group(self._sup.procs[name].pid, signal.SIGSTOP)

    def resume_component(self, name: str) -> None:
        signal_group(self._sup.procs[name].pid, signal.SIGCONT)

    # -- components ------------------------------------------------------------------

    def _start_etcd(self, bins: dict[str, Path]) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._sup.spawn("etcd", [
            str(bins["etcd"]), "--name=devcluster", f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=devcluster={peer}", "--unsafe-no-fsync",
            "--listen-metrics-urls=", "--log-level=warn"])
        self._sup.wait("etcd", lambda: http_ok(f"{client}/health"), "healthy")
        say("etcd is up")

    def _start_apiserver(self, bins: dict[str, Path], with_node: bool) -> None:
        p = self.state_dir / "pki"
        if with_node:
            # Pods reach the API server through the `kubernetes` Service at the node's address,
            # so it listens there too; the kubelet is reached by that address for logs and exec.
            admission = self.state_dir / "admission.yaml"
            (self.state_dir / "podnodeselector.yaml").write_text(yaml.safe_dump(
                {"podNodeSelectorPluginConfig": {"clusterDefaultNodeSelector": realnode.LABEL}}))
            admission.write_text(yaml.safe_dump({
                "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
                "plugins": [{"name": "PodNodeSelector", "path": str(self.state_dir / "podnodeselector.yaml")}]}))
            where = ["--bind-address=0.0.0.0", f"--advertise-address={realnode.NODE_IP}",
                     "--kubelet-preferred-address-types=InternalIP,Hostname",
                     f"--kubelet-client-certificate={p / 'admin.crt'}",
                     f"--kubelet-client-key={p / 'admin.key'}",
                     f"--admission-control-config-file={admission}"]
        else:
            where = ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                     "--endpoint-reconciler-type=none"]  # loopback addresses are not valid endpoints
        argv = [
            str(bins["kube-apiserver"]), *where,
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--enable-admission-plugins=PodNodeSelector",
            "--allow-privileged=true", "--profiling=false", "--v=1"]
        self._sup.start("kube-apiserver", argv, self._api_ready, "ready", restart_if=REPAIR_HOOK_FAILED,
                        restarts=APISERVER_RESTARTS)
        say(f"kube-apiserver is ready at {self.server}")

    def _start_controllers(self, bins: dict[str, Path]) -> None:
        p, kc = self.state_dir / "pki", str(self.kubeconfig)
        common = [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                  f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                  "--leader-elect=false", "--v=1"]
        self._sup.spawn("kube-controller-manager", [
            str(bins["kube-controller-manager"]), *common,
            f"--secure-port={self.ports['controller-manager']}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}", f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--use-service-account-credentials=false"])
        self._sup.spawn("kube-scheduler", [
            str(bins["kube-scheduler"]), *common, f"--secure-port={self.ports['scheduler']}"])
        for name in ("kube-controller-manager", "kube-scheduler"):
            port = self.ports["controller-manager" if name.endswith("manager") else "scheduler"]
            self._sup.wait(name, partial(_https_ok, f"https://127.0.0.1:{port}/healthz"), "healthy")
        say("kube-controller-manager and kube-scheduler are healthy")

    def _crd_established(self, name: str) -> bool:
        return _established(self.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"))

    def _install_crds(self, crd_dir: Path) -> None:
        for path in sorted(crd_dir.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            self.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        for path in sorted(crd_dir.glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            self._sup.wait("kube-apiserver", partial(self._crd_established, name), f"serving CRD {name}")
        say(f"installed the KubeRay CRDs from {crd_dir}")

    def _start_nodes(self, bins: dict[str, Path]) -> None:
        for i in range(FAKE_NODES):
            self.api("POST", "/api/v1/nodes", _fake_node(f"kwok-node-{i}"))
        self._sup.spawn("kwok", [
            str(bins["kwok"]), f"--kubeconfig={self.kubeconfig}", f"--config={bins['kwok-stages']}",
            f"--manage-nodes-with-annotation-selector={_NODE_ANNOTATION}=fake",
            f"--server-address=127.0.0.1:{self.ports['kwok']}", f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1"])
        self._sup.wait("kwok", lambda: all(_node_ready(self.api("GET", f"/api/v1/nodes/kwok-node-{i}"))
                                       for i in range(FAKE_NODES)), "managing Ready nodes")
        say(f"kwok runs {FAKE_NODES} fake nodes")

    def _start_operator(self, bins: dict[str, Path]) -> None:
        self._sup.spawn("kuberay-operator", [
            str(bins["ray-operator"]), f"--kubeconfig={self.kubeconfig}",
            f"--metrics-addr=127.0.0.1:{self.ports['operator-metrics']}",
            f"--health-probe-bind-address=127.0.0.1:{self.ports['operator-probe']}",
            "--enable-leader-election=false", "--log-stdout-encoder=console",
            # The operator runs on the machine, which cannot resolve cluster DNS names: it reaches
            # each head's dashboard and serve proxy through the API server's services/pods proxy.
            "--use-kubernetes-proxy",
            # RayCronJob is alpha in KubeRay 1.6 and off by default; the API serves it.
            "--feature-gates=RayCronJob=true"])
        probe = f"http://127.0.0.1:{self.ports['operator-probe']}/readyz"
        self._sup.wait("kuberay-operator", lambda: http_ok(probe), "ready")
        say("the KubeRay operator is ready")

    # -- API access (admin) -----------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        p = self.state_dir / "pki"
        ctx.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
        return ctx

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as resp:
                answer: dict[str, Any] = json.loads(resp.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            if method != "GET":
                raise ComponentError("kube-apiserver", f"{method} {path} failed: {exc.code} {detail}",
                                     self.logs / "kube-apiserver.log") from exc
            raise

    def _api_ready(self) -> bool:
        req = urllib.request.Request(self.server + "/readyz")
        with urllib.request.urlopen(req, context=self._ssl(), timeout=5) as resp:
            return bool(resp.status == 200)


def _https_ok(url: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the components' self-signed serving certs; health only
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return bool(resp.status == 200)


def _established(crd: dict[str, Any]) -> bool:
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in crd.get("status", {}).get("conditions", []))


def _node_ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node.get("status", {}).get("conditions", []))


def _fake_node(name: str) -> dict[str, Any]:
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
    """Stop every process of the instance in `state_dir`, its real node first (undoing what the
    node made on the machine), and (normally) remove its state."""
    realnode.teardown(state_dir)
    procs.stop_recorded(state_dir / "pids.json")
    if remove:
        shutil.rmtree(state_dir, ignore_errors=True)


def running(state_dir: Path) -> bool:
    """Whether the instance in `state_dir` runs whole: every component, its node's too."""
    node_pids = state_dir / "node" / "pids.json"
    return procs.recorded_alive(state_dir / "pids.json") and (
        not node_pids.exists() or procs.recorded_alive(node_pids))


def sweep_stale(parent: Path) -> None:
    """Stop instances whose owning test run died without cleaning up."""
    for owner in parent.glob("*/owner.pid"):
        try:
            alive = procs.pid_alive(int(owner.read_text().strip()))
        except (OSError, ValueError):
            alive = False
        if not alive:
            stop_instance(owner.parent)


def memory_mib(state_dir: Path) -> dict[str, float]:
    """Resident memory of each component, for the figures the README quotes."""
    recorded = procs.load(state_dir / "pids.json") | procs.load(state_dir / "node" / "pids.json")
    out = {}
    for name, proc in recorded.items():
        if not proc.alive():
            continue
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out
