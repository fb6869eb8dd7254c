"""The Helm chart (helm/kuberay-apiserver) as the tests use it: rendered by the real helm, built
from its Go module by devcluster, and sent to the real API server as the administrator.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, dynamic

from app.types import Json
from tests.support.kube import Cluster, account_token, api_client

ROOT = Path(__file__).parents[2]
CHART = ROOT / "helm" / "kuberay-apiserver"


class Helm:
    """The helm binary with its own empty home: no user's repositories, plugins or contexts."""

    @classmethod
    def built(cls, home: Path) -> Helm:
        """devcluster's helm, built from its Go module on first use (cached after)."""
        from devcluster import build

        return cls(build.build_all(build.cache_root() / "logs", ["helm"])["helm"], home)

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(home / "no-kubeconfig"),  # template and lint need no cluster
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], env=self.env, capture_output=True,
                              text=True, timeout=120)

    def template(self, namespace: str, *sets: str, strings: tuple[str, ...] = (),
                 release: str = "kr") -> list[Json]:
        """Every object of the chart for `release` in `namespace`, chart tests included."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        for value in sets:
            args += ["--set", value]
        for value in strings:
            args += ["--set-string", value]
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def unique_name() -> str:
    """The chart names cluster-scoped objects after `name`: each test installs its own."""
    return f"kr-{uuid.uuid4().hex[:8]}"


def of_kind(objects: Iterable[Json], kind: str) -> list[Json]:
    return [obj for obj in objects if obj["kind"] == kind]


def create(api: client.ApiClient, objects: Iterable[Json], dry_run: bool = False) -> list[Json]:
    """POST each object as the API server's administrator; strict field validation, so that a
    misspelt field is refused rather than dropped. A dry run is checked in full but not stored."""
    dyn = dynamic.DynamicClient(api)
    created = []
    for obj in objects:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        options: dict[str, Any] = {"query_params": [("fieldValidation", "Strict")]}
        if dry_run:
            options["dry_run"] = "All"
        namespace = obj["metadata"].get("namespace") if resource.namespaced else None
        created.append(resource.create(body=obj, namespace=namespace, **options).to_dict())
    return created


def delete_cluster_scoped(api: client.ApiClient, objects: Iterable[Json]) -> None:
    """Namespaced objects go with the test's namespace; the cluster roles must be removed."""
    dyn = dynamic.DynamicClient(api)
    for obj in objects:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        if not resource.namespaced:
            try:
                resource.delete(name=obj["metadata"]["name"])
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


# -- the chart's identity, installed ----------------------------------------------------------

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
ROLE_KINDS = ("ClusterRole", "Role")


@dataclass
class Identity:
    """The chart's ServiceAccount, as the server would run in the cluster."""

    kubeconfig: Path
    username: str
    name: str  # the chart's `name`
    roles: dict[str, Json]  # the ClusterRoles or Roles as installed, by name

    @property
    def role(self) -> Json:
        """The first role, `<name>`: the calls app/k8s makes."""
        return self.roles[self.name]

    @property
    def v2_role(self) -> Json:
        """The V2 API's role, `<name>-v2`."""
        return self.roles[f"{self.name}-v2"]

    def api(self) -> client.ApiClient:
        return api_client(self.kubeconfig)


@contextmanager
def chart_identity(cluster: Cluster, helm: Helm, namespace: str, workdir: Path,
                   *sets: str, only_v2: bool = False) -> Iterator[Identity]:
    """The chart's account and roles, installed; `only_v2`: the V2 role and binding alone."""
    chart_name = unique_name()
    objects = [o for o in helm.template(namespace, f"name={chart_name}", *sets)
               if o["kind"] in RBAC_KINDS and not (
                   only_v2 and o["kind"] != "ServiceAccount" and o["metadata"]["name"] != f"{chart_name}-v2")]
    create(cluster.api, objects)
    try:
        [account] = of_kind(objects, "ServiceAccount")
        name = account["metadata"]["name"]
        kubeconfig = workdir / f"{name}.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": "devcluster", "cluster": {
                "server": cluster.server, "certificate-authority": str(cluster.ca_file)}}],
            "users": [{"name": name, "user": {"token": account_token(cluster.api, namespace, name)}}],
            "contexts": [{"name": name, "context": {"cluster": "devcluster", "user": name}}],
        }))
        roles = {o["metadata"]["name"]: o for o in objects if o["kind"] in ROLE_KINDS}
        yield Identity(kubeconfig, f"system:serviceaccount:{namespace}:{name}", chart_name, roles)
    finally:
        delete_cluster_scoped(cluster.api, objects)


# -- a role's permissions, one at a time ----------------------------------------------------------

def atoms(role: Json) -> list[tuple[str, str, str]]:
    """(API group, resource, verb) for every permission a role grants."""
    return sorted((group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
                  for resource in rule["resources"] for verb in rule["verbs"])


def without(role: Json, atom: tuple[str, str, str]) -> list[Json]:
    return [{"apiGroups": [group], "resources": [resource], "verbs": [verb]}
            for group, resource, verb in atoms(role) if (group, resource, verb) != atom]


def allowed(cluster: Cluster, user: str, atom: tuple[str, str, str], namespace: str) -> bool:
    """Whether Kubernetes lets `user` (a ServiceAccount) do `atom` in `namespace` now."""
    group, resource, verb = atom
    resource, _, subresource = resource.partition("/")
    review = client.AuthorizationV1Api(cluster.api).create_subject_access_review(
        client.V1SubjectAccessReview.model_validate({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": ["system:serviceaccounts", "system:authenticated"],
                     "resourceAttributes": {"group": group, "resource": resource, "subresource": subresource,
                                            "verb": verb, "namespace": namespace}}}))
    assert review.status is not None
    return review.status.allowed
