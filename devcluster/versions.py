"""Every pinned version of the local control plane, in one place.

Upgrading Kubernetes, etcd, kwok or the KubeRay operator is one edit here followed by
`python -m devcluster pin`, which rewrites the go.mod/go.sum files under gomod/.
"""

KUBERNETES = "v1.37.2"
# The staging modules (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
KUBERNETES_STAGING = "v0." + KUBERNETES.removeprefix("v1.")
ETCD = "v3.7.3"
KWOK = "v0.8.0"
KUBERAY = "v1.6.2"
# The real node's cluster DNS, built with only the plugins its Corefile uses (gomod/coredns/main.go).
COREDNS = "v1.15.0"
# crictl: the real node's pods removed through containerd's CRI when the node stops.
CRI_TOOLS = "v1.37.0"
# The sandbox ("pause") image the real node's containerd runs for each pod: built here from the
# Kubernetes module's own build/pause/linux/pause.c, under the name the kubelet of this
# Kubernetes version expects.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
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
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    },
    "etcd": {"etcd": "."},
    "kwok": {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
    "kuberay": {"ray-operator": "github.com/ray-project/kuberay/ray-operator"},
    "helm": {"helm": "helm.sh/helm/v4/cmd/helm"},
    "coredns": {"coredns": "."},
    "cri-tools": {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
}

# Linker flags of each module beyond -s -w: the Kubernetes components report the pinned version,
# as a release build's do (hack/lib/version.sh), not "v0.0.0-master" (charts check kubeVersion).
_K8S_MINOR = KUBERNETES.split(".")[1]
LDFLAGS: dict[str, list[str]] = {
    "kubernetes": [f"-X k8s.io/component-base/version.{name}={value}" for name, value in (
        ("gitVersion", KUBERNETES), ("gitMajor", "1"), ("gitMinor", _K8S_MINOR),
        ("gitTreeState", "clean"))],
}

# The modules the control plane runs (`make run`, `make cluster`); helm is built when a test needs it.
CONTROL_PLANE = ("kubernetes", "etcd", "kwok", "kuberay")
# What the real node adds to it (built where a real node can run).
REAL_NODE = ("coredns", "cri-tools")

# Module whose source tree ships files the control plane needs besides binaries.
KWOK_MODULE = "sigs.k8s.io/kwok"
KUBERAY_MODULE = "github.com/ray-project/kuberay/ray-operator"
