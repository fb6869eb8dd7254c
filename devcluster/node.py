"""The real node of the local control plane: containerd and runc, the kubelet, kube-proxy and
CoreDNS on this machine, so that the pods scheduled onto it run real containers.

One per machine, held through a claim (footprint.py) that records what the machine was like
before; stopping it, or the next start after a crash, puts the machine back as it was. It needs
root on Linux; `unavailable()` says why it cannot run otherwise, and the control plane then runs
with its kwok nodes alone.

Its layout:
* a bridge `kuberay0` at 10.245.0.1/24 (the node's address, apart from the range kwok hands out),
  the pods' network through the CNI bridge, host-local and portmap plugins;
* containerd with its own socket, state and runc root in the instance's folder, and its images in
  a cache of the machine's (they outlive the instance, as the built binaries do);
* the kubelet in a mount namespace of its own whose /sys/devices/system/cpu and /proc/meminfo
  show a larger machine (`capacity()`), so that the user guide's requests (2 CPUs and 4 GiB a
  pod) fit on a 2-CPU machine; its volume mounts reach containerd through a shared bind mount;
* kube-proxy in iptables mode, NodePorts on localhost and on the node's address;
* CoreDNS on the node's address, behind the Service kube-system/kube-dns at 10.96.0.10.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import build, footprint, pki, procs, versions
from .errors import ComponentError

NODE_NAME = "real-node"
# The node label the scheduling scheme selects on: kwok's nodes carry type=kwok.
LABEL_KEY = "type"
LABEL = f"{LABEL_KEY}=real"
BRIDGE = "kuberay0"
SUBNET = "10.245.0.0/24"
NODE_IP = "10.245.0.1"
PREFIX = 24
DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
CGROUP = footprint.NODE_CGROUP
CNI_NETWORK = "kuberay-api-node"
KUBELET_PORT = 10250
CNI_BIN = Path("/usr/lib/cni")
TOOLS = ("containerd", "runc", "ctr", "iptables", "iptables-save", "iptables-restore", "ip", "unshare",
         "mount", "umount")

Api = Callable[..., dict[str, Any]]


def capacity() -> tuple[int, int]:
    """CPUs and GiB the node reports (DEVCLUSTER_NODE_CPUS, DEVCLUSTER_NODE_MEMORY_GIB): enough for
    the user guide's clusters, jobs and services at once. Pods share the machine's real CPUs."""
    return (int(os.environ.get("DEVCLUSTER_NODE_CPUS") or 32),
            int(os.environ.get("DEVCLUSTER_NODE_MEMORY_GIB") or 128))


def containerd_root() -> Path:
    """Images live beside the built binaries, so that a new instance finds them imported."""
    return build.cache_root().parent / "node" / "containerd"


def containerd_socket() -> Path:
    """Beside the claim: a socket's path must be short (108 bytes), and there is one node a machine."""
    return footprint.CLAIM_FILE.parent / "containerd.sock"


def ctr_command() -> list[str]:
    """ctr against the real node's containerd, in the CRI's namespace (the pods' images)."""
    return ["ctr", "--address", str(containerd_socket()), "--namespace", "k8s.io"]


def joined(state_dir: Path) -> bool:
    """Whether the instance in `state_dir` was started with the real node (it records its processes)."""
    return (state_dir / "node" / "pids.json").exists()


def unavailable(state_dir: Path) -> str | None:
    """Why this machine cannot run the real node for the instance in `state_dir`, or None."""
    if os.environ.get("DEVCLUSTER_REAL_NODE", "").lower() in ("0", "false", "no", "off"):
        return "DEVCLUSTER_REAL_NODE is off"
    if not sys.platform.startswith("linux"):
        return f"a real node needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "a real node needs root (containers, mounts, cgroups and firewall rules)"
    if not Path("/sys/fs/cgroup").is_dir() or not footprint.cgroup_dirs(CGROUP):
        return "no cgroups are mounted at /sys/fs/cgroup"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    missing += [str(CNI_BIN / p) for p in ("bridge", "host-local", "portmap", "loopback")
                if not (CNI_BIN / p).exists()]
    if missing:
        return f"missing {', '.join(missing)} (scripts/system-deps.sh installs them as root)"
    claim = footprint.read_claim()
    if claim and Path(claim.state_dir) != state_dir and held(claim):
        return f"the real node belongs to the instance in {claim.state_dir} (stop it first)"
    if claim is None and (chains := footprint.foreign_chains()):
        return f"another Kubernetes node runs here (firewall chains {', '.join(chains[:3])})"
    from . import images  # the image builder is needed only with a real node
    return images.unavailable()


def held(claim: footprint.Claim) -> bool:
    """Whether the instance named by a claim still runs (some of) its node."""
    return procs.any_recorded_alive(Path(claim.node_dir) / "pids.json")


def teardown(state_dir: Path) -> None:
    """Stop the node of the instance in `state_dir`, if it holds one, and undo all it made."""
    claim = footprint.read_claim()
    if claim is None or Path(claim.state_dir) != state_dir:
        return
    node_dir = Path(claim.node_dir)
    pids = node_dir / "pids.json"
    if pids.exists():
        recorded = procs.load(pids)
        if "kubelet" in recorded:  # first, so that it restarts nothing while the pods go
            procs.stop_processes([recorded.pop("kubelet")])
            pids.write_text(json.dumps({name: proc.as_json() for name, proc in recorded.items()}))
        if "containerd" in recorded and recorded["containerd"].alive():
            _remove_pods(node_dir, claim.containerd_socket)
        procs.stop_recorded(pids)
    proxy = _binary(node_dir, "kube-proxy")
    if proxy is not None:
        subprocess.run([str(proxy), "--cleanup"], capture_output=True, timeout=60)
    footprint.sweep(claim)
    footprint.release()


def sweep_abandoned() -> None:
    """A claim whose instance no longer runs its node (a crash): undo what that node made."""
    claim = footprint.read_claim()
    if claim is not None and not held(claim):
        teardown(Path(claim.state_dir))


def _binary(node_dir: Path, name: str) -> Path | None:
    try:
        return Path(json.loads((node_dir / "binaries.json").read_text())[name])
    except (OSError, ValueError, KeyError):
        return None


def _remove_pods(node_dir: Path, sock: str) -> None:
    """Stop and remove every pod through the CRI, so that containerd tears their networks down and
    keeps no record of them in its (lasting) root."""
    crictl = _binary(node_dir, "crictl")
    if crictl is None:
        return
    subprocess.run([str(crictl), "--runtime-endpoint", f"unix://{sock}", "--timeout", "30s",
                    "rmp", "--force", "--all"], capture_output=True, timeout=120)


@dataclass
class RealNode:
    """The node of one control-plane instance; `start` joins it to the instance's API server."""

    state_dir: Path
    server: str  # the API server, for the kubeconfigs of the node's components
    api: Api  # the instance's admin access to its API server
    bins: dict[str, Path]

    @property
    def dir(self) -> Path:
        return self.state_dir / "node"

    @property
    def socket(self) -> Path:
        return containerd_socket()

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    def ctr(self) -> list[str]:
        return ctr_command()

    # -- start ------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        sweep_abandoned()
        self.dir.mkdir(parents=True)
        footprint.snapshot_into(footprint.Claim(
            state_dir=str(self.state_dir), node_dir=str(self.dir), containerd_root=str(containerd_root()),
            containerd_socket=str(self.socket), bridge=BRIDGE, cgroup=CGROUP, cni_network=CNI_NETWORK,
        )).write()
        (self.dir / "binaries.json").write_text(json.dumps({k: str(v) for k, v in self.bins.items()}))
        self.sup = procs.Supervisor(self.dir / "pids.json", self.logs)
        try:
            self._credentials()
            self._network()
            self._cgroups()
            self._start_containerd()
            self._start_kubelet()
            self._start_kube_proxy()
            self._start_coredns()
        except BaseException:
            teardown(self.state_dir)
            raise
        procs.say(f"real node {NODE_NAME} is Ready ({capacity()[0]} CPUs, {capacity()[1]} GiB) in "
             f"{time.monotonic() - started:.1f}s")

    def _credentials(self) -> None:
        certs = self.state_dir / "pki"
        pki.make_client(certs, "kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
        pki.make_client(certs, "kube-proxy", "/CN=system:kube-proxy")
        for user in ("kubelet", "kube-proxy", "admin"):
            pki.write_kubeconfig(self.dir / f"{user}.kubeconfig", self.server, certs, user=user)

    def _network(self) -> None:
        """The bridge the pods attach to, holding the node's address (which the kubelet, kube-proxy
        and CoreDNS listen on) before the CNI plugin first uses it."""
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"], "network")
        _run(["ip", "addr", "add", f"{NODE_IP}/{PREFIX}", "dev", BRIDGE], "network")
        _run(["ip", "link", "set", BRIDGE, "up"], "network")
        conf = self.dir / "cni" / "net.d"
        conf.mkdir(parents=True)
        (conf / "10-kuberay-api-node.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": CNI_NETWORK,
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(self.dir / "cni" / "ipam"),
                          "ranges": [[{"subnet": SUBNET, "gateway": NODE_IP}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ]}, indent=1))

    def _cgroups(self) -> None:
        """The kubelet's cgroup root must exist in each hierarchy; cpuset's needs its CPUs and
        memory nodes before anything can join it (cgroup v1)."""
        for top in footprint.cgroup_dirs(CGROUP):
            top.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if (top / knob).exists() and not (top / knob).read_text().strip():
                    (top / knob).write_text((top.parent / knob).read_text())

    def _start_containerd(self) -> None:
        root, state = containerd_root(), self.dir / "containerd"
        root.mkdir(parents=True, exist_ok=True)
        state.mkdir(exist_ok=True)
        config = self.dir / "containerd.toml"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config.write_text(f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{state / 'opt'}"
[{cri}]
  sandbox_image = "{versions.PAUSE_IMAGE}"
  # No process may lower an oom_score_adj on machines without CAP_SYS_RESOURCE: without this
  # every pod sandbox fails to start.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which('runc')}"
  Root = "{self.dir / 'runc'}"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{self.dir / 'cni' / 'net.d'}"
  max_conf_num = 1
""")
        self.sup.spawn("containerd", ["containerd", "--config", str(config), "--log-level", "warn"])
        self.sup.wait("containerd", lambda: subprocess.run(
            [*self.ctr(), "version"], capture_output=True, timeout=5).returncode == 0, "serving")
        _remove_pods(self.dir, str(self.socket))  # records a crashed run left in the lasting root
        from . import images  # the builder is needed only with a real node
        images.import_image(self.ctr(), images.pause_image())

    def _fake_machine(self) -> Path:
        """Folders that the kubelet's cAdvisor reads the machine's size from, showing `capacity()`:
        CPUs under /sys/devices/system/cpu (with no NUMA nodes, so that it counts those) and
        MemTotal in /proc/meminfo.

        cAdvisor counts every cpuN folder as capacity, but builds the topology (which CPUs the
        kubelet writes into its cgroups' cpusets) from the online ones only: the machine's real
        `online` list keeps those cpusets to CPUs that exist."""
        cpus, gib = capacity()
        fake = self.dir / "machine"
        for cpu in range(cpus):
            topology = fake / "cpu" / f"cpu{cpu}" / "topology"
            topology.mkdir(parents=True)
            (topology / "core_id").write_text(f"{cpu}\n")
            (topology / "physical_package_id").write_text("0\n")
        (fake / "cpu" / "online").write_text(Path("/sys/devices/system/cpu/online").read_text())
        (fake / "node").mkdir()
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        (fake / "meminfo").write_text("".join(
            f"MemTotal:       {gib * 1024 * 1024} kB\n" if line.startswith("MemTotal:") else line + "\n"
            for line in meminfo))
        return fake

    def _start_kubelet(self) -> None:
        root, fake = self.kubelet_root, self._fake_machine()
        root.mkdir()
        (self.dir / "pod-logs").mkdir()
        # A shared mount of its own: the kubelet's volume mounts, made in its namespace, then
        # show in the machine's, where containerd hands them to containers.
        _run(["mount", "--bind", str(root), str(root)], "kubelet")
        _run(["mount", "--make-shared", str(root)], "kubelet")
        ca = self.state_dir / "pki" / "ca.crt"
        config = self.dir / "kubelet.yaml"
        healthz = procs.free_port()
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": NODE_IP, "port": KUBELET_PORT, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": healthz,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(ca)}},
            "authorization": {"mode": "AlwaysAllow"},  # only the API server's certificate gets in
            "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP}", "cgroupsPerQOS": True,
            "failCgroupV1": False, "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "clusterDNS": [DNS_IP], "clusterDomain": CLUSTER_DOMAIN, "resolvConf": "/etc/resolv.conf",
            "podLogsDir": str(self.dir / "pod-logs"),
            # Images are built here and cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%", "nodefs.inodesFree": "1%",
                             "imagefs.inodesFree": "1%"},
            "serializeImagePulls": False, "registerNode": True,
        }))
        script = ('set -e; mount --make-rprivate /sys; mount --make-private /proc; '
                  'mount --bind "$0/cpu" /sys/devices/system/cpu; '
                  '[ ! -d /sys/devices/system/node ] || mount --bind "$0/node" /sys/devices/system/node; '
                  'mount --bind "$0/meminfo" /proc/meminfo; exec "$@"')
        self.sup.spawn("kubelet", [
            "unshare", "--mount", "--propagation", "unchanged", "--", "sh", "-c", script, str(fake),
            str(self.bins["kubelet"]), f"--config={config}", f"--kubeconfig={self.dir / 'kubelet.kubeconfig'}",
            f"--root-dir={root}", f"--cert-dir={self.dir / 'kubelet-pki'}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", f"--node-labels={LABEL}",
            "--v=1"])
        self.sup.wait("kubelet", self._node_ready, "Ready", timeout=120)

    def _node_ready(self) -> bool:
        node = self.api("GET", f"/api/v1/nodes/{NODE_NAME}")
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node.get("status", {}).get("conditions", []))

    def _start_kube_proxy(self) -> None:
        config = self.dir / "kube-proxy.yaml"
        healthz = procs.free_port()
        config.write_text(yaml.safe_dump({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.dir / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME, "bindAddress": NODE_IP, "mode": "iptables",
            "healthzBindAddress": f"127.0.0.1:{healthz}", "metricsBindAddress": f"127.0.0.1:{procs.free_port()}",
            "clusterCIDR": SUBNET,
            # NodePorts on localhost (as kind maps them) and on the node, not on the machine's network.
            "nodePortAddresses": ["127.0.0.0/8", SUBNET],
            "iptables": {"localhostNodePorts": True, "minSyncPeriod": "1s", "syncPeriod": "30s"},
            # 0: leave the machine's conntrack settings alone; no oom_score_adj to lower.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "oomScoreAdj": 0,
        }))
        self.sup.spawn("kube-proxy", [str(self.bins["kube-proxy"]), f"--config={config}", "--v=1"])
        self.sup.wait("kube-proxy", lambda: procs.http_ok(f"http://127.0.0.1:{healthz}/healthz"), "healthy")

    def _start_coredns(self) -> None:
        """CoreDNS on the node's address, and the Service pods find it behind (kube-dns, with an
        EndpointSlice of its own, since no pod backs it)."""
        self.api("POST", "/api/v1/namespaces/kube-system/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": DNS_IP, "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}})
        self.api("POST", "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                         "labels": {"kubernetes.io/service-name": "kube-dns",
                                    "endpointslice.kubernetes.io/managed-by": "devcluster"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]})
        ready, health = procs.free_port(), procs.free_port()
        corefile = self.dir / "Corefile"
        corefile.write_text(f""".:53 {{
    bind {NODE_IP}
    ready 127.0.0.1:{ready}
    health 127.0.0.1:{health}
    errors
    cache 30
    loop
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.dir / 'admin.kubeconfig'} devcluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    forward . /etc/resolv.conf
}}
""")
        self.sup.spawn("coredns", [str(self.bins["coredns"]), "-conf", str(corefile)])
        self.sup.wait("coredns", lambda: procs.http_ok(f"http://127.0.0.1:{ready}/ready"), "ready")


def _run(argv: list[str], component: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ComponentError(component, f"{' '.join(argv)} failed: {proc.stderr.strip()[-300:]}", None)

