"""The upstream KubeRay APIServer user guide's request bodies (tests/fixtures/seed/), fresh for each
call, in the test's namespace (every test runs in its own) and under the name it gives, and a minimal
RayCluster for objects planted past our server."""
from __future__ import annotations

import copy

from app.types import Json
from tests.support.fixture_pairs import seed


def container(pod_template: Json) -> Json:
    first: Json = pod_template["spec"]["containers"][0]
    return first


def raycluster_spec(name: str = "plain") -> Json:
    """A minimal valid RayCluster spec, for objects planted past our server."""
    pod = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.7.0"}]}}
    return {"rayVersion": "2.7.0", "headGroupSpec": {"rayStartParams": {}, "template": pod}}


def _guide(number: int, ns: str, name: str) -> Json:
    """The guide's request `number`, in namespace `ns`, named `name`."""
    body: Json = copy.deepcopy(seed(number)["request"])
    body.update(name=name, namespace=ns)
    return body


SERVE_CONFIG_V2: str = seed(23)["request"]["serveConfigV2"]  # the guide's fruit and calc apps


def template_body(ns: str, name: str = "default-template") -> Json:
    return _guide(4, ns, name)


def cluster_body(ns: str, name: str = "test-cluster") -> Json:
    return _guide(9, ns, name)


def volumes_cluster_body(ns: str, name: str = "job-test") -> Json:
    """The cluster of the guide's job examples, which mounts its code from a ConfigMap."""
    return _guide(15, ns, name)


def job_body(ns: str, name: str = "rayjob-test") -> Json:
    return _guide(14, ns, name)


def selector_job_body(ns: str, submitter: bool = True, name: str = "job-test") -> Json:
    """The guide's job on an existing cluster (`clusterSelector`), with its submitter's image or without."""
    return _guide(17 if submitter else 16, ns, name)


def service_body(ns: str, name: str = "test-v2") -> Json:
    return _guide(23, ns, name)


def graph_service_body(ns: str, name: str = "test-v1") -> Json:
    """The README's deployment-graph (v1.0.0) form; v1.7.0 no longer has `serveDeploymentGraphSpec`."""
    return _guide(22, ns, name)
