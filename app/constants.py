"""Names shared with Kubernetes and the KubeRay operator: labels, annotations, CR kinds.

Every key the server writes or reads on a Kubernetes object is spelled here once.
"""
from typing import NamedTuple


class CustomResource(NamedTuple):
    """Where a KubeRay custom resource lives in the Kubernetes API."""

    group: str
    version: str
    plural: str
    kind: str


RAYCLUSTER = CustomResource("ray.io", "v1", "rayclusters", "RayCluster")
RAYJOB = CustomResource("ray.io", "v1", "rayjobs", "RayJob")
RAYSERVICE = CustomResource("ray.io", "v1", "rayservices", "RayService")
RAYCRONJOB = CustomResource("ray.io", "v1", "raycronjobs", "RayCronJob")  # alpha: the operator's RayCronJob gate

# Ownership: objects without MANAGED_BY == COMPONENT are invisible to the API.
MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "kuberay-apiserver"
APP_NAME = "app.kubernetes.io/name"
APP_NAME_VALUE = "kuberay"
MANAGED_SELECTOR = f"{MANAGED_BY}={COMPONENT}"

# Labels on the custom resources.
CLUSTER_NAME_LABEL = "ray.io/cluster-name"
USER_LABEL = "ray.io/user"
VERSION_LABEL = "ray.io/version"
ENVIRONMENT_LABEL = "ray.io/environment"

# What the operator puts on each RayJob a RayCronJob makes (ray-operator/controllers/ray/utils/constant.go@v1.6.2).
CRONJOB_NAME_LABEL = "ray.io/cronjob-name"
CRONJOB_SCHEDULED_ANNOTATION = "ray.io/cronjob-scheduled-timestamp"

# Annotations on the custom resources and their pod templates.
CREATION_TIMESTAMP = "ray.io/creation-timestamp"
UPDATE_TIMESTAMP = "ray.io/update-timestamp"
COMPUTE_TEMPLATE_ANNOTATION = "ray.io/compute-template"
COMPUTE_IMAGE_ANNOTATION = "ray.io/compute-image"
ENABLE_SERVE_SERVICE = "ray.io/enable-serve-service"
FT_ENABLED = "ray.io/ft-enabled"

# Compute templates are ConfigMaps with these labels.
CONFIG_TYPE_LABEL = "ray.io/config-type"
CONFIG_TYPE_COMPUTE_TEMPLATE = "compute-template"
COMPUTE_TEMPLATE_LABEL = "ray.io/compute-template"
COMPUTE_TEMPLATE_SELECTOR = f"{CONFIG_TYPE_LABEL}={CONFIG_TYPE_COMPUTE_TEMPLATE}"

# Container names the operator and the server agree on.
HEAD_CONTAINER = "ray-head"
WORKER_CONTAINER = "ray-worker"
SUBMITTER_CONTAINER = "ray-job-submitter"

# Pod template annotations and labels that the server, the operator or the network add:
# never returned as a node group's own `annotations` / `labels` when a RayCluster is read back.
HIDDEN_POD_ANNOTATIONS = frozenset({
    COMPUTE_IMAGE_ANNOTATION,
    COMPUTE_TEMPLATE_ANNOTATION,
    FT_ENABLED,
    "ray.io/health-state",
    "openshift.io/scc",
    "cni.projectcalico.org/podIP",
    "cni.projectcalico.org/podIPs",
    "cni.projectcalico.org/containerID",
    "k8s.v1.cni.cncf.io/network-status",
    "k8s.v1.cni.cncf.io/networks-status",
})
HIDDEN_POD_LABELS = frozenset({
    APP_NAME,
    "app.kubernetes.io/created-by",
    "ray.io/cluster",
    "ray.io/cluster-dashboard",
    "ray.io/group",
    "ray.io/identifier",
    "ray.io/is-ray-node",
    "ray.io/node-type",
})

# A RayService created from a v1.0.0 `serveDeploymentGraphSpec` keeps the request's graph spec
# (compact JSON) and the SHA-256 of the `serveConfigV2` generated from it: GET returns the graph
# spec only while `spec.serveConfigV2` is still that generated text.
SERVE_DEPLOYMENT_GRAPH_SPEC = "ray.io/serve-deployment-graph-spec"
SERVE_CONFIG_DIGEST = "ray.io/serve-config-v2-sha256"
