"""The chart's RBAC rules are exactly enough, proven with a real ServiceAccount token.

Each test installs the chart's ServiceAccount and roles (rendered by the real helm) in the control
plane, obtains a token for that account (TokenRequest) and runs the server with a kubeconfig that
holds only that token:
* enough: the whole seed sequence and the readiness probe succeed, and the server met no
  refusal, not even one it would swallow (event reads), while making every kind of call its
  gateway has (with its watch caches, and without: reads then ask Kubernetes);
* nothing more: with any single permission taken away, the sequence meets a refusal naming that
  permission; and the identity is refused what the server never does (Secrets, Pods, watch, ...);
* single-namespace mode: the release namespace works, everything else answers 403.

These prove the first role, installed without V2. The V2 role (`<name>-v2`) is proven the same
way, alone (the first role grants some of the same), with the V2 sequence (tests/support/v2_sequence.py: one
request per permission of the role), sent to the V2 API of the server running as that account:
it suffices, each of its permissions is needed, `*` covers every ray.io kind and subresource the
CRDs serve, and with both roles the account is still refused Secrets, Pods, Services, ...

The auth role (`<name>-auth`, auth.mode=kubernetes) too, with the server in that mode: callers act
with their own rights (a ServiceAccount with a token bound to a pod, whose extra keys are exactly the
chart's default `auth.userExtras`, and a user who is not a ServiceAccount), and each of its
permissions is needed.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from starlette.testclient import TestClient

from app import auth
from app.errors import Forbidden
from app.k8s import K8s
from app.types import Json
from tests.support import seed_sequence, v2_sequence
from tests.support.api import GatewayCalls, Send, gateway_methods, ok, own_app, ready, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.chart import (
    Helm,
    Identity,
    allowed,
    atoms,
    chart_identity,
    without,
)
from tests.support.kube import Cluster, Kube, account_token, account_with_role, fresh_namespaces
from tests.support.net import closed_port
from tests.support.served import gunicorn, kubernetes_client
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]
T = TypeVar("T")
V1_ONLY = "enableAPIServerV2=false"  # the first role alone: what the V1 API's calls need
V2_CALLS = {"get_service", "forward"}  # the V2 API's gateway calls: the V2 role's (tests/support/v2_sequence.py)
AUTH_CALLS = {"review_token", "review_access"}  # made in the `kubernetes` auth mode only: the auth role's
# Job submissions through the API server's service proxy: made only by a server outside the cluster
# (the chart's runs in a pod and reaches the heads by cluster DNS), and not by the seed sequence.
PROXY_CALLS = {"send"}
# Job submissions to a cluster with Ray token authentication: the `rayTokenAuth` rule's, off by default.
TOKEN_CALLS = {"get_secret"}


# -- the server, with every refusal it meets recorded ----------------------------------------

class Refused(AssertionError):
    """The server met a refusal from Kubernetes during a step."""


def sender(app_client: TestClient, refusals: list[str]) -> Send:
    def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
        response = app_client.request(method, path, json=body)
        if refusals:
            raise Refused(f"{method} {path}: {refusals}")
        return response.status_code, response.json()
    return send


def whoami(identity: Identity) -> str:
    review = client.AuthenticationV1Api(identity.api()).create_self_subject_review(
        client.V1SelfSubjectReview.model_validate({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}))
    assert review.status is not None
    assert review.status.user_info is not None
    return review.status.user_info.username or ""


# -- enough --------------------------------------------------------------------------------------

def test_chart_rbac_is_enough_for_the_seed_sequence(
    cluster: Cluster, helm: Helm, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path, V1_ONLY) as identity:
        assert whoami(identity) == identity.username  # the token is the chart's account
        assert "client-certificate" not in identity.kubeconfig.read_text()
        made: set[str] = set()
        with fresh_namespaces(cluster, 2) as uncached:
            for cache, (first, second) in ((True, (namespace, other_namespace)), (False, uncached)):
                k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
                calls = GatewayCalls(k8s)
                refusals = calls.refusals
                # (with the caches, their answers checked against Kubernetes, as with several replicas)
                with own_app(k8s, cache=cache, consistent_reads=cache) as app_client:
                    if cache:  # (the readiness probe needs no rule either)
                        wait_for(partial(ready, app_client),
                                 timeout=30, what="the caches to sync")
                    seed_sequence.run(sender(app_client, refusals), seed_sequence.steps(first, second))
                    probe = app_client.get("/readyz")
                assert probe.status_code == 200, probe.text
                assert refusals == []
                made |= set(calls.counts)
        # every kind of V1 call was made, and allowed
        assert made == gateway_methods() - V2_CALLS - AUTH_CALLS - PROXY_CALLS - TOKEN_CALLS
        kube = Kube(cluster.api)
        assert kube.get("rayservices", namespace, "test-v2") is not None
        assert kube.get("rayjobs", other_namespace, "job-test") is not None
        assert kube.configmap(other_namespace, "default-template") is not None


# -- nothing more ---------------------------------------------------------------------------------

def test_every_granted_permission_is_needed(
    cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    """Take each permission away in turn: the seed sequence then meets a refusal naming it."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    with chart_identity(cluster, helm, namespace, tmp_path, V1_ONLY) as identity:
        granted = atoms(identity.role)
        assert len(granted) == 29, granted
        name = identity.role["metadata"]["name"]
        unneeded = []
        for atom in granted:
            rbac.patch_cluster_role(name, {"rules": without(identity.role, atom)})
            wait_for(partial(allowed, cluster, identity.username, atom, namespace), until=operator.not_,
                     timeout=20, what=f"{atom} to be revoked")
            k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
            refusals = GatewayCalls(k8s).refusals
            with fresh_namespaces(cluster, 2) as [first, second], own_app(k8s) as app_client, suppress(Refused):
                seed_sequence.run(sender(app_client, refusals), seed_sequence.steps(first, second))
            group, resource, verb = atom
            if not any(f'cannot {verb} resource "{resource}" in API group "{group}"' in r
                       for r in refusals):
                unneeded.append((atom, refusals))
        assert unneeded == []


REFUSED: dict[str, Callable[[client.ApiClient, str], Any]] = {
    "list Secrets in all namespaces": lambda api, ns: client.CoreV1Api(api).list_secret_for_all_namespaces(),
    "read a Secret in its own namespace": lambda api, ns: client.CoreV1Api(api).read_namespaced_secret("s", ns),
    "list Pods": lambda api, ns: client.CoreV1Api(api).list_namespaced_pod(ns),
    "list Namespaces (upstream's chart grants it)": lambda api, ns: client.CoreV1Api(api).list_namespace(),
    "watch Secrets": lambda api, ns: client.CoreV1Api(api).list_namespaced_secret(
        ns, watch=True, timeout_seconds=1, _preload_content=False),
    "patch a ConfigMap": lambda api, ns: client.CoreV1Api(api).patch_namespaced_config_map(
        "default-template", ns, {"metadata": {"labels": {"x": "y"}}}),
    "update a ConfigMap": lambda api, ns: client.CoreV1Api(api).replace_namespaced_config_map(
        "default-template", ns, client.V1ConfigMap.model_validate({"metadata": {"name": "default-template"}})),
    "update a RayCluster": lambda api, ns: client.CustomObjectsApi(api).replace_namespaced_custom_object(
        "ray.io", "v1", ns, "rayclusters", "c", {"metadata": {"name": "c"}}),
    "patch a RayService": lambda api, ns: client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "ray.io", "v1", ns, "rayservices", "s", {"metadata": {"labels": {"x": "y"}}}),
    "get one Event": lambda api, ns: client.EventsV1Api(api).read_namespaced_event("e", ns),
    "create a Deployment": lambda api, ns: client.AppsV1Api(api).create_namespaced_deployment(
        ns, client.V1Deployment.model_validate({
            "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})),
    "list core v1 Events": lambda api, ns: client.CoreV1Api(api).list_namespaced_event(ns),
}


def answers_to(calls: dict[str, Callable[[client.ApiClient, str], Any]], api: client.ApiClient,
               namespace: str) -> Json:
    """Each call's refusal status, or "allowed"."""
    answers: Json = {}
    for what, call in calls.items():
        try:
            call(api, namespace)
            answers[what] = "allowed"
        except client.ApiException as exc:
            answers[what] = exc.status
    return answers


def test_the_identity_is_refused_what_the_server_does_not_need(
    cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path, V1_ONLY) as identity:
        api = identity.api()
        client.CoreV1Api(api).list_namespaced_config_map(namespace)  # the token does work
        assert answers_to(REFUSED, api, namespace) == dict.fromkeys(REFUSED, 403)


# -- the Ray token rule (rayTokenAuth) ------------------------------------------------------------

SECRETS_GET = ("", "secrets", "get")
RAY_TOKEN_VERSION = "2.60.0"  # the operator requires 2.52.0 or later for token authentication


def token_cluster(cluster: Cluster, namespace: str, name: str) -> None:
    """A ready cluster with Ray token authentication, made through the API as administrator, and
    the Secret the operator makes for it."""
    with own_app(K8s.from_kubeconfig(str(cluster.kubeconfig)), cache=False) as api:
        ok(api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
        body = cluster_body(namespace, name)
        body["version"] = RAY_TOKEN_VERSION
        body["clusterSpec"]["authOptions"] = {"mode": "token"}
        ok(api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body))
        wait_for(lambda: ok(api.get(f"/apis/v1/namespaces/{namespace}/clusters/{name}")).get("clusterState") == "ready",
                 timeout=90, what="the operator to make the cluster ready")
    def made() -> bool:
        try:
            client.CoreV1Api(cluster.api).read_namespaced_secret(name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_for(made, timeout=30, what="the operator to make the cluster's token Secret")


def submitted_as(identity: Identity, namespace: str, name: str, dashboard: str) -> tuple[str, GatewayCalls]:
    """The refusal of a job submission to the cluster by the server running as the identity, whose
    dashboards are all at `dashboard` (a closed port: what counts is what comes before)."""
    k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache=False, dashboard_url=dashboard, dashboard_timeout=1) as api:
        message = refused(api.post(f"/apis/v1/namespaces/{namespace}/jobsubmissions/{name}",
                                   json={"entrypoint": "true"}), 503, 14)
    return message, calls


def test_the_ray_token_rule_is_get_on_secrets_alone_needed_and_enough(
    cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    """With rayTokenAuth the role grants `get` on `secrets` and nothing else of Secrets: the server
    reads the token of a cluster with token authentication with it, and without it the submission is
    503 naming the permission."""
    token_cluster(cluster, namespace, "tok")
    dashboard = f"http://127.0.0.1:{closed_port()}"
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    with chart_identity(cluster, helm, namespace, tmp_path, V1_ONLY, "rayTokenAuth=true") as identity:
        role = identity.role
        assert [rule for rule in role["rules"] if "secrets" in rule["resources"]] == \
            [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
        assert not allowed(cluster, identity.username, ("", "secrets", "list"), namespace)
        assert not allowed(cluster, identity.username, ("", "secrets", "watch"), namespace)

        message, calls = submitted_as(identity, namespace, "tok", dashboard)
        assert message == f"The Ray dashboard at {dashboard} cannot be reached: cannot connect."  # the token was read
        assert calls.counts["get_secret"] == 1
        assert calls.refusals == []

        rbac.patch_cluster_role(role["metadata"]["name"], {"rules": without(role, SECRETS_GET)})
        wait_for(partial(allowed, cluster, identity.username, SECRETS_GET, namespace), until=operator.not_,
                 timeout=20, what="get on secrets to be revoked")
        message, calls = submitted_as(identity, namespace, "tok", dashboard)
        assert message == ("Cannot read the Ray token of cluster tok (it runs with Ray token authentication): this "
                           f"server may not read Secret tok: it needs `get` on `secrets` in namespace {namespace} "
                           "(the chart's value rayTokenAuth grants it).")
        assert any('cannot get resource "secrets" in API group ""' in refusal for refusal in calls.refusals)


# -- the V2 role ----------------------------------------------------------------------------------

def names(refusal: str, atom: tuple[str, str, str]) -> bool:
    """Whether Kubernetes' refusal names the permission (`*`: any resource of its group)."""
    group, resource, verb = atom
    what = '[^"]+' if resource == "*" else re.escape(resource)
    return re.search(f'cannot {verb} resource "{what}" in API group "{re.escape(group)}"', refusal) is not None


@contextmanager
def served_as(cluster: Cluster, identity: Identity, workdir: Path) -> Iterator[client.ApiClient]:
    """The server (gunicorn) running as the chart's account, without its caches (the V2 role alone
    cannot fill them), and a Kubernetes client whose host is the server: the V2 API's callers."""
    with gunicorn(cluster, workdir, KUBERAY_API_KUBECONFIG=str(identity.kubeconfig),
                  KUBERAY_API_CACHE="false") as server, \
            kubernetes_client(server) as api:
        yield api


def test_v2_role_is_enough_for_the_v2_sequence(
    cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path, only_v2=True) as identity:
        assert list(identity.roles) == [identity.v2_role["metadata"]["name"]]  # the V2 role alone
        assert whoami(identity) == identity.username
        service = v2_sequence.plant_head_service(cluster.api, namespace)

        with served_as(cluster, identity, tmp_path) as api:
            done = v2_sequence.run(api, namespace, service, through_server=True)

        assert done == [step.label for step in v2_sequence.steps() if not step.by_the_server]
        assert {step.atom for step in v2_sequence.steps()} == set(atoms(identity.v2_role))
        wait_for(lambda: not Kube(cluster.api).items("rayclusters", namespace)
                 and not Kube(cluster.api).items("raycronjobs", namespace), timeout=30,
                 what="the deleted RayClusters and RayCronJob to go")
        # `*` is every kind and subresource the CRDs serve, with every verb they serve.
        served = client.CustomObjectsApi(cluster.api).get_api_resources("ray.io", "v1").resources
        assert {"rayclusters", "rayjobs", "rayservices", "raycronjobs", "rayclusters/status",
                "raycronjobs/status"} <= {r.name for r in served}
        denied = [(r.name, verb) for r in served for verb in r.verbs
                   if not allowed(cluster, identity.username, ("ray.io", r.name, verb), namespace)]
        assert denied == []


def test_every_v2_permission_is_needed(cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path) -> None:
    """Take each permission of the V2 role away in turn: the V2 sequence then meets a refusal
    naming it."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    with chart_identity(cluster, helm, namespace, tmp_path, only_v2=True) as identity:
        role = identity.v2_role
        granted = atoms(role)
        assert len(granted) == 18, granted
        unneeded = []
        with served_as(cluster, identity, tmp_path) as api:
            for atom in granted:
                rbac.patch_cluster_role(role["metadata"]["name"], {"rules": without(role, atom)})
                wait_for(partial(allowed, cluster, identity.username, atom, namespace), until=operator.not_,
                         timeout=20, what=f"{atom} to be revoked")
                with fresh_namespaces(cluster, 1) as [fresh]:
                    try:
                        v2_sequence.run(api, fresh, v2_sequence.plant_head_service(cluster.api, fresh),
                                        through_server=True)
                        refusal = "none"
                    except v2_sequence.Refused as exc:
                        refusal = str(exc)
                if not names(refusal, atom):
                    unneeded.append((atom, refusal))
        assert unneeded == []


V2_GRANTS = ("update a RayCluster", "patch a RayService",  # (the V2 role's ray.io rule)
             "list core v1 Events")  # (its core events rule: the server adds the ray.io selector)
REFUSED_WITH_V2: dict[str, Callable[[client.ApiClient, str], Any]] = {
    **{what: call for what, call in REFUSED.items() if what not in V2_GRANTS},
    "list Services": lambda api, ns: client.CoreV1Api(api).list_namespaced_service(ns),
    "watch Services": lambda api, ns: client.CoreV1Api(api).list_namespaced_service(
        ns, watch=True, timeout_seconds=1, _preload_content=False),
    "create a Service": lambda api, ns: client.CoreV1Api(api).create_namespaced_service(
        ns, client.V1Service.model_validate({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})),
    "delete a Service": lambda api, ns: client.CoreV1Api(api).delete_namespaced_service("v2-head-svc", ns),
    "read Endpoints": lambda api, ns: client.CoreV1Api(api).read_namespaced_endpoints("v2-head-svc", ns),
    "proxy to a Pod": lambda api, ns: client.CoreV1Api(api).connect_get_namespaced_pod_proxy_with_path(
        "p", ns, "api/jobs/"),
    "proxy to a Node": lambda api, ns: client.CoreV1Api(api).connect_get_node_proxy_with_path("n", "metrics"),
}


def test_with_v2_the_identity_is_still_refused_the_rest(
    cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path) as identity:  # both roles, as installed
        assert set(identity.roles) == {identity.role["metadata"]["name"], identity.v2_role["metadata"]["name"]}
        api = identity.api()
        v2_sequence.plant_head_service(cluster.api, namespace)
        client.CoreV1Api(api).read_namespaced_service("v2-head-svc", namespace)  # the token does work
        assert answers_to(REFUSED_WITH_V2, api, namespace) == dict.fromkeys(REFUSED_WITH_V2, 403)


# -- single-namespace mode ------------------------------------------------------------------------

def test_single_namespace_install_serves_its_namespace_only(
    cluster: Cluster, helm: Helm, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path, "singleNamespaceInstall=true", V1_ONLY) as identity:
        assert identity.role["kind"] == "Role"
        k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
        calls = GatewayCalls(k8s)
        refusals = calls.refusals
        local = [step for step in seed_sequence.steps(namespace, other_namespace)
                 if f"/namespaces/{namespace}/" in step.path]
        with own_app(k8s, cache_namespace=namespace) as app_client:  # (as the chart sets it)
            wait_for(partial(ready, app_client), timeout=30, what="the caches to sync")
            seed_sequence.run(sender(app_client, refusals), local)
            assert refusals == []

            for path in ("/apis/v1/compute_templates", "/apis/v1/clusters", "/apis/v1/jobs",
                         "/apis/v1/services", f"/apis/v1/namespaces/{other_namespace}/clusters"):
                refused(app_client.get(path), 403, 7)
        assert len(refusals) == 5


def test_single_namespace_v2_role_covers_its_namespace_only(
    cluster: Cluster, helm: Helm, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    with chart_identity(cluster, helm, namespace, tmp_path, "singleNamespaceInstall=true",
                        only_v2=True) as identity:
        assert identity.v2_role["kind"] == "Role"
        api = identity.api()
        v2_sequence.run(api, namespace, v2_sequence.plant_head_service(cluster.api, namespace))

        elsewhere = v2_sequence.plant_head_service(cluster.api, other_namespace)
        with pytest.raises(v2_sequence.Refused, match=f'in the namespace "{other_namespace}"'):
            v2_sequence.run(api, other_namespace, elsewhere)
        with pytest.raises(client.ApiException) as everywhere:
            client.CustomObjectsApi(api).list_cluster_custom_object("ray.io", "v1", "rayclusters")
        assert everywhere.value.status == 403


# -- the auth role (auth.mode=kubernetes) ---------------------------------------------------------

AUTH = "auth.mode=kubernetes"
CALLER_RULES = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "delete"]}]


def caller_token(cluster: Cluster, namespace: str, name: str, rules: list[Json] = CALLER_RULES) -> str:
    """A caller of the API: a ServiceAccount with a Role of `rules` in `namespace`, and a token of it
    bound to a Pod (scheduled on a kwok node), which carries every extra key such a token can."""
    account_with_role(cluster.api, namespace, name, rules)
    core = client.CoreV1Api(cluster.api)
    pod_body = client.V1Pod.model_validate({"metadata": {"name": name}, "spec": {
        "serviceAccountName": name, "automountServiceAccountToken": False,
        "containers": [{"name": "c", "image": "caller"}]}})
    pod = wait_for(lambda: _created(lambda: core.create_namespaced_pod(namespace, pod_body)), timeout=20,
                   what="the caller's pod")
    wait_for(lambda: core.read_namespaced_pod(name, namespace).spec, until=lambda spec: spec.node_name, timeout=30,
             what="the caller's pod to be scheduled")
    assert pod.metadata is not None
    return account_token(cluster.api, namespace, name,
                         bound_to={"apiVersion": "v1", "kind": "Pod", "name": name, "uid": pod.metadata.uid})


def _created(create: Callable[[], T]) -> T | None:
    """What `create` made, or None while the ServiceAccount admission does not see the account yet."""
    try:
        return create()
    except client.ApiException as exc:
        if exc.status == 403 and "service account" in str(exc.body):
            return None
        raise


def auth_sequence(app_client: TestClient, k8s: K8s, token: str, namespace: str) -> None:
    """What callers do through the server in the `kubernetes` mode: a ServiceAccount's requests,
    answered by Kubernetes and from the caches, then one Kubernetes call for a caller who is not a
    ServiceAccount (this cluster's bearer tokens are ServiceAccounts' only). Raises Refused at the
    first that fails."""
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/apis/v1/namespaces/{namespace}/compute_templates"
    for method, path, body in (("POST", base, template_body(namespace, "t")), ("GET", base, None),
                               ("GET", f"{base}/t", None), ("DELETE", f"{base}/t", None)):
        response = app_client.request(method, path, json=body, headers=headers)
        if response.status_code != 200:
            raise Refused(f"{method} {path}: {response.status_code} {response.text}")
    with auth.acting_as(auth.Caller(USER, groups=("system:authenticated",), impersonated=True)):
        try:
            k8s.list_configmaps(namespace, "")
        except Forbidden as exc:
            raise Refused(f"list_configmaps as {USER}: {exc}") from exc


USER = "jane@example.com"  # a caller who is a user (say, of OIDC), granted CALLER_RULES too


@contextmanager
def auth_setup(cluster: Cluster, helm: Helm, namespace: str, workdir: Path) -> Iterator[tuple[Identity, str]]:
    """The chart's account and roles with auth.mode=kubernetes, and a caller's token."""
    with chart_identity(cluster, helm, namespace, workdir, AUTH, V1_ONLY) as identity:
        token = caller_token(cluster, namespace, "caller")
        client.RbacAuthorizationV1Api(cluster.api).create_namespaced_role_binding(
            namespace, client.V1RoleBinding.model_validate({
                "metadata": {"name": "user"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "caller"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]}))
        yield identity, token


@contextmanager
def auth_app(identity: Identity) -> Iterator[tuple[Any, K8s, GatewayCalls]]:
    """The server as the chart's account in the `kubernetes` mode, its caches synced (so that reads
    are answered from them, after a SubjectAccessReview), and the calls its gateway makes; its
    refusals include each SubjectAccessReview that did not allow (a refused events read is silent)."""
    k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
    calls = GatewayCalls(k8s)
    review = k8s.review_access

    def noted(spec: Json) -> Json:
        status = review(spec)
        if not status.get("allowed"):
            calls.refusals.append(f"review_access: {spec['user']} not allowed {spec['resourceAttributes']}")
        return status

    k8s.review_access = noted  # type: ignore[method-assign]  # the test's wrapper of the real call
    with own_app(k8s, auth_mode="kubernetes") as app_client:
        wait_for(partial(ready, app_client), timeout=30, what="the caches to sync")
        yield app_client, k8s, calls


def test_auth_role_is_enough_for_callers(cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path) -> None:
    with auth_setup(cluster, helm, namespace, tmp_path) as (identity, token):
        role = identity.roles[f"{identity.name}-auth"]
        assert role["kind"] == "ClusterRole"
        # The chart's default extra keys are exactly those of a token bound to a pod.
        review = client.AuthenticationV1Api(cluster.api).create_token_review(
            client.V1TokenReview.model_validate({"spec": {"token": token}}))
        assert review.status is not None
        assert review.status.user is not None
        extras = sorted(f"userextras/{key}" for key in review.status.user.extra or {})
        assert extras == sorted(resource for _, resource, _ in atoms(role) if resource.startswith("userextras/"))
        assert len(extras) == 5

        with auth_app(identity) as (app_client, k8s, calls):
            auth_sequence(app_client, k8s, token, namespace)
            assert calls.refusals == []
            assert set(calls.counts) >= AUTH_CALLS
            # the caller's own rights, not the server's: it may not list across namespaces, nor RayClusters
            caller = f"system:serviceaccount:{namespace}:caller"
            headers = {"Authorization": f"Bearer {token}"}
            everywhere = refused(app_client.get("/apis/v1/compute_templates", headers=headers), 403, 7)
            assert f'User "{caller}" cannot list resource "configmaps" in API group "" at the cluster scope' \
                in everywhere
            clusters = refused(app_client.get(f"/apis/v1/namespaces/{namespace}/clusters", headers=headers), 403, 7)
            assert f'User "{caller}" cannot list resource "rayclusters"' in clusters
            refused(app_client.get(f"/apis/v1/namespaces/{namespace}/compute_templates"), 401, 16)


def test_every_auth_permission_is_needed(cluster: Cluster, helm: Helm, namespace: str, tmp_path: Path) -> None:
    """Take each permission of the auth role away in turn: the callers' sequence then meets a
    refusal naming it (for the reviews, the server answers 503 after that refusal)."""
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    with auth_setup(cluster, helm, namespace, tmp_path) as (identity, token):
        role = identity.roles[f"{identity.name}-auth"]
        granted = atoms(role)
        assert len(granted) == 10, granted
        unneeded = []
        for atom in granted:
            rbac.patch_cluster_role(role["metadata"]["name"], {"rules": without(role, atom)})
            wait_for(partial(allowed, cluster, identity.username, atom, namespace), until=operator.not_,
                     timeout=20, what=f"{atom} to be revoked")
            with auth_app(identity) as (app_client, k8s, calls), suppress(Refused):
                auth_sequence(app_client, k8s, token, namespace)
            if not any(names(refusal, atom) for refusal in calls.refusals):
                unneeded.append((atom, calls.refusals))
        assert unneeded == []


def readme_caller_role() -> Json:
    """The Role the README's "Authentication" gives as what a caller needs in a namespace."""
    section = (ROOT / "README.md").read_text().partition("### Authentication")[2].partition("\n### ")[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    role: Json = yaml.safe_load(block)
    assert role["kind"] == "Role"
    return role


def test_readmes_caller_role_is_enough_in_its_namespace(
    cluster: Cluster, helm: Helm, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    """The seed sequence's requests in one namespace, each sent with the token of a caller who has
    the README's Role there, through the server in the `kubernetes` mode: all answered, and no
    refusal met, not even of events."""
    with chart_identity(cluster, helm, namespace, tmp_path, AUTH, V1_ONLY) as identity:
        token = caller_token(cluster, namespace, "caller", readme_caller_role()["rules"])
        local = [step for step in seed_sequence.steps(namespace, other_namespace)
                 if f"/namespaces/{namespace}/" in step.path]
        with auth_app(identity) as (app_client, _, calls):
            def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
                response = app_client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
                if calls.refusals:
                    raise Refused(f"{method} {path}: {calls.refusals}")
                return response.status_code, response.json()

            seed_sequence.run(send, local)
            assert calls.refusals == []
            assert {"review_token", "review_access", "create_object", "replace_object"} <= set(calls.counts)


def test_single_namespace_install_in_kubernetes_mode_leaves_namespaces_to_callers(
    cluster: Cluster, helm: Helm, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    """The calls made for a request are the caller's: the install's Role no longer bounds them, the
    caller's own rights do, in any namespace (only the caches keep to the release namespace)."""
    with chart_identity(cluster, helm, namespace, tmp_path, AUTH, V1_ONLY,
                        "singleNamespaceInstall=true") as identity:
        assert identity.role["kind"] == "Role"
        token = caller_token(cluster, other_namespace, "caller")
        k8s = K8s.from_kubeconfig(str(identity.kubeconfig))
        calls = GatewayCalls(k8s)
        with own_app(k8s, auth_mode="kubernetes", cache_namespace=namespace) as app_client:
            wait_for(partial(ready, app_client), timeout=30, what="the caches to sync")
            headers = {"Authorization": f"Bearer {token}"}
            elsewhere = f"/apis/v1/namespaces/{other_namespace}/compute_templates"
            ok(app_client.post(elsewhere, json=template_body(other_namespace, "t"), headers=headers))
            assert [t["name"] for t in ok(app_client.get(elsewhere, headers=headers))["computeTemplates"]] == ["t"]
            # and in the release namespace, where the server may, the caller may not
            refused(app_client.get(f"/apis/v1/namespaces/{namespace}/compute_templates", headers=headers), 403, 7)
        assert "create_configmap" in calls.counts
        # The dry run of the template's pod is the server's own call, which its Role does not allow
        # there: the template is stored unchecked (as documented), and that is the only refusal.
        assert [r for r in calls.refusals if other_namespace in r and 'cannot create resource "pods"' not in r] == []
