"""Kubernetes as the control plane's administrator: what a test needs to reach it, namespaces of
a test's own, and what the API server holds, read and written past our server (to see what the
server wrote and to plant objects it did not write)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config

from app.types import Json
from devcluster import ControlPlane, kwok_namespace
from tests.support.net import closed_port
from tests.support.waiting import wait_for

T = TypeVar("T")

# The labels of the objects the server manages.
MANAGED = {"app.kubernetes.io/managed-by": "kuberay-apiserver", "app.kubernetes.io/name": "kuberay"}
# The V1 API's kinds of KubeRay objects -> their resources in Kubernetes.
PLURALS = {"clusters": "rayclusters", "jobs": "rayjobs", "services": "rayservices", "cronjobs": "raycronjobs"}
STAMPS = ("ray.io/creation-timestamp", "ray.io/update-timestamp")  # annotations: when the server wrote


@dataclass
class Cluster:
    """What a test needs to reach the control plane as its administrator."""

    kubeconfig: Path
    server: str
    ca_file: Path
    api: client.ApiClient
    plane: ControlPlane | None = None  # the session's (None with TEST_KUBECONFIG)
    machine_before: dict[str, list[str]] | None = None  # what the machine held before the real node


def unreachable_kubeconfig(cluster: Cluster, folder: Path) -> Path:
    """A copy of the cluster's kubeconfig, in `folder`, whose server is a closed loopback port."""
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{closed_port()}"
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


@contextmanager
def fresh_namespaces(cluster: Cluster, count: int = 1, prefix: str = "it",
                     real: bool = False) -> Iterator[list[str]]:
    """Namespaces of the caller's own, deleted afterwards with all they hold; their pods go to the
    kwok nodes, or with `real` to the real node (the cluster's default)."""
    core = client.CoreV1Api(cluster.api)
    names = [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    for name in names:
        core.create_namespace(client.V1Namespace.model_validate(
            {"metadata": {"name": name}} if real else kwok_namespace(name)))
    try:
        yield names
    finally:
        for name in names:
            core.delete_namespace(name)


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A client of the control plane that `kubeconfig` names, as the user it holds."""
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
    return api


def present(value: T | None, what: str = "the object") -> T:
    """A read the test expects to find something (a `Kube.get` of an object it made, ...)."""
    assert value is not None, f"{what} is missing"
    return value


RAYSERVICE_FINALIZER = "ray.io/rayservice-finalizer"


def finalized_rayservice(kube: Kube, namespace: str, name: str) -> Json:
    """The RayService once the operator has put its finalizer on. KubeRay 1.6 does that with a
    whole update of the object, its spec read through its Go types (empty fields such as a
    `divisor` written out: a new generation), so a test comparing the spec before and after a write
    of its own takes "before" from here."""
    return wait_for(lambda: kube.get("rayservices", namespace, name), timeout=30,
                    what=f"the operator's finalizer on RayService {name}",
                    until=lambda obj: RAYSERVICE_FINALIZER in (obj["metadata"].get("finalizers") or []))


def raw(answer: object) -> urllib3.BaseHTTPResponse:
    """The answer of a call made with `_preload_content=False`: the client returns the HTTP response
    itself then, not the model its annotation names."""
    assert isinstance(answer, urllib3.BaseHTTPResponse), type(answer)
    return answer


def json_object(answer: object) -> Json:
    """A JSON object the client answers untyped (its custom-object calls answer `object`)."""
    assert isinstance(answer, dict), answer
    return answer


def account_with_role(api: client.ApiClient, namespace: str, name: str, rules: list[Json]) -> None:
    """A ServiceAccount `name`, bound to a Role of the same name and `rules`, in `namespace`: a
    caller of the API in the `kubernetes` auth mode."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount.model_validate(
        {"metadata": {"name": name}}))
    rbac.create_namespaced_role(namespace, client.V1Role.model_validate({"metadata": {"name": name}, "rules": rules}))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding.model_validate({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]}))


def account_token(api: client.ApiClient, namespace: str, account: str, seconds: int = 3600,
                  bound_to: Json | None = None) -> str:
    """A token of the ServiceAccount (TokenRequest), valid `seconds`; `bound_to`, an object
    reference (a pod), makes it a token bound to that object, as a pod's own token is."""
    spec: Json = {"expirationSeconds": seconds, **({"boundObjectRef": bound_to} if bound_to else {})}
    request = client.CoreV1Api(api).create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest.model_validate({"spec": spec}))
    assert request.status is not None
    assert request.status.token is not None
    return request.status.token


def pod_exec(api: client.ApiClient, namespace: str, pod: str, command: list[str],
             container: str | None = None) -> str:
    """A command run in a pod's container, through the API server, the kubelet and containerd
    (real pods only: kwok runs nothing); its stdout and stderr."""
    from kubernetes.stream import stream

    options = {"container": container} if container else {}
    return str(stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, command=command,
                      stderr=True, stdout=True, stdin=False, tty=False, **options))


class Kube:
    """What the API server holds, read and written past our server."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def get(self, plural: str, ns: str, name: str) -> Json | None:
        try:
            return json_object(self.custom.get_namespaced_custom_object("ray.io", "v1", ns, plural, name))
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def items(self, plural: str, ns: str, selector: str = "") -> list[Json]:
        items: list[Json] = json_object(self.custom.list_namespaced_custom_object(
            "ray.io", "v1", ns, plural, label_selector=selector))["items"]
        return items

    def create(self, plural: str, ns: str, body: Json) -> Json:
        kind = {"rayclusters": "RayCluster", "rayjobs": "RayJob", "rayservices": "RayService",
                "raycronjobs": "RayCronJob"}[plural]
        return json_object(self.custom.create_namespaced_custom_object(
            "ray.io", "v1", ns, plural, {"apiVersion": "ray.io/v1", "kind": kind, **body}))

    def plant(self, kind: str, ns: str, spec: Json, names: list[str]) -> None:
        """Objects of a V1 kind that the server manages (by their labels) but did not write, as
        kubectl or the operator write them."""
        for name in names:
            self.create(PLURALS[kind], ns, {"metadata": {"name": name, "labels": dict(MANAGED)}, "spec": spec})

    def configmap(self, ns: str, name: str) -> Json | None:
        try:
            return json_object(self.core.api_client.sanitize_for_serialization(
                self.core.read_namespaced_config_map(name, ns)))
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise


def without_operator_defaults(value: Any) -> Any:
    """The operator writes a RayJob back soon after its creation, with the zero values of its Go
    types filled in (`scaleStrategy: {}`, `divisor: "0"`): whether a read comes before or after
    that is timing, so both read as the object without them."""
    if isinstance(value, dict):
        return {key: without_operator_defaults(item) for key, item in value.items()
                if item != {} and not (key == "divisor" and item == "0")}
    if isinstance(value, list):
        return [without_operator_defaults(item) for item in value]
    return value

