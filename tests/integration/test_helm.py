"""helm/kuberay-apiserver: linted and rendered by the real helm, every object accepted by the real
kube-apiserver in a server-side dry run, and every value documented.

What the RBAC rules are worth is proven in test_rbac.py, with a real token.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from kubernetes import client

from app.settings import Settings
from tests.conftest import Cluster, wait_for
from tests.integration.chart import CHART, Helm, Json, create, of_kind, unique_name

ROOT = Path(__file__).parents[2]
VARIANTS = {
    "default": [],
    "single-namespace": ["singleNamespaceInstall=true"],
    "cluster-ip": ["service.type=ClusterIP"],
    "v2-off": ["enableAPIServerV2=false"],
}
# How many objects of each kind: with V2 (the default), the roles and bindings come in pairs.
SERVER = {"ServiceAccount": 1, "Service": 1, "Deployment": 1, "Pod": 1}  # (the Pod: the chart test)
KINDS = {
    "default": Counter(SERVER, ClusterRole=2, ClusterRoleBinding=2),
    "single-namespace": Counter(SERVER, Role=2, RoleBinding=2),
    "cluster-ip": Counter(SERVER, ClusterRole=2, ClusterRoleBinding=2),
    "v2-off": Counter(SERVER, ClusterRole=1, ClusterRoleBinding=1),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_helm_lint_passes(helm: Helm, variant: str) -> None:
    args = ["lint", "--strict", str(CHART)] + [a for v in VARIANTS[variant] for a in ("--set", v)]
    result = helm.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_is_accepted_by_the_api_server(
    helm: Helm, cluster: Cluster, namespace: str, variant: str
) -> None:
    objects = helm.template(namespace, f"name={unique_name()}", *VARIANTS[variant])
    assert Counter(obj["kind"] for obj in objects) == KINDS[variant]
    core = client.CoreV1Api(cluster.api)
    # The ServiceAccount admission of the chart-test Pod needs the namespace's default account.
    wait_for(lambda: core.list_namespaced_service_account(namespace).items, what="default account")

    accepted = create(cluster.api, objects, dry_run=True)

    assert [(o["kind"], o["metadata"]["name"]) for o in accepted] == \
        [(o["kind"], o["metadata"]["name"]) for o in objects]
    for obj in accepted:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]


def test_service_is_upstreams_node_ports(helm: Helm) -> None:
    [service] = of_kind(helm.template("ray-system"), "Service")
    assert service["metadata"]["name"] == "kuberay-apiserver-service"
    assert service["spec"]["type"] == "NodePort"
    ports = {p["name"]: (p["port"], p["targetPort"], p["nodePort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (8888, 8888, 31888), "rpc": (8887, 8887, 31887)}
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/path": "/metrics", "prometheus.io/port": "8888"}
    [cluster_ip] = of_kind(helm.template("ray-system", "service.type=ClusterIP"), "Service")
    assert all("nodePort" not in p for p in cluster_ip["spec"]["ports"])


def bindings(objects: list[Json], kind: str) -> dict[str, tuple[str, list[Json]]]:
    """Each binding of `kind` + "Binding": the role it binds, by name, and its subjects."""
    found = {}
    for binding in of_kind(objects, f"{kind}Binding"):
        assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
        assert binding["roleRef"]["kind"] == kind
        found[binding["metadata"]["name"]] = (binding["roleRef"]["name"], binding["subjects"])
    return found


def test_v2_has_its_own_role_bound_to_the_servers_account(helm: Helm) -> None:
    account = [{"kind": "ServiceAccount", "name": "kuberay-apiserver", "namespace": "ray-system"}]
    objects = helm.template("ray-system")
    assert [r["metadata"]["name"] for r in of_kind(objects, "ClusterRole")] == \
        ["kuberay-apiserver", "kuberay-apiserver-v2"]
    assert bindings(objects, "ClusterRole") == {"kuberay-apiserver": ("kuberay-apiserver", account),
                                                "kuberay-apiserver-v2": ("kuberay-apiserver-v2", account)}
    [v2_role] = [r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"].endswith("-v2")]
    assert [rule["apiGroups"] for rule in v2_role["rules"]] == [["ray.io"], ["events.k8s.io"], [""], [""]]

    v2_off = helm.template("ray-system", "enableAPIServerV2=false")
    assert [r["metadata"]["name"] for r in of_kind(v2_off, "ClusterRole")] == ["kuberay-apiserver"]
    assert bindings(v2_off, "ClusterRole") == {"kuberay-apiserver": ("kuberay-apiserver", account)}
    [main_role] = [r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == "kuberay-apiserver"]
    assert of_kind(v2_off, "ClusterRole") == [main_role]  # V2 leaves the first role as it is


def test_single_namespace_mode_grants_nothing_cluster_wide(helm: Helm) -> None:
    objects = helm.template("team-a", "singleNamespaceInstall=true")
    roles = of_kind(objects, "Role")
    assert [r["metadata"]["name"] for r in roles] == ["kuberay-apiserver", "kuberay-apiserver-v2"]
    assert {r["metadata"]["namespace"] for r in roles + of_kind(objects, "RoleBinding")} == {"team-a"}
    assert {name: role for name, (role, _) in bindings(objects, "Role").items()} == \
        {"kuberay-apiserver": "kuberay-apiserver", "kuberay-apiserver-v2": "kuberay-apiserver-v2"}
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")
    assert not of_kind(helm.template("team-a", "rbacEnable=false"), "Role")
    assert not of_kind(helm.template("ray-system", "rbacEnable=false"), "ClusterRole")


def test_deployment_runs_locked_down_with_probes(helm: Helm) -> None:
    objects = helm.template("ray-system", "logLevel=DEBUG", "workers=3", "jobSubmissions.dashboardTimeout=3",
                            "maxWorkersPerCluster=20000000",
                            strings=("extraEnv[0].name=KUBERAY_API_K8S_TIMEOUT", "extraEnv[0].value=20"))
    [deployment] = of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["serviceAccountName"] == of_kind(objects, "ServiceAccount")[0]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "500Mi"}
    assert pod["terminationGracePeriodSeconds"] > 30  # above gunicorn's graceful timeout
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KUBERAY_API_LOG_LEVEL"] == "DEBUG" and env["KUBERAY_API_WORKERS"] == "3"
    assert env["KUBERAY_API_PORT"] == "8888" and env["KUBERAY_API_K8S_TIMEOUT"] == "20"
    assert env["KUBERAY_API_DASHBOARD_TIMEOUT"] == "3"
    assert env["KUBERAY_API_DASHBOARD_URL"] == "http://{service}.{namespace}.svc.cluster.local:{port}"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8888, "rpc": 8887}
    assert env["KUBERAY_API_GRPC_BIND"] == "0.0.0.0:8887"  # the Service's `rpc` port targets it
    settings = Settings.from_env(env)  # large numbers too are rendered as the server reads them
    assert (settings.job_log_limit, settings.max_workers_per_cluster) == (8 * 1024 * 1024, 20000000)
    assert set(env) <= names_the_server_reads()  # a misspelt variable would be ignored silently


def container_env(helm: Helm, *values: str) -> dict[str, str]:
    """The server container's environment as the chart renders it with `values` set."""
    [deployment] = of_kind(helm.template("ray-system", *values), "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_grpc_follows_the_rpc_container_port_or_is_off(helm: Helm) -> None:
    def grpc_bind(*values: str) -> str:
        return container_env(helm, *values)["KUBERAY_API_GRPC_BIND"]

    assert grpc_bind("containerPort[0].name=http", "containerPort[0].containerPort=8888",
                     "containerPort[1].name=rpc", "containerPort[1].containerPort=9887") == "0.0.0.0:9887"
    assert grpc_bind("grpc=false") == "off"
    assert Settings.from_env({"KUBERAY_API_GRPC_BIND": grpc_bind("grpc=false")}).grpc_bind == ""


def test_v2_and_cors_follow_their_values(helm: Helm) -> None:
    def v2_and_cors(*values: str) -> tuple[str, str]:
        env = container_env(helm, *values)
        return env["KUBERAY_API_V2"], env["KUBERAY_API_CORS_ALLOW_ORIGIN"]

    assert v2_and_cors() == ("true", "")  # upstream's defaults: V2 on, no CORS
    assert v2_and_cors("enableAPIServerV2=false") == ("false", "")
    assert v2_and_cors("cors.allowOrigin=*") == ("true", "*")
    both = "https://a.example,https://b.example"
    assert v2_and_cors(r"cors.allowOrigin=https://a.example\,https://b.example") == ("true", both)
    assert v2_and_cors("cors.allowOrigin={https://a.example,https://b.example}") == ("true", both)
    # as the server reads them
    default = Settings.from_env(container_env(helm))
    assert (default.v2, default.cors_origins) == (True, ())
    chosen = Settings.from_env(container_env(helm, "enableAPIServerV2=false",
                                             "cors.allowOrigin={https://a.example,https://b.example}"))
    assert (chosen.v2, chosen.cors_origins) == (False, ("https://a.example", "https://b.example"))


def names_the_server_reads() -> set[str]:
    sources = (ROOT / "app" / "settings.py", ROOT / "gunicorn.conf.py")
    return {name for path in sources for name in re.findall(r"KUBERAY_API_[A-Z0-9_]+", path.read_text())}


# -- documentation ------------------------------------------------------------------------------

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")


def values_keys(text: str) -> list[tuple[str, bool, bool]]:
    """(dotted path, documented by a `# --` comment right above, is a leaf) for every map key
    outside list items; a list or a verbatim Kubernetes object under a documented key is one value."""
    lines = text.splitlines()
    found: list[tuple[str, bool, bool]] = []
    stack: list[tuple[int, str]] = []
    list_floor: int | None = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped.startswith("- "):
            list_floor = indent if list_floor is None else min(list_floor, indent)
            continue
        match = KEY.match(line)
        if not match:
            continue
        if list_floor is not None:
            if indent > list_floor:
                continue  # a key inside a list item
            list_floor = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        comments = []
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#"):
            comments.append(lines[j].strip())
            j -= 1
        following = next((line for line in lines[i + 1:] if line.strip() and not line.lstrip().startswith("#")), "")
        deeper_key = (len(following) - len(following.lstrip()) > indent
                      and not following.lstrip().startswith("- "))
        leaf = bool(match["rest"].strip()) or not deeper_key
        found.append((".".join(k for _, k in stack), any(c.startswith("# --") for c in comments), leaf))
    return found


def test_every_value_is_documented() -> None:
    keys = values_keys((CHART / "values.yaml").read_text())
    documented = {path for path, doc, _ in keys if doc}
    covered = lambda path: any(path == d or path.startswith(d + ".") for d in documented)  # noqa: E731
    assert {"name", "image.repository", "service.ports", "singleNamespaceInstall"} <= documented
    assert [path for path, _, leaf in keys if leaf and not covered(path)] == []
    deploy = (ROOT / "README.md").read_text().partition("## Deploy")[2]
    assert [path for path in sorted(documented) if f"`{path}`" not in deploy] == []


def test_values_checker_sees_an_undocumented_key() -> None:
    text = "# -- documented\na: 1\nb:\n  # -- documented\n  c: 2\n  d: 3\nlist:\n  - e: 4\n"
    keys = values_keys(text)
    assert [(p, doc) for p, doc, leaf in keys if leaf] == [("a", True), ("b.c", True), ("b.d", False),
                                                          ("list", False)]
