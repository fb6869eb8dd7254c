"""A real local Kubernetes control plane with the KubeRay operator, for running and testing.

Built from the pinned upstream Go modules (see versions.py) and started on loopback:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok fake nodes and the
KubeRay operator. Separate from the server code; the server only ever sees a kubeconfig.
"""
from .cluster import ControlPlane
from .errors import ComponentError

__all__ = ["ControlPlane", "ComponentError"]
