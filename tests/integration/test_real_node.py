"""The real node: pods run real containers on this machine, with the node's pretended capacity,
cluster DNS, Services and NodePorts on localhost; the tests' namespaces keep their pods on the
kwok nodes; and stopping the node leaves the machine as it was before, after a crash too.

These need root on Linux (the `real_node` fixture skips them, saying why, elsewhere).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from devcluster import footprint, images, node, procs, versions
from tests.support.api import ok
from tests.support.bodies import cluster_body, job_body, service_body, template_body
from tests.support.kube import Cluster, api_client, fresh_namespaces, pod_exec
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def project_image(real_node: node.RealNode) -> str:
    """The server's image (it has Python 3.11), loaded into the node: a program to run in pods."""
    image = images.project_image(ROOT)
    images.import_image(real_node.ctr(), image)
    return image.ref


@pytest.fixture
def real_namespace(cluster: Cluster, real_node: node.RealNode) -> Iterator[str]:
    with fresh_namespaces(cluster, prefix="node", real=True) as [name]:
        yield name


def _pod(name: str, image: str, command: list[str], cpu: str = "100m", memory: str = "128Mi") -> client.V1Pod:
    return client.V1Pod.model_validate({"metadata": {"name": name, "labels": {"app": name}}, "spec": {
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": image, "command": command, "imagePullPolicy": "Never",
                        "resources": {"requests": {"cpu": cpu, "memory": memory},
                                      "limits": {"cpu": cpu, "memory": memory}}}]}})


def _running(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod | None:
    pod = core.read_namespaced_pod(name, namespace)
    assert pod.status is not None
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    return pod if pod.status.phase == "Running" and ready else None


def _processes_in_pod(uid: str) -> list[tuple[int, str]]:
    """(pid, command line) of the machine's processes in the cgroup of the pod `uid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if uid.replace("-", "_") in (entry / "cgroup").read_text().replace("-", "_"):
                    found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
    return found


def test_a_pod_of_the_guides_size_runs_a_real_container_here(
        cluster: Cluster, real_namespace: str, project_image: str) -> None:
    core = client.CoreV1Api(cluster.api)
    cpus, gib = node.capacity()
    status = core.read_node(node.NODE_NAME).status
    assert status is not None
    assert status.capacity is not None
    assert (status.capacity["cpu"], status.capacity["memory"]) == (str(cpus), f"{gib}Gi")
    assert cpus > (os.cpu_count() or 0)  # more than the machine has: the user guide's requests fit

    # The user guide's compute template asks for 2 CPUs and 4 GiB.
    core.create_namespaced_pod(real_namespace, _pod("web", project_image, ["python", "-m", "http.server", "8000"],
                                                     cpu="2", memory="4Gi"))
    pod = wait_for(lambda: _running(core, real_namespace, "web"), timeout=60, what="the pod to run")
    assert pod.spec is not None
    assert pod.status is not None
    assert pod.metadata is not None
    assert pod.spec.node_name == node.NODE_NAME
    assert pod.status.pod_ip is not None
    assert pod.status.pod_ip.startswith(node.SUBNET.rsplit(".", 1)[0] + ".")

    processes = _processes_in_pod(pod.metadata.uid or "")
    assert any("http.server" in cmdline for _, cmdline in processes), processes  # it runs on this machine
    [pid] = [p for p, cmdline in processes if "http.server" in cmdline]
    memory = next(line.split(":")[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                  if line.split(":")[1] == "memory")
    limit = Path("/sys/fs/cgroup/memory", memory.lstrip("/"), "memory.limit_in_bytes")
    if limit.exists():  # cgroup v1: the container's limit is the kernel's
        assert int(limit.read_text()) == 4 * 1024 ** 3
    # The machine reaches the pod's address (once the program in it listens).
    served = f"http://{pod.status.pod_ip}:8000/"
    wait_for(lambda: _answers(served), timeout=30, what="the pod's server")


def test_services_cluster_dns_and_node_ports(cluster: Cluster, real_namespace: str, project_image: str) -> None:
    core = client.CoreV1Api(cluster.api)
    core.create_namespaced_pod(real_namespace, _pod("web", project_image, ["python", "-m", "http.server", "8000"]))
    core.create_namespaced_pod(real_namespace, _pod("caller", project_image, ["sleep", "3600"]))
    service = core.create_namespaced_service(real_namespace, client.V1Service.model_validate({
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}}))
    for name in ("web", "caller"):
        wait_for(partial(_running, core, real_namespace, name), timeout=60, what=f"{name} to run")

    assert service.spec is not None
    assert service.spec.ports
    url = f"http://127.0.0.1:{service.spec.ports[0].node_port}/"
    wait_for(lambda: _answers(url), timeout=30, what="the NodePort on localhost")
    cluster_ip = f"http://{service.spec.cluster_ip}/"
    wait_for(lambda: _answers(cluster_ip), timeout=30, what="the ClusterIP from the machine")

    # From another pod: the Service by its cluster DNS name, and the API server by the `kubernetes` Service.
    script = ("import json, ssl, urllib.request as u\n"
              f"print(u.urlopen('http://web.{real_namespace}.svc.cluster.local/', timeout=10).status)\n"
              "ctx = ssl.create_default_context(cafile='/var/run/secrets/kubernetes.io/serviceaccount/ca.crt')\n"
              "print(json.load(u.urlopen('https://kubernetes.default.svc/version', context=ctx, timeout=10))"
              "['gitVersion'])\n")
    out = pod_exec(cluster.api, real_namespace, "caller", ["python", "-c", script]).split()
    assert out[0] == "200"
    assert out[1] == client.VersionApi(cluster.api).get_code().git_version


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_the_tests_namespaces_keep_their_pods_on_kwok_and_the_guides_objects_fit_the_node(
        cluster: Cluster, app_client: TestClient, namespace: str, real_namespace: str) -> None:
    """The user guide's cluster, job and service (a head and a worker of 2 CPUs and 4 GiB each),
    created through the server: in a test's namespace their pods go to the kwok nodes; elsewhere
    all of them, at once, are admitted onto the real node."""
    core = client.CoreV1Api(cluster.api)
    for ns in (namespace, real_namespace):
        ok(app_client.post(f"/apis/v1/namespaces/{ns}/compute_templates", json=template_body(ns)))
        ok(app_client.post(f"/apis/v1/namespaces/{ns}/clusters", json=cluster_body(ns)))
        ok(app_client.post(f"/apis/v1/namespaces/{ns}/jobs", json=job_body(ns)))
        ok(app_client.post(f"/apis/v1/namespaces/{ns}/services", json=service_body(ns)))

    def placed(ns: str) -> set[str] | None:
        pods = core.list_namespaced_pod(ns, label_selector="ray.io/cluster").items
        nodes = {pod.spec.node_name if pod.spec else None for pod in pods}
        placed = {name for name in nodes if name is not None}
        return placed if len(pods) == 6 and placed == nodes else None  # 3 Ray clusters of 2

    assert all(n.startswith("kwok-node-") for n in wait_for(lambda: placed(namespace), what="kwok pods"))
    assert wait_for(lambda: placed(real_namespace), what="pods on the real node") == {node.NODE_NAME}


# -- the machine as it was ----------------------------------------------------------------------

def _differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, Any]:
    return {key: {"left behind": sorted(set(after[key]) - set(before[key])),
                  "gone": sorted(set(before[key]) - set(after[key]))}
            for key in before if before[key] != after[key]}


def _devcluster(state: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`make cluster` (up) and `make cluster-down` (down), for an instance in `state`."""
    return subprocess.run([sys.executable, "-m", "devcluster", "--state-dir", str(state), command],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def _pause_pod_runs(kubeconfig: Path) -> None:
    with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", _pod("pause", versions.PAUSE_IMAGE, ["/pause"]))
        pod = wait_for(lambda: _running(core, "default", "pause"), timeout=60, what="a pod on the node")
        assert pod.spec is not None
        assert pod.metadata is not None
        assert pod.spec.node_name == node.NODE_NAME
        assert _processes_in_pod(pod.metadata.uid or "")


def _crash(state: Path) -> None:
    """Every process of the instance killed at once, as a machine's crash or a kill -9 of all would:
    the containers keep running, and all the node made stays."""
    for pids in (state / "pids.json", state / "node" / "pids.json"):
        for proc in procs.load(pids).values():
            proc.signal_group(signal.SIGKILL)


@pytest.fixture
def state() -> Iterator[Path]:
    """The folder of a test's own instance: short (sockets live there), and gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="kuberay-api-node-", ignore_cleanup_errors=True) as parent:
        yield Path(parent) / "instance"


def test_a_second_instance_runs_on_kwok_alone_and_says_why(
        cluster: Cluster, real_node: node.RealNode, state: Path) -> None:
    assert cluster.plane is not None
    try:
        up = _devcluster(state, "up")
        assert up.returncode == 0, up.stderr
        reason = f"the real node belongs to the instance in {cluster.plane.state_dir}"
        assert f"devcluster: no real node: {reason} (stop it first); pods run on the kwok nodes only" in up.stderr
        with api_client(state / "kubeconfig") as api:
            nodes = [n.metadata.name or "" if n.metadata else "" for n in client.CoreV1Api(api).list_node().items]
        assert sorted(nodes) == ["kwok-node-0", "kwok-node-1"]
    finally:
        down = _devcluster(state, "down")
    assert down.returncode == 0, down.stderr
    # Its stop left the session's node alone.
    claim = footprint.read_claim()
    assert claim is not None
    assert Path(claim.state_dir) == cluster.plane.state_dir
    status = client.CoreV1Api(cluster.api).read_node(node.NODE_NAME).status
    assert status is not None
    assert any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])


def test_stopping_the_node_leaves_the_machine_as_before_after_a_crash_too(
        cluster: Cluster, real_node: node.RealNode, state: Path) -> None:
    before = cluster.machine_before
    assert before is not None
    assert cluster.plane is not None
    try:
        cluster.plane.stop_node()  # the session's node, for this test's instance to take
        assert _differences(before, footprint.listing()) == {}

        up = _devcluster(state, "up")
        assert up.returncode == 0, up.stderr
        assert "real node real-node is Ready" in up.stderr, up.stderr
        _pause_pod_runs(state / "kubeconfig")
        made = footprint.listing()
        assert {"processes", "mounts", "netns", "links", "iptables", "cgroups", "sysctls", "paths"} <= set(
            _differences(before, made))

        _crash(state)
        time.sleep(1)
        assert _differences(before, footprint.listing()), "a crash leaves the node's changes behind"
        again = _devcluster(state, "up")  # cleans up after the crash, then starts afresh
        assert again.returncode == 0, again.stderr
        _pause_pod_runs(state / "kubeconfig")

        down = _devcluster(state, "down")
        assert down.returncode == 0, down.stderr
        assert _differences(before, footprint.listing()) == {}
        assert not state.exists()
    finally:
        _devcluster(state, "down")
        cluster.plane.start_node()
