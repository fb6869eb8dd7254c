"""helm/kuberay-apiserver: linted and rendered by the real helm, every object accepted by the real
kube-apiserver in a server-side dry run, and every value documented.

What the RBAC rules are worth is proven in test_rbac.py, with a real token.
"""
from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest
from kubernetes import client

from app.k8s import K8s
from app.settings import Settings
from app.translate.job_submissions import IN_CLUSTER_URL, dashboard_route
from app.types import Json
from tests.support.chart import CHART, Helm, create, of_kind, unique_name
from tests.support.kube import Cluster
from tests.support.served import gunicorn
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]
VARIANTS = {
    "default": [],
    "single-namespace": ["singleNamespaceInstall=true"],
    "cluster-ip": ["service.type=ClusterIP"],
    "v2-off": ["enableAPIServerV2=false"],
    "auth-kubernetes": ["auth.mode=kubernetes"],
    "auth-kubernetes-single-namespace": ["auth.mode=kubernetes", "singleNamespaceInstall=true"],
    "auth-token": ["auth.mode=token", "auth.token=s3cret"],
    "auth-token-existing-secret": ["auth.mode=token", "auth.existingSecret=my-token"],
    "ray-token-auth": ["rayTokenAuth=true"],
    "ray-token-auth-single-namespace-named": ["rayTokenAuth=true", "singleNamespaceInstall=true",
                                              "rayTokenSecretNames={team-token,other-token}"],
}
# How many objects of each kind: with V2 (the default), the roles and bindings come in pairs; the
# `kubernetes` auth mode adds a third pair, cluster-wide whatever the install; the `token` mode a
# Secret, unless the token is in a Secret of one's own.
SERVER = {"ServiceAccount": 1, "Service": 1, "Deployment": 1, "Pod": 1}  # (the Pod: the chart test)


def with_server(**kinds: int) -> Counter[str]:
    return Counter({**SERVER, **kinds})


KINDS = {
    "default": with_server(ClusterRole=2, ClusterRoleBinding=2),
    "single-namespace": with_server(Role=2, RoleBinding=2),
    "cluster-ip": with_server(ClusterRole=2, ClusterRoleBinding=2),
    "v2-off": with_server(ClusterRole=1, ClusterRoleBinding=1),
    "auth-kubernetes": with_server(ClusterRole=3, ClusterRoleBinding=3),
    "auth-kubernetes-single-namespace": with_server(Role=2, RoleBinding=2, ClusterRole=1, ClusterRoleBinding=1),
    "auth-token": with_server(Secret=1, ClusterRole=2, ClusterRoleBinding=2),
    "auth-token-existing-secret": with_server(ClusterRole=2, ClusterRoleBinding=2),
    "ray-token-auth": with_server(ClusterRole=2, ClusterRoleBinding=2),
    "ray-token-auth-single-namespace-named": with_server(Role=2, RoleBinding=2),
}
# Secrets of one's own the variants name (auth.existingSecret), as the server would read them.
OWN_SECRETS = {"my-token": {"token": "t0ken-of-my-own"}}


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
    # The ServiceAccount admission of the chart-test Pod needs its account: the namespace's default
    # one, or (auth.mode=kubernetes) the server's, which is therefore created for real.
    wait_for(lambda: core.list_namespaced_service_account(namespace).items, what="default account")
    accounts = of_kind(objects, "ServiceAccount")
    others = [o for o in objects if o["kind"] != "ServiceAccount"]

    accepted = create(cluster.api, accounts) + create(cluster.api, others, dry_run=True)

    assert [(o["kind"], o["metadata"]["name"]) for o in accepted] == \
        [(o["kind"], o["metadata"]["name"]) for o in accounts + others]
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


def test_the_service_selects_the_servers_pods_and_not_the_chart_test(helm: Helm) -> None:
    """The chart test's pod has no readiness probe, so it would be a ready endpoint while it runs:
    the Service would send requests (its own among them) to a pod where nothing listens."""
    objects = helm.template("ray-system")
    [service], [deployment], [test] = (of_kind(objects, kind) for kind in ("Service", "Deployment", "Pod"))
    selector = service["spec"]["selector"].items()
    assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector == deployment["spec"]["selector"]["matchLabels"].items()
    assert not selector <= test["metadata"]["labels"].items()


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
    assert [rule["apiGroups"] for rule in v2_role["rules"]] == [["ray.io"], ["events.k8s.io"], [""], [""], [""]]

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
    assert not of_kind(objects, "ClusterRole")
    assert not of_kind(objects, "ClusterRoleBinding")
    assert not of_kind(helm.template("team-a", "rbacEnable=false"), "Role")
    assert not of_kind(helm.template("ray-system", "rbacEnable=false"), "ClusterRole")


def test_ray_token_auth_grants_get_on_secrets_alone_and_only_when_asked(helm: Helm) -> None:
    """Reading Secrets is the one permission the server takes only for clusters with Ray token
    authentication: off by default, `get` alone when on, narrowed to names when given."""
    def secret_rules(*values: str) -> list[Json]:
        objects = helm.template("team-a", *values)
        roles = [r for r in of_kind(objects, "ClusterRole") + of_kind(objects, "Role")
                 if r["metadata"]["name"] == "kuberay-apiserver"]
        return [rule for rule in roles[0]["rules"] if "secrets" in rule["resources"]]

    assert secret_rules() == []
    assert secret_rules("rayTokenSecretNames={a}") == []  # the names alone grant nothing
    assert secret_rules("rayTokenAuth=true") == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert secret_rules("rayTokenAuth=true", "singleNamespaceInstall=true", "rayTokenSecretNames={team-token}") == \
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["team-token"]}]


def test_deployment_runs_locked_down_with_probes(helm: Helm) -> None:
    objects = helm.template("ray-system", "logLevel=DEBUG", "workers=3", "jobSubmissions.dashboardTimeout=3",
                            "maxWorkersPerCluster=20000000",
                            strings=("extraEnv[0].name=KUBERAY_API_K8S_TIMEOUT", "extraEnv[0].value=20"))
    [deployment] = of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["serviceAccountName"] == of_kind(objects, "ServiceAccount")[0]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "500Mi"}
    # A terminating pod serves on for preStopSleep seconds (until the Service's endpoints let it
    # go), then gunicorn gets its graceful timeout: the grace period covers both.
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert pod["terminationGracePeriodSeconds"] > 5 + 30
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KUBERAY_API_LOG_LEVEL"] == "DEBUG"
    assert env["KUBERAY_API_WORKERS"] == "3"
    assert env["KUBERAY_API_PORT"] == "8888"
    assert env["KUBERAY_API_K8S_TIMEOUT"] == "20"
    assert env["KUBERAY_API_DASHBOARD_TIMEOUT"] == "3"
    assert env["KUBERAY_API_DASHBOARD_URL"] == ""  # the head Services by cluster DNS: see below
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8888, "rpc": 8887}
    assert env["KUBERAY_API_GRPC_BIND"] == "0.0.0.0:8887"  # the Service's `rpc` port targets it
    settings = Settings.from_env(env)  # large numbers too are rendered as the server reads them
    assert (settings.job_log_limit, settings.max_workers_per_cluster) == (8 * 1024 * 1024, 20000000)
    assert set(env) <= names_the_server_reads()  # a misspelt variable would be ignored silently


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_renders_settings_the_server_reads(helm: Helm, variant: str) -> None:
    env = server_env(helm.template("ray-system", *VARIANTS[variant]), OWN_SECRETS)
    assert set(env) <= names_the_server_reads()
    settings = Settings.from_env(env)  # (raises, naming the variable, on a value the server refuses)
    assert settings.auth_mode == dict(v.split("=") for v in VARIANTS[variant]).get("auth.mode", "none")


def server_env(objects: list[Json], own_secrets: Mapping[str, Mapping[str, str]] = {}) -> dict[str, str]:
    """The server container's environment as the server would see it: each value, and each reference
    to a Secret's key read from the Secrets rendered, or from `own_secrets` (Secrets of one's own)."""
    [deployment] = of_kind(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    secrets = {name: dict(data) for name, data in own_secrets.items()}
    for secret in of_kind(objects, "Secret"):
        secrets[secret["metadata"]["name"]] = {key: base64.b64decode(value).decode()
                                               for key, value in secret["data"].items()}
    env = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            assert set(variable) == {"name", "valueFrom"}
            assert set(variable["valueFrom"]) == {"secretKeyRef"}
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def container_env(helm: Helm, *values: str) -> dict[str, str]:
    """The server container's environment as the chart renders it with `values` set."""
    return server_env(helm.template("ray-system", *values))


def test_grpc_follows_the_rpc_container_port_or_is_off(helm: Helm) -> None:
    def grpc_bind(*values: str) -> str:
        return container_env(helm, *values)["KUBERAY_API_GRPC_BIND"]

    assert grpc_bind("containerPort[0].name=http", "containerPort[0].containerPort=8888",
                     "containerPort[1].name=rpc", "containerPort[1].containerPort=9887") == "0.0.0.0:9887"
    assert grpc_bind("grpc=false") == "off"
    assert Settings.from_env({"KUBERAY_API_GRPC_BIND": grpc_bind("grpc=false")}).grpc_bind == ""


def test_job_submissions_reach_the_head_services_by_cluster_dns_unless_a_template_is_set(helm: Helm) -> None:
    """The chart sets no template: the server, in its pod, finds the dashboards by the head
    Services' cluster DNS names (a server outside the cluster would go through the API server)."""
    pod = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}  # what the kubelet adds

    def route(*strings: str) -> str:
        env = {**server_env(helm.template("ray-system", strings=strings)), **pod}
        settings = Settings.from_env(env)
        return dashboard_route(settings.dashboard_url, K8s.from_settings(settings, env).in_cluster).template

    assert route() == IN_CLUSTER_URL
    template = "http://{service}.{namespace}.svc.example.internal:{port}"
    assert route(f"jobSubmissions.dashboardUrl={template}") == template


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


def test_consistent_reads_follow_the_replica_count_unless_set(helm: Helm) -> None:
    def consistent(*values: str) -> bool:
        return Settings.from_env(container_env(helm, *values)).consistent_reads

    assert not consistent()  # one pod: its workers' write marks suffice
    assert consistent("replicaCount=2")
    assert not consistent("replicaCount=3", "consistentReads=false")
    assert consistent("consistentReads=true")
    result = helm.run("template", "kr", str(CHART), "--set", "consistentReads=sometimes")
    assert result.returncode != 0, result.stderr
    assert "consistentReads must be true, false or auto, not sometimes" in result.stderr, result.stderr


def test_auth_follows_its_values(helm: Helm) -> None:
    def auth(*values: str, own: Mapping[str, Mapping[str, str]] = {}) -> tuple[str, str, bool]:
        settings = Settings.from_env(server_env(helm.template("ray-system", *values), own))
        return settings.auth_mode, settings.auth_token, settings.auth_metrics

    assert auth() == ("none", "", False)  # upstream's: no check
    assert auth("auth.protectMetrics=true") == ("none", "", True)
    assert auth("auth.mode=kubernetes") == ("kubernetes", "", False)
    assert auth("auth.mode=token", "auth.token=s3cret") == ("token", "s3cret", False)
    assert auth("auth.mode=token", "auth.token=12345") == ("token", "12345", False)  # (--set makes it a number)
    own = {"mine": {"token": "abc"}}
    assert auth("auth.mode=token", "auth.existingSecret=mine", own=own) == ("token", "abc", False)
    assert "KUBERAY_API_AUTH_TOKEN" not in container_env(helm, "auth.mode=kubernetes", "auth.token=ignored")
    limits = Settings.from_env(container_env(helm, "auth.mode=kubernetes"))
    assert (limits.auth_review_rate, limits.auth_review_burst) == (1.0, 10)
    limits = Settings.from_env(container_env(helm, "auth.mode=kubernetes", "auth.reviewRate=0.5",
                                             "auth.reviewBurst=100000"))
    assert (limits.auth_review_rate, limits.auth_review_burst) == (0.5, 100000)

    # token mode: the chart's own Secret `<name>-auth`, key `token`, or the one named; never a plain value
    objects = helm.template("ray-system", "auth.mode=token", "auth.token=s3cret")
    [secret] = of_kind(objects, "Secret")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("kuberay-apiserver-auth", "ray-system")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"token": base64.b64encode(b"s3cret").decode()}
    [deployment] = of_kind(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    [variable] = [v for v in container["env"] if v["name"] == "KUBERAY_API_AUTH_TOKEN"]
    assert variable == {"name": "KUBERAY_API_AUTH_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "kuberay-apiserver-auth", "key": "token"}}}
    existing = helm.template("ray-system", "auth.mode=token", "auth.existingSecret=mine")
    assert not of_kind(existing, "Secret")
    [deployment] = of_kind(existing, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "KUBERAY_API_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mine", "key": "token"}}} \
        in container["env"]
    assert not of_kind(helm.template("ray-system", "auth.token=s3cret"), "Secret")  # none mode: not used


@pytest.mark.parametrize(("values", "strings", "message"), [
    (["auth.mode=token"], [], "auth.mode=token needs the token: set auth.existingSecret"),
    (["auth.mode=bogus"], [], "auth.mode must be none, token or kubernetes, not bogus"),
    (["auth.mode=Token"], [], "auth.mode must be none, token or kubernetes, not Token"),
    (["auth.mode=token", "auth.token=s3cret", "auth.existingSecret=mine"], [],
     "auth.token and auth.existingSecret are both set"),
    (["auth.mode=token", "auth.token=true"], [], "auth.token must be text"),
    (["auth.mode=token"], ["auth.token=s3cret "], "auth.token must not begin or end with white space"),
], ids=["token-without-token", "unknown-mode", "mode-in-capitals", "two-tokens", "token-not-text",
        "token-with-space"])
def test_rendering_fails_on_auth_values_the_server_could_not_use(
    helm: Helm, values: list[str], strings: list[str], message: str
) -> None:
    """(`helm lint` cannot show it: it only logs a template's `fail`, at INFO.)"""
    result = helm.run("template", "kr", str(CHART), *[a for v in values for a in ("--set", v)],
                      *[a for v in strings for a in ("--set-string", v)])
    assert result.returncode != 0, result.stderr
    assert message in result.stderr, result.stderr


def test_kubernetes_mode_has_its_own_cluster_role(helm: Helm) -> None:
    for install in ([], ["singleNamespaceInstall=true"]):  # cluster-wide either way
        objects = helm.template("team-a", "auth.mode=kubernetes", *install)
        [role] = [r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == "kuberay-apiserver-auth"]
        account = [{"kind": "ServiceAccount", "name": "kuberay-apiserver", "namespace": "team-a"}]
        assert bindings(objects, "ClusterRole")["kuberay-apiserver-auth"] == ("kuberay-apiserver-auth", account)
        extras = ["credential-id", "pod-name", "pod-uid", "node-name", "node-uid"]
        assert role["rules"] == [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
            {"apiGroups": ["authentication.k8s.io"], "verbs": ["impersonate"],
             "resources": [f"userextras/authentication.kubernetes.io/{key}" for key in extras]},
        ]
        others = [r for r in of_kind(objects, "ClusterRole") + of_kind(objects, "Role") if r is not role]
        default = helm.template("team-a", *install)
        assert others == of_kind(default, "ClusterRole") + of_kind(default, "Role")  # the others as they were

    chosen = helm.template("team-a", "auth.mode=kubernetes", "auth.userExtras={example.com/team,scopes}")
    [role] = [r for r in of_kind(chosen, "ClusterRole") if r["metadata"]["name"] == "kuberay-apiserver-auth"]
    assert role["rules"][-1]["resources"] == ["userextras/example.com/team", "userextras/scopes"]
    none = helm.template("team-a", "auth.mode=kubernetes", "auth.userExtras=null")
    [role] = [r for r in of_kind(none, "ClusterRole") if r["metadata"]["name"] == "kuberay-apiserver-auth"]
    assert len(role["rules"]) == 3  # no extras: no rule (an empty one would be invalid)

    for values in (["auth.mode=kubernetes", "rbacEnable=false"], ["auth.mode=token", "auth.token=x"], []):
        assert not [r for r in of_kind(helm.template("team-a", *values), "ClusterRole")
                    if r["metadata"]["name"].endswith("-auth")]


def test_chart_test_sends_the_credentials_of_the_mode(helm: Helm) -> None:
    def chart_test(*values: str) -> tuple[Json, Json]:
        [pod] = of_kind(helm.template("ray-system", *values), "Pod")
        [container] = pod["spec"]["containers"]
        return pod["spec"], container

    for values in ([], ["auth.mode=token", "auth.token=s3cret"], ["auth.mode=token", "auth.existingSecret=mine"]):
        spec, container = chart_test(*values)
        assert spec["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in spec  # no token
        assert "volumes" not in spec
        assert "volumeMounts" not in container
    assert "env" not in chart_test()[1]
    for values, secret in ((["auth.token=s3cret"], "kuberay-apiserver-auth"), (["auth.existingSecret=mine"], "mine")):
        _, container = chart_test("auth.mode=token", *values)
        assert container["env"] == [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}]

    # kubernetes: a token of the server's own account, projected for the test alone
    spec, container = chart_test("auth.mode=kubernetes")
    assert spec["serviceAccountName"] == "kuberay-apiserver"
    assert spec["automountServiceAccountToken"] is False
    assert spec["volumes"] == [{"name": "token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}}]}}]
    [mount] = container["volumeMounts"]
    assert mount == {"name": "token", "mountPath": "/var/run/secrets/kuberay-api-test", "readOnly": True}
    assert container["env"] == [{"name": "TOKEN_FILE", "value": f"{mount['mountPath']}/token"}]


def test_chart_test_passes_against_the_server_of_its_mode(
    helm: Helm, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """The chart test's own script, run here against the server run with the chart's auth settings."""
    for mode, values in (("none", []), ("token", ["auth.mode=token", "auth.token=s3cret"])):
        objects = helm.template(namespace, *values)
        [pod] = of_kind(objects, "Pod")
        [container] = pod["spec"]["containers"]
        python, flag, script, url = container["command"]
        assert (python, flag) == ("python", "-c")
        assert url.endswith(f"/apis/v1/namespaces/{namespace}/compute_templates")
        env = server_env(objects)
        auth = {name: value for name, value in env.items() if name.startswith("KUBERAY_API_AUTH_")}
        (tmp_path / mode).mkdir()
        with gunicorn(cluster, tmp_path / mode, **auth) as server:
            local = f"http://127.0.0.1:{server.port}/apis/v1/namespaces/{namespace}/compute_templates"
            if mode == "token":
                passed = run_script(script, local, TOKEN=env["KUBERAY_API_AUTH_TOKEN"])
                refused = run_script(script, local)
                assert refused.returncode != 0, refused.stdout + refused.stderr
                assert "HTTP Error 401" in refused.stderr, refused.stdout + refused.stderr
            else:
                passed = run_script(script, local)
            assert passed.returncode == 0, passed.stdout + passed.stderr
            assert f"{local} -> 200" in passed.stdout


def run_script(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A Python script run as the chart test's container runs it, with `env` as its only variables."""
    return subprocess.run([sys.executable, "-c", script, *args], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=60)


def test_notes_say_how_to_call_in_each_mode(helm: Helm) -> None:
    def notes(*values: str) -> str:
        result = helm.run("install", "kr", str(CHART), "--dry-run=client", "--namespace", "ray-system",
                          *[a for v in values for a in ("--set", v)])
        assert result.returncode == 0, result.stderr
        return result.stdout.partition("NOTES:")[2]

    header = '-H "Authorization: Bearer $TOKEN"'
    default = notes()
    assert "curl http://<node-ip>:31888/" in default
    assert "Authorization" not in default
    assert "whoever reaches the HTTP port can read and write every" in default
    token = notes("auth.mode=token", "auth.token=s3cret")
    assert f"curl {header} http://<node-ip>:31888/" in token
    assert "s3cret" not in token
    assert "kubectl -n ray-system get secret kuberay-apiserver-auth -o jsonpath='{.data.token}'" in token
    assert "whoever holds the token can read and write every" in token
    kubernetes = notes("auth.mode=kubernetes", "service.type=ClusterIP")
    assert f"curl {header} http://localhost:8888/" in kubernetes
    assert "create token" in kubernetes
    assert "The ClusterRole kuberay-apiserver-auth lets the server impersonate any user" in kubernetes
    assert "whoever" not in kubernetes.partition("The V2 API")[2]  # each caller with their own rights there
    assert "grant the server's account" in notes("auth.mode=kubernetes", "rbacEnable=false")
    assert "Only namespace ray-system is accessible" in notes("singleNamespaceInstall=true")
    single = notes("auth.mode=kubernetes", "singleNamespaceInstall=true")
    assert "Only namespace" not in single
    assert "only keeps the caches to ray-system" in single


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

    def covered(path: str) -> bool:
        return any(path == d or path.startswith(d + ".") for d in documented)

    assert {"name", "image.repository", "service.ports", "singleNamespaceInstall"} <= documented
    assert [path for path, _, leaf in keys if leaf and not covered(path)] == []
    deploy = (ROOT / "README.md").read_text().partition("## Deploy")[2]
    assert [path for path in sorted(documented) if f"`{path}`" not in deploy] == []


def test_values_checker_sees_an_undocumented_key() -> None:
    text = "# -- documented\na: 1\nb:\n  # -- documented\n  c: 2\n  d: 3\nlist:\n  - e: 4\n"
    keys = values_keys(text)
    assert [(p, doc) for p, doc, leaf in keys if leaf] == [("a", True), ("b.c", True), ("b.d", False),
                                                          ("list", False)]
