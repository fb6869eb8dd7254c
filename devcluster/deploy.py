"""`make deploy` and `make undeploy`: the server's image built from the repository's Dockerfile,
loaded into the real node's containerd, and the chart installed with `helm upgrade --install`, as
the user guide installs it (release `kuberay-apiserver` in `ray-system`, NodePorts 31888 and 31887).
"""
from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from . import build, images, node
from .cluster import ControlPlane, running
from .errors import ComponentError
from .procs import say

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "kuberay-apiserver"
RELEASE = "kuberay-apiserver"
NAMESPACE = "ray-system"
TIMEOUT = "5m"


def helm_command(state_dir: Path) -> list[str]:
    """helm against the instance, with a home of the instance's own (no user's repositories)."""
    binary = build.build_all(build.cache_root() / "logs", ["helm"])["helm"]
    home = state_dir / "helm"
    return ["env", f"HELM_CACHE_HOME={home / 'cache'}", f"HELM_CONFIG_HOME={home / 'config'}",
            f"HELM_DATA_HOME={home / 'data'}", str(binary), "--kubeconfig", str(state_dir / "kubeconfig")]


def deploy(state_dir: Path, release: str = RELEASE, namespace: str = NAMESPACE,
           sets: Sequence[str] = ()) -> images.Image:
    """Build (unless built), load and install or upgrade; return when the Deployment is available."""
    if not running(state_dir):
        raise ComponentError("deploy", f"no control plane runs in {state_dir} (make cluster)", None)
    if not node.joined(state_dir):
        raise ComponentError("deploy", "the control plane has no real node to run the server's pod: "
                             f"{node.unavailable(state_dir) or 'it was started without one'}", None)
    started = time.monotonic()
    image = images.project_image(ROOT)
    images.import_image(node.ctr_command(), image)
    repository, tag = image.ref.removeprefix("docker.io/library/").rsplit(":", 1)
    say(f"installing {release} ({image.ref}) into {namespace}")
    args = ["upgrade", "--install", release, str(CHART), "--namespace", namespace, "--create-namespace",
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--wait", "--timeout", TIMEOUT]
    for value in sets:
        args += ["--set", value]
    run_helm(state_dir, args)
    port = _wait_for_node_port(state_dir, release, namespace)
    say(f"deployed in {time.monotonic() - started:.1f}s: curl localhost:{port}/apis/v1/namespaces/"
        f"{namespace}/compute_templates")
    return image


def _wait_for_node_port(state_dir: Path, release: str, namespace: str) -> int:
    """The Deployment is available before kube-proxy sends its NodePort to the pod: wait until the
    HTTP port answers `/readyz` on localhost, as the user guide's `curl` will reach it."""
    plane = ControlPlane.attach(state_dir)
    services = plane.api("GET", f"/api/v1/namespaces/{namespace}/services?labelSelector="
                                f"app.kubernetes.io/instance%3D{release}")["items"]
    ports = [port for service in services if service["spec"]["type"] == "NodePort"
             for port in service["spec"]["ports"] if port["name"] == "http"]
    if not ports:
        return 0  # no NodePort (service.type=ClusterIP): nothing to wait for
    url = f"http://127.0.0.1:{ports[0]['nodePort']}/readyz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return int(ports[0]["nodePort"])
        except OSError:
            pass
        time.sleep(0.2)
    raise ComponentError("deploy", f"{url} did not answer 200 within 60s", state_dir / "logs" / "kube-proxy.log")


def undeploy(state_dir: Path, release: str = RELEASE, namespace: str = NAMESPACE) -> None:
    run_helm(state_dir, ["uninstall", release, "--namespace", namespace, "--wait", "--timeout", TIMEOUT,
                      "--ignore-not-found"])


def run_helm(state_dir: Path, args: list[str]) -> str:
    """helm against the instance; its output goes to logs/helm.log and, on failure, the error."""
    log = state_dir / "logs" / "helm.log"
    with open(log, "a") as out:
        proc = subprocess.run([*helm_command(state_dir), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        out.write(proc.stdout)
    if proc.returncode != 0:
        raise ComponentError("helm", f"{args[0]} failed: {proc.stdout.strip()[-400:]}", log)
    return proc.stdout
