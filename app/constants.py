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
