"""Real Ray on the real node, for the tests that need Ray to run: the Ray image loaded into the node,
and one cluster of the user guide's for the session, made through the API, with the autoscaler on.

The cluster is the guide's `test-cluster` (compute template `default-template`, 2 CPUs and 4 GiB a
pod) with the guide's autoscaler options: its head offers Ray no CPU (`num-cpus: 0`) and its worker
group starts empty (0 to 1 workers), so that a job asking for a CPU makes the autoscaler add a
worker, which goes again after 30 s idle. Job drivers ask for no CPU: they run on the head.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from app.types import Json
from devcluster import footprint, images, node
from tests.support.api import ok
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, fresh_namespaces
from tests.support.waiting import wait_for

NAME = "test-cluster"
WORKER_GROUP = "small-wg"
HEAD_READY_TIMEOUT = 300.0  # a first head on a 2-CPU machine: its image's first start, Ray's start


@dataclass
class RayOnNode:
    """The session's Ray cluster: where it is, and when its milestones were reached (seconds after
    its creation was sent)."""

    namespace: str
    name: str
    created: float  # time.monotonic() when the create was sent
    milestones: dict[str, float] = field(default_factory=dict)

    @property
    def head_service(self) -> str:
        return f"{self.name}-head-svc"

    def mark(self, what: str) -> None:
        self.milestones.setdefault(what, time.monotonic() - self.created)


def autoscaled_cluster_body(ns: str, name: str = NAME) -> Json:
    """The guide's `test-cluster`, with the autoscaler on and an empty worker group."""
    body = cluster_body(ns, name)
    spec = body["clusterSpec"]
    spec["headGroupSpec"]["rayStartParams"]["num-cpus"] = "0"
    spec["workerGroupSpec"][0].update(replicas=0, minReplicas=0, maxReplicas=1)
    spec["enableInTreeAutoscaling"] = True
    spec["autoscalerOptions"] = {"upscalingMode": "Default", "idleTimeoutSeconds": 30, "cpu": "500m",
                                 "memory": "512Mi"}
    return body


def load_ray_image(real_node: node.RealNode) -> None:
    """The Ray image, built on first use, under every tag of the guide, in the node's containerd."""
    images.load_ray_image(real_node.ctr())


def head_pod(api: client.ApiClient, ns: str, cluster: str) -> Any:
    pods = client.CoreV1Api(api).list_namespaced_pod(
        ns, label_selector=f"ray.io/cluster={cluster},ray.io/node-type=head").items
    return pods[0] if pods else None


def running_containers(pod: Any) -> list[str]:
    """The names of the pod's containers that run (a real process, started by containerd)."""
    return [status.name for status in (pod.status.container_statuses or [])
            if status.state.running is not None and status.container_id]


def pods_memory(api: client.ApiClient, ns: str) -> dict[str, int]:
    """Pod name -> the memory its containers use now (bytes), as the kernel counts it in the pod's
    cgroup under the real node's (usage less inactive file cache: the kubelet's "working set")."""
    used = {}
    for pod in client.CoreV1Api(api).list_namespaced_pod(ns).items:
        assert pod.metadata is not None
        assert pod.metadata.name is not None
        for top in footprint.cgroup_dirs(node.CGROUP):
            for folder in top.rglob(f"pod{pod.metadata.uid}"):
                if (bytes_used := _working_set(folder)) is not None:
                    used[pod.metadata.name] = bytes_used
    return used


def _working_set(folder: Path) -> int | None:
    """None for a folder of another hierarchy than memory's (cgroup v1 has one per controller)."""
    if (folder / "memory.current").exists():  # cgroup v2
        usage, inactive = folder / "memory.current", "inactive_file"
    elif (folder / "memory.usage_in_bytes").exists():
        usage, inactive = folder / "memory.usage_in_bytes", "total_inactive_file"
    else:
        return None
    fields = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    return int(usage.read_text()) - int(fields.get(inactive, 0))


@contextmanager
def guide_cluster_running(cluster: Cluster, real_node: node.RealNode, app: Any) -> Iterator[RayOnNode]:
    """The guide's templates and autoscaled cluster, made through the API in a namespace whose pods
    run on the real node; yields once the cluster is ready (the head's Ray is up)."""
    load_ray_image(real_node)
    with fresh_namespaces(cluster, prefix="ray", real=True) as [ns]:
        api = app.test_client()
        ok(api.post(f"/apis/v1/namespaces/{ns}/compute_templates", json=template_body(ns)))
        ray = RayOnNode(ns, NAME, time.monotonic())
        ok(api.post(f"/apis/v1/namespaces/{ns}/clusters", json=autoscaled_cluster_body(ns)))

        def ready() -> bool:
            pod = head_pod(cluster.api, ns, NAME)
            if pod is not None and "ray-head" in running_containers(pod):
                ray.mark("head container running")
            state = ok(api.get(f"/apis/v1/namespaces/{ns}/clusters/{NAME}")).get("clusterState")
            return bool(state == "ready")

        wait_for(ready, timeout=HEAD_READY_TIMEOUT, interval=1.0, what="the guide's cluster to be ready")
        ray.mark("cluster ready")
        # The first job: its submission answered, then its end (through the API server's proxy).
        jobs = f"/apis/v1/namespaces/{ns}/jobsubmissions/{NAME}"
        sid = ok(api.post(jobs, json={"entrypoint": 'python -c "print(42)"'}))["submissionId"]
        ray.mark("first job answer")
        wait_for(lambda: ok(api.get(f"{jobs}/{sid}")).get("status") == "SUCCEEDED", timeout=120, interval=0.5,
                 what="the first job to succeed")
        ray.mark("first job succeeded")
        yield ray
