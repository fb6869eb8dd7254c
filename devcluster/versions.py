"""Every pinned version of the local control plane, in one place.

Upgrading Kubernetes, etcd, kwok or the KubeRay operator is one edit here followed by
`python -m devcluster pin`, which rewrites the go.mod/go.sum files under gomod/.
"""

KUBERNETES = "v1.37.2"
# The staging modules (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
KUBERNETES_STAGING = "v0." + KUBERNETES.removeprefix("v1.")
ETCD = "v3.7.3"
KWOK = "v0.8.0"
KUBERAY = "v1.5.0"
# Not part of the control plane: the chart tests render and lint helm/ with the real helm.
HELM = "v4.3.1"

# The go command must use the machine's toolchain: every module above builds with Go 1.26.
GOTOOLCHAIN = "local"

# What each Go module under gomod/ builds: binary name -> package path.
BINARIES: dict[str, dict[str, str]] = {
    "kubernetes": {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    },
    "etcd": {"etcd": "."},
    "kwok": {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
    "kuberay": {"ray-operator": "github.com/ray-project/kuberay/ray-operator"},
    "helm": {"helm": "helm.sh/helm/v4/cmd/helm"},
}

# The modules the control plane runs (`make run`, `make cluster`); helm is built when a test needs it.
CONTROL_PLANE = ("kubernetes", "etcd", "kwok", "kuberay")

# Module whose source tree ships files the control plane needs besides binaries.
KWOK_MODULE = "sigs.k8s.io/kwok"
KUBERAY_MODULE = "github.com/ray-project/kuberay/ray-operator"
