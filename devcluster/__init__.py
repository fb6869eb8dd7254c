"""A real local Kubernetes control plane with the KubeRay operator, for running and testing.

Built from the pinned upstream Go modules (see versions.py) and started on loopback:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok fake nodes, the
KubeRay operator and, where the machine allows, a real node that runs containers (node.py).
Separate from the server code; the server only ever sees a kubeconfig.
"""
from .cluster import ControlPlane, kwok_namespace
from .errors import ComponentError

__all__ = ["ControlPlane", "ComponentError", "kwok_namespace"]
