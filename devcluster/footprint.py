"""What the real node changes on the machine outside its own folders, recorded before it changes
anything and undone when it stops, even when the run that made it crashed.

The record (`Claim`) is a file in /run: it names the instance that holds the node (one per machine:
the kubelet's port, kube-proxy's chains and the NodePorts are the machine's) and keeps what was
there before (kernel settings, firewall chains, network namespaces, host folders), so that the
sweep removes only what the node made.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLAIM_FILE = Path(os.environ.get("DEVCLUSTER_NODE_CLAIM") or "/run/kuberay-api/node.json")

# Kernel settings the kubelet, kube-proxy and the CNI bridge plugin set (the kubelet's
# setupKernelTunables in pkg/kubelet/cm/container_manager_linux.go, kube-proxy's route_localnet
# for NodePorts on localhost, the bridge plugin's ip_forward); each is put back on stop.
SYSCTLS = (
    "vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
)
# Host folders that the kubelet and containerd use whatever they are told: /var/lib/kubelet for
# device-plugin sockets, /var/log/containers for log links, /run/containerd for shim sockets,
# /var/lib/cni for the CNI library's result cache, /run/netns for the pods' network namespaces.
HOST_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/run/containerd", "/var/lib/cni", "/run/netns")
OCTAL = re.compile(r"\\([0-7]{3})")  # how mountinfo escapes a space, tab, newline or backslash
OUR_CHAIN = re.compile(r"^(KUBE|CNI)-")  # kube-proxy's and the kubelet's, the CNI plugins'
TABLES = ("filter", "nat", "mangle", "raw")
IPTABLES = ("iptables", "ip6tables")


@dataclass
class Claim:
    """Who holds the node, and what the machine was like before it started."""

    state_dir: str
    node_dir: str
    containerd_root: str
    containerd_socket: str
    bridge: str
    cgroup: str  # the kubelet's cgroup root, under every hierarchy
    cni_network: str
    sysctls: dict[str, str] = field(default_factory=dict)
    existed: dict[str, bool] = field(default_factory=dict)
    netns: list[str] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)  # "iptables nat" -> KUBE-/CNI- chains
    nft_tables: list[str] = field(default_factory=list)

    def write(self) -> None:
        CLAIM_FILE.parent.mkdir(parents=True, exist_ok=True)
        tmp = CLAIM_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.rename(CLAIM_FILE)


def read_claim() -> Claim | None:
    try:
        return Claim(**json.loads(CLAIM_FILE.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def release() -> None:
    CLAIM_FILE.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        CLAIM_FILE.parent.rmdir()


# -- reading the machine ----------------------------------------------------------------------

def read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value + "\n")


def iptables_rules(family: str, table: str) -> list[str]:
    """`iptables-save` of one table, one line per chain and rule (empty when the table is absent)."""
    if shutil.which(f"{family}-save") is None:
        return []
    proc = subprocess.run([f"{family}-save", "-t", table], capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines() if line.startswith((":", "-A"))]


def chains(family: str, table: str) -> list[str]:
    return sorted(line[1:].split()[0] for line in iptables_rules(family, table) if line.startswith(":"))


def nft_tables() -> list[str]:
    if shutil.which("nft") is None:
        return []
    proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return sorted(line.removeprefix("table ").strip() for line in proc.stdout.splitlines() if line.strip())


def mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount of this mount namespace, in mount order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4])  # \040 is a space
        fstype = fields[fields.index("-") + 1]
        found.append((point, fstype))
    return found


def netns() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except OSError:
        return []


NODE_CGROUP = "kuberay-api-node"  # the kubelet's cgroup root, under every hierarchy


def cgroup_dirs(name: str) -> list[Path]:
    """The node's cgroup folder in every mounted hierarchy (v1), or in the unified one (v2)."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return [root / name]
    return [hierarchy / name for hierarchy in sorted(root.iterdir()) if hierarchy.is_dir()
            and not hierarchy.is_symlink()]


def snapshot_into(claim: Claim) -> Claim:
    """Fill the claim with what the machine holds now, before the node changes anything."""
    claim.sysctls = {name: value for name in SYSCTLS if (value := read_sysctl(name)) is not None}
    claim.existed = {path: os.path.lexists(path) for path in HOST_PATHS}
    claim.netns = netns()
    claim.chains = {f"{family} {table}": [c for c in chains(family, table) if OUR_CHAIN.match(c)]
                    for family in IPTABLES for table in TABLES}
    claim.nft_tables = nft_tables()
    return claim


def foreign_chains() -> list[str]:
    """KUBE-/CNI- chains no claim accounts for: another Kubernetes node on this machine."""
    return [f"{family} {table} {c}" for family in IPTABLES for table in TABLES
            for c in chains(family, table) if OUR_CHAIN.match(c)]


# -- the sweep --------------------------------------------------------------------------------

def sweep(claim: Claim) -> None:
    """Undo whatever the node left, in the order that lets each step succeed: processes, then the
    mounts they held, namespaces, links, firewall rules, cgroups, kernel settings and folders."""
    _kill_node_processes(claim)
    _unmount_under(_our_mount_roots(claim))
    _remove_netns(claim)
    _delete_link(claim.bridge)
    for family in IPTABLES:
        for table in TABLES:
            _remove_chains(family, table, set(claim.chains.get(f"{family} {table}", [])))
    _remove_nft_tables(claim)
    _remove_cgroups(claim.cgroup)
    for name, value in claim.sysctls.items():
        if read_sysctl(name) != value:
            write_sysctl(name, value)
    _remove_host_paths(claim)
    for sock in (claim.containerd_socket, claim.containerd_socket + ".ttrpc"):
        Path(sock).unlink(missing_ok=True)


def _kill_node_processes(claim: Claim) -> None:
    """Every process in the node's cgroups (the containers), then every process whose command line
    names the node's folders or containerd's socket (kubelet, kube-proxy, CoreDNS, containerd and
    its shims), until none is left."""
    markers = (claim.node_dir, claim.containerd_socket, claim.containerd_root)
    for _ in range(50):
        pids = set(_pids_in_cgroups(claim.cgroup)) | set(_pids_naming(markers))
        pids.discard(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _pids_in_cgroups(name: str) -> Iterator[int]:
    for top in cgroup_dirs(name):
        for procs in top.rglob("cgroup.procs") if top.exists() else ():
            try:
                yield from (int(pid) for pid in procs.read_text().split())
            except OSError:
                continue


def _pids_naming(markers: Iterable[str]) -> Iterator[int]:
    wanted = [m.encode() for m in markers if m]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(m in cmdline for m in wanted):
            yield int(entry.name)


def _our_mount_roots(claim: Claim) -> list[str]:
    roots = [claim.node_dir, claim.containerd_root]
    roots += [f"/run/netns/{name}" for name in netns() if name not in claim.netns]
    if not claim.existed.get("/run/containerd", True):
        roots.append("/run/containerd")
    return roots


def _unmount_under(roots: list[str]) -> None:
    """Unmount everything mounted at or below `roots`, deepest first (lazily: a busy mount goes as
    soon as nothing uses it)."""
    for _ in range(5):
        points = [point for point, _ in mounts()
                  if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots)]
        if not points:
            return
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            subprocess.run(["umount", "--lazy", point], capture_output=True)


def _remove_netns(claim: Claim) -> None:
    for name in netns():
        if name not in claim.netns:
            Path("/run/netns", name).unlink(missing_ok=True)


def _delete_link(name: str) -> None:
    if Path("/sys/class/net", name).exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def _remove_chains(family: str, table: str, kept: set[str]) -> None:
    """Delete the KUBE-/CNI- chains that were not there before, and every rule that jumps to them."""
    lines = iptables_rules(family, table)
    ours = {line[1:].split()[0] for line in lines if line.startswith(":")
            and OUR_CHAIN.match(line[1:]) and line[1:].split()[0] not in kept}
    if not ours:
        return
    commands = [f"*{table}"]
    for line in lines:
        if not line.startswith("-A "):
            continue
        chain = line.split()[1]
        target = re.search(r" -[jg] (\S+)", line)
        if chain not in ours and target and target.group(1) in ours:
            commands.append("-D" + line[2:])
    commands += [f"-F {chain}" for chain in sorted(ours)]
    commands += [f"-X {chain}" for chain in sorted(ours)]
    commands.append("COMMIT\n")
    subprocess.run([f"{family}-restore", "--noflush"], input="\n".join(commands), text=True,
                   capture_output=True)


def _remove_nft_tables(claim: Claim) -> None:
    """nftables tables that appeared with the node and hold nothing now (iptables-nft makes a table on
    first use and never removes it; kube-proxy's own tables)."""
    if shutil.which("nft") is None:
        return
    for table in nft_tables():
        if table in claim.nft_tables:
            continue
        listing = subprocess.run(["nft", "list", "table", *table.split()], capture_output=True,
                                 text=True).stdout
        rules = [line for line in listing.splitlines() if line.strip() and not re.match(
            r"\s*(table|chain|type|policy|\}|counter packets)", line.strip())]
        if not rules or table.endswith("kube-proxy"):
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True)


def _remove_cgroups(name: str) -> None:
    for top in cgroup_dirs(name):
        if not top.exists():
            continue
        for _ in range(20):
            for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                 reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            try:
                top.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def _remove_host_paths(claim: Claim) -> None:
    for path, existed in claim.existed.items():
        if not existed:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
    logs = Path("/var/log/containers")
    if claim.existed.get(str(logs)) and logs.is_dir():
        for link in logs.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(claim.node_dir):
                link.unlink()
    results = Path("/var/lib/cni/results")
    if claim.existed.get("/var/lib/cni") and results.is_dir():
        for result in results.glob(f"{claim.cni_network}-*"):
            result.unlink()
    sock = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
    if claim.existed.get("/var/lib/kubelet") and sock.exists():
        sock.unlink()


# -- what the machine holds, for a before-and-after comparison --------------------------------

NODE_PROGRAMS = ("containerd", "containerd-shim", "containerd-shim-runc-v2", "kubelet", "kube-proxy",
                 "coredns", "runc", "pause", "crictl")
COUNTERS = re.compile(r" \[\d+:\d+\]$")  # a chain's packet and byte counts
SYSCTL_TREES = ("vm", "kernel/keys", "net/ipv4/conf/all", "net/ipv4/conf/default", "net/bridge")


def listing() -> dict[str, list[str]]:
    """Everything the real node can change on the machine outside its own folders, as sorted text:
    equal before a node starts and after it stops, whatever ran between."""
    return {
        "processes": sorted(_node_processes()),
        "mounts": sorted(f"{point} {fstype}" for point, fstype in mounts()),
        "netns": netns(),
        "links": sorted(p.name for p in Path("/sys/class/net").iterdir()),
        "iptables": sorted(f"{family} {table} {COUNTERS.sub('', line)}" for family in IPTABLES
                           for table in TABLES for line in iptables_rules(family, table)),
        "nft": nft_tables(),
        "cgroups": sorted(_cgroups()),
        "sysctls": sorted(_sysctl_values()),
        "paths": sorted(path for path in HOST_PATHS if os.path.lexists(path)),
    }


def _cgroups() -> Iterator[str]:
    """Each hierarchy's top-level folders (where a cgroup manager puts its own) and every folder
    under the node's: the cgroups nested in other programs' come and go as those programs run, and
    are none of the node's doing."""
    root = Path("/sys/fs/cgroup")
    unified = (root / "cgroup.controllers").exists()
    hierarchies = [root] if unified else [h for h in sorted(root.iterdir()) if h.is_dir() and not h.is_symlink()]
    for hierarchy in hierarchies:
        yield from (str(top) for top in hierarchy.iterdir() if top.is_dir())
    for top in cgroup_dirs(NODE_CGROUP):
        yield from (str(folder) for folder in top.rglob("*") if folder.is_dir())


def _node_processes() -> Iterator[str]:
    """Running processes of the node's programs (a zombie only waits for its parent to read it)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, state = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            name = name.split("(", 1)[1]
            if name in NODE_PROGRAMS and state.split()[0] != "Z":
                yield f"{entry.name} {name}"


def _sysctl_values() -> Iterator[str]:
    for tree in SYSCTL_TREES:
        for path in sorted(Path("/proc/sys", tree).rglob("*")):
            if path.is_file():
                try:
                    yield f"{path.relative_to('/proc/sys')} = {path.read_text().strip()}"
                except OSError:
                    continue
    for name in ("net/ipv4/ip_forward", "kernel/panic", "kernel/panic_on_oops"):
        yield f"{name} = {read_sysctl(name)}"
