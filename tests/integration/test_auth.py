"""Who is calling: real tokens (TokenRequest) against the real control plane.

The `kubernetes` mode is tested with the server as production runs it (gunicorn, HTTP and gRPC),
as the chart's own ServiceAccount with the chart's roles (rendered by the real helm with
`auth.mode=kubernetes`), so that the chart's `<name>-auth` role is proven enough too. Its callers
are ServiceAccounts of their own, each with a Role in one namespace:
* alice: everything a user of the API needs, in namespace A (`CALLER_RULES`);
* bob: the same, in namespace B;
* carol: reads of ray.io objects in A, and nothing else.
Each creates, reads, lists and deletes compute templates, clusters, jobs and services in its own
namespace through V1 over HTTP and over gRPC, and RayClusters and events through the V2 API; each gets 403 in
the other namespace, for every operation, and for the lists across all namespaces (no cluster-wide
rights). Reads are answered from the watch caches, and the caches answer nobody what Kubernetes
would refuse them. `none` and `token` modes are tested in-process.
"""
from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from app.k8s import K8s
from app.types import Json
from tests.support.api import Send, own_app_with_rpc, status_of
from tests.support.bodies import cluster_body, job_body, service_body, template_body
from tests.support.chart import Helm, chart_identity
from tests.support.kube import Cluster, account_token, account_with_role, fresh_namespaces, json_object, raw
from tests.support.metrics import sample
from tests.support.rpc import grpc_send
from tests.support.served import Server, gunicorn
from tests.support.waiting import wait_for

AUTH = "auth.mode=kubernetes"
# What a user of the API needs in a namespace: the README's example Role.
CALLER_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters", "rayjobs", "rayservices"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create", "delete"]},
]
READER_RULES = [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "list"]}]
# (kind in the V1 paths, the body of one, its Kubernetes resource as a refusal names it)
KINDS = [
    ("compute_templates", template_body, "configmaps"),
    ("clusters", cluster_body, "rayclusters.ray.io"),
    ("jobs", job_body, "rayjobs.ray.io"),
    ("services", service_body, "rayservices.ray.io"),
]


@dataclass
class Caller:
    name: str
    namespace: str  # where its Role is
    token: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Plane:
    cluster: Cluster
    server: Server
    a: str
    b: str
    alice: Caller
    bob: Caller
    carol: Caller


def make_caller(cluster: Cluster, namespace: str, name: str, rules: list[Json], seconds: int = 3600) -> Caller:
    """A ServiceAccount bound to a Role of `rules` in `namespace`, and a token of it."""
    account_with_role(cluster.api, namespace, name, rules)
    return Caller(name, namespace, account_token(cluster.api, namespace, name, seconds))


@pytest.fixture(scope="module")
def plane(cluster: Cluster, helm: Helm, ray_head: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    workdir = tmp_path_factory.mktemp("auth")
    with fresh_namespaces(cluster, 3, prefix="auth") as (a, b, home), \
            chart_identity(cluster, helm, home, workdir, AUTH) as identity:
        alice = make_caller(cluster, a, "alice", CALLER_RULES)
        bob = make_caller(cluster, b, "bob", CALLER_RULES)
        carol = make_caller(cluster, a, "carol", READER_RULES)
        with gunicorn(cluster, workdir, KUBERAY_API_KUBECONFIG=str(identity.kubeconfig),
                      KUBERAY_API_AUTH_MODE="kubernetes", KUBERAY_API_LOG_FORMAT="json",
                      KUBERAY_API_DASHBOARD_URL=ray_head.url) as server:
            yield Plane(cluster, server, a, b, alice, bob, carol)


def http(server: Server, caller: Caller | None) -> Send:
    """A V1 call over HTTP as `caller` (None: no credentials): (status, JSON body)."""
    def send(method: str, path: str, body: Json | None) -> tuple[int, Any]:
        headers = caller.header if caller else {}
        response = requests.request(method, f"http://127.0.0.1:{server.port}/apis/v1{path}", json=body,
                                    headers=headers, timeout=30)
        return response.status_code, response.json()
    return send


def rpc(channel: grpc.Channel, caller: Caller | None) -> Send:
    """The same call over gRPC, its answer as HTTP would give it."""
    metadata = (("authorization", f"Bearer {caller.token}"),) if caller else ()
    send = grpc_send(channel, metadata=metadata)
    return lambda method, path, body: send(method, f"/apis/v1{path}", body)


def refusal(answer: tuple[int, Any], status: int, code: int) -> str:
    got, body = answer
    assert (got, body.get("code")) == (status, code), answer
    return str(body["message"])


def expect_forbidden(answer: tuple[int, Any], caller: Caller, resource: str, namespace: str | None) -> None:
    """403, code 7, in Kubernetes' words: the resource, the caller and the namespace refused."""
    message = refusal(answer, 403, 7)
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    assert resource in message, message
    assert f'User "{caller.username}"' in message, message
    assert where in message, message


def names(answer: tuple[int, Any], key: str) -> list[str]:
    status, body = answer
    assert status == 200, answer
    return sorted(item["name"] for item in body.get(key) or [])


LIST_KEYS = {"compute_templates": "computeTemplates", "clusters": "clusters", "jobs": "jobs",
             "services": "services"}


@pytest.fixture(scope="module")
def channel(plane: Plane) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{plane.server.grpc_port}") as opened:
        yield opened


# -- each caller, its own namespace and the other --------------------------------------------

@pytest.mark.parametrize("front", ["http", "grpc"])
def test_each_caller_manages_its_own_namespace_and_is_refused_the_other(
    plane: Plane, channel: grpc.Channel, front: str
) -> None:
    def as_(caller: Caller) -> Send:
        return http(plane.server, caller) if front == "http" else rpc(channel, caller)

    pairs = [(plane.alice, plane.a, plane.b, plane.bob), (plane.bob, plane.b, plane.a, plane.alice)]
    name = {kind: "default-template" if kind == "compute_templates" else f"{kind[:-1]}-{front}" for kind, _, _ in KINDS}
    for caller, own, _, _ in pairs:  # create, in its own namespace (the template first: the others use it)
        for kind, body, _ in KINDS:
            status, answer = as_(caller)("POST", f"/namespaces/{own}/{kind}", body(own, name[kind]))
            assert status == 200, (caller.name, kind, answer)

    for caller, own, other, owner in pairs:
        send = as_(caller)
        for kind, body, resource in KINDS:
            # its own: read and listed (from the watch caches, once they hold the new objects)
            wait_for(partial(send, "GET", f"/namespaces/{own}/{kind}/{name[kind]}", None),
                     until=lambda answer: answer[0] == 200, timeout=20, what=f"{caller.name} to read its {kind}")
            assert name[kind] in names(send("GET", f"/namespaces/{own}/{kind}", None), LIST_KEYS[kind])
            # the other's: every operation refused, though the object is there
            expect_forbidden(send("GET", f"/namespaces/{other}/{kind}/{name[kind]}", None), caller, resource, other)
            expect_forbidden(send("GET", f"/namespaces/{other}/{kind}", None), caller, resource, other)
            expect_forbidden(send("DELETE", f"/namespaces/{other}/{kind}/{name[kind]}", None), caller, resource, other)
            # (a create reads the compute templates it names first: that read is what is refused)
            expect_forbidden(send("POST", f"/namespaces/{other}/{kind}", body(other, "intruder")), caller,
                             "configmaps", other)
            # across all namespaces: no cluster-wide rights
            expect_forbidden(send("GET", f"/{kind}", None), caller, resource, None)
            # the other's object is untouched: its owner still reads it
            assert as_(owner)("GET", f"/namespaces/{other}/{kind}/{name[kind]}", None)[0] == 200

    for caller, own, _, _ in pairs:  # delete, in its own namespace (the template last)
        for kind, _, _ in reversed(KINDS):
            status, answer = as_(caller)("DELETE", f"/namespaces/{own}/{kind}/{name[kind]}", None)
            assert status == 200, (caller.name, kind, answer)


def test_the_v2_api_acts_as_its_caller(plane: Plane) -> None:
    """The official Kubernetes client, pointed at our server with a caller's token: its own namespace
    works, the other answers Kubernetes' own 403."""
    for caller, own, other in ((plane.alice, plane.a, plane.b), (plane.bob, plane.b, plane.a)):
        configuration = client.Configuration(host=f"http://127.0.0.1:{plane.server.port}",
                                             api_key={"BearerToken": caller.token},
                                             api_key_prefix={"BearerToken": "Bearer"})
        with client.ApiClient(configuration) as api:
            ray = client.CustomObjectsApi(api)
            body: Json = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": f"v2-{caller.name}"},
                          "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                              {"name": "ray-head", "image": "rayproject/ray:2.7.0"}]}}}}}
            created = json_object(ray.create_namespaced_custom_object("ray.io", "v1", own, "rayclusters", body))
            assert created["metadata"]["namespace"] == own
            assert ray.get_namespaced_custom_object("ray.io", "v1", own, "rayclusters", body["metadata"]["name"])
            listed = json_object(ray.list_namespaced_custom_object("ray.io", "v1", own, "rayclusters"))
            assert body["metadata"]["name"] in [item["metadata"]["name"] for item in listed["items"]]
            for attempt in (
                partial(ray.list_namespaced_custom_object, "ray.io", "v1", other, "rayclusters"),
                partial(ray.create_namespaced_custom_object, "ray.io", "v1", other, "rayclusters", body),
                partial(ray.list_cluster_custom_object, "ray.io", "v1", "rayclusters"),
            ):
                with pytest.raises(ApiException) as refused:
                    attempt()
                assert refused.value.status == 403
                status = status_of(refused.value)
                assert f'User "{caller.username}"' in status["message"], status
            ray.delete_namespaced_custom_object("ray.io", "v1", own, "rayclusters", body["metadata"]["name"])
            # Both events routes are the caller's too: their Role grants events.k8s.io events in
            # their namespace, and no core events (the legacy route's) anywhere.
            raw(client.EventsV1Api(api).list_namespaced_event(own, _preload_content=False)).release_conn()
            refused_reads: list[tuple[Callable[[], Any], str]] = [
                (partial(client.EventsV1Api(api).list_namespaced_event, other, _preload_content=False),
                 "events.k8s.io"),
                (partial(client.CoreV1Api(api).list_namespaced_event, own), ""),
            ]
            for read, group in refused_reads:
                with pytest.raises(ApiException) as refused:
                    read()
                assert refused.value.status == 403
                message = status_of(refused.value)["message"]
                assert f'User "{caller.username}"' in message, message
                assert f'cannot list resource "events" in API group "{group}"' in message, message


def test_the_cache_never_answers_a_caller_what_kubernetes_would_refuse(plane: Plane) -> None:
    """alice's reads are answered from the caches; bob, right after, is refused the same reads, and
    carol may read the clusters of A (her Role) but not its templates, jobs or services."""
    alice, bob, carol = http(plane.server, plane.alice), http(plane.server, plane.bob), http(plane.server, plane.carol)
    a = plane.a
    assert alice("POST", f"/namespaces/{a}/compute_templates", template_body(a, "cached"))[0] == 200
    assert alice("POST", f"/namespaces/{a}/clusters",
                 {**cluster_body(a, "cached"), "clusterSpec": _with_template(cluster_body(a)["clusterSpec"])})[0] == 200

    def metrics() -> str:
        return requests.get(f"http://127.0.0.1:{plane.server.port}/metrics", timeout=10).text

    before = sample(metrics(), "kuberay_api_cache_reads_total", cache="rayclusters", source="cache")
    for _ in range(5):  # several times: each gunicorn worker holds caches of its own
        assert alice("GET", f"/namespaces/{a}/clusters/cached", None)[0] == 200
        assert "cached" in names(alice("GET", f"/namespaces/{a}/clusters", None), "clusters")
        expect_forbidden(bob("GET", f"/namespaces/{a}/clusters/cached", None), plane.bob, "rayclusters", a)
        expect_forbidden(bob("GET", f"/namespaces/{a}/clusters", None), plane.bob, "rayclusters", a)
        expect_forbidden(bob("GET", f"/namespaces/{a}/compute_templates/cached", None), plane.bob, "configmaps", a)
        expect_forbidden(bob("GET", "/clusters", None), plane.bob, "rayclusters", None)
        assert carol("GET", f"/namespaces/{a}/clusters/cached", None)[0] == 200
        expect_forbidden(carol("GET", f"/namespaces/{a}/compute_templates/cached", None), plane.carol, "configmaps", a)
        expect_forbidden(carol("GET", f"/namespaces/{a}/jobs", None), plane.carol, "rayjobs", a)
        expect_forbidden(carol("GET", "/clusters", None), plane.carol, "rayclusters", None)
    after = sample(metrics(), "kuberay_api_cache_reads_total", cache="rayclusters", source="cache")
    assert after - before >= 10, (before, after)  # the reads above were the cache's to answer
    # The cluster's events (the operator's) are alice's to see; carol, whose Role has none, gets the
    # cluster without them, as a refused events read from Kubernetes is taken.
    wait_for(lambda: alice("GET", f"/namespaces/{a}/clusters/cached", None)[1].get("events"), timeout=30,
             what="the operator's events about the cluster")
    for _ in range(4):
        status, answer = carol("GET", f"/namespaces/{a}/clusters/cached", None)
        assert status == 200, answer
        assert "events" not in answer, answer
    assert alice("DELETE", f"/namespaces/{a}/clusters/cached", None)[0] == 200
    assert alice("DELETE", f"/namespaces/{a}/compute_templates/cached", None)[0] == 200


def _with_template(spec: Json, template: str = "cached") -> Json:
    spec = json.loads(json.dumps(spec))
    spec["headGroupSpec"]["computeTemplate"] = template
    for group in spec["workerGroupSpec"]:
        group["computeTemplate"] = template
    return spec


def test_job_submissions_need_the_head_services_proxy(plane: Plane) -> None:
    """Submitting to a cluster's dashboard takes what reaching it through Kubernetes would: alice may,
    carol (who may read the cluster) is refused naming `services/proxy`, bob is refused the cluster."""
    a = plane.a
    alice = http(plane.server, plane.alice)
    assert alice("POST", f"/namespaces/{a}/compute_templates", template_body(a, "jobs"))[0] == 200
    body = {**cluster_body(a, "jobs"), "clusterSpec": _with_template(cluster_body(a)["clusterSpec"], "jobs")}
    assert alice("POST", f"/namespaces/{a}/clusters", body)[0] == 200
    wait_for(lambda: alice("GET", f"/namespaces/{a}/clusters/jobs", None)[1].get("clusterState") == "ready",
             timeout=90, what="the operator to make the cluster ready")
    path = f"/namespaces/{a}/jobsubmissions/jobs"

    status, answer = alice("POST", path, {"entrypoint": 'python -c "print(42)"'})
    assert status == 200, answer
    assert answer["submissionId"], answer
    status, answer = alice("GET", path, None)
    assert status == 200, answer
    message = refusal(http(plane.server, plane.carol)("GET", path, None), 403, 7)
    assert 'services "jobs-head-svc" is forbidden' in message, message
    assert '"services/proxy"' in message, message
    message = refusal(http(plane.server, plane.carol)("POST", path, {"entrypoint": "true"}), 403, 7)
    assert 'cannot create resource "services/proxy"' in message, message
    expect_forbidden(http(plane.server, plane.bob)("GET", path, None), plane.bob, "rayclusters", a)
    assert alice("DELETE", f"/namespaces/{a}/clusters/jobs", None)[0] == 200
    assert alice("DELETE", f"/namespaces/{a}/compute_templates/jobs", None)[0] == 200


# -- credentials refused ---------------------------------------------------------------------

def expired(cluster: Cluster, token: str) -> str:
    """The same token with its lifetime moved an hour into the past, signed again with the control
    plane's service-account key: a token Kubernetes itself would have issued, expired."""
    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    shift = int(time.time()) - 3600 - int(claims["exp"])
    for claim in ("iat", "nbf", "exp"):
        claims[claim] += shift
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signed = f"{header}.{body}"
    key = cluster.kubeconfig.parent / "pki" / "sa.key"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signed.encode(),
                               capture_output=True, check=True).stdout
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_no_wrong_or_expired_credentials_are_unauthenticated(plane: Plane, channel: grpc.Channel) -> None:
    cluster = plane.cluster
    stale = expired(cluster, plane.alice.token)
    review = K8s.from_kubeconfig(str(cluster.kubeconfig)).review_token(stale)
    assert not review.get("authenticated"), review
    assert "expired" in str(review.get("error")), review  # Kubernetes' word
    wrong = Caller("alice", plane.a, plane.alice.token[:-4] + "AAAA")
    base = f"http://127.0.0.1:{plane.server.port}"
    for headers in ({}, wrong.header, {"Authorization": f"Bearer {stale}"}, {"Authorization": stale},
                    {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, {"Authorization": f"Token {plane.alice.token}"}):
        for path in (f"/apis/v1/namespaces/{plane.a}/clusters", "/apis/v1alpha2/compute_templates",
                     f"/apis/v1/namespaces/{plane.a}/jobsubmissions/x"):
            response = requests.get(base + path, headers=headers, timeout=10)
            assert response.status_code == 401, (headers, path, response.text)
            assert response.json()["code"] == 16, (headers, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        v2 = requests.get(f"{base}/apis/ray.io/v1/namespaces/{plane.a}/rayclusters", headers=headers, timeout=10)
        assert v2.status_code == 401, v2.text
        assert v2.json()["reason"] == "Unauthorized", v2.text
        assert v2.headers["WWW-Authenticate"] == "Bearer"
    for metadata in ((), (("authorization", f"Bearer {stale}"),), (("authorization", "Bearer nonsense"),)):
        send = grpc_send(channel, metadata=metadata)
        status, answer = send("GET", f"/apis/v1/namespaces/{plane.a}/clusters", None)
        assert (status, answer["code"]) == (401, 16), answer
    # A bare token, as upstream's clients send it, is as good as a bearer one
    bare = requests.get(f"{base}/apis/v1/namespaces/{plane.a}/clusters", headers={"Authorization": plane.alice.token},
                        timeout=10)
    assert bare.status_code == 200, bare.text
    # Open without credentials: the probes, /metrics (unprotected by default), the docs, gRPC health
    for path in ("/healthz", "/readyz", "/metrics", "/apis/v1/openapi.json", "/swagger-ui/"):
        assert requests.get(base + path, timeout=10).status_code == 200, path
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_every_access_line_names_the_caller(plane: Plane, channel: grpc.Channel) -> None:
    marker = f"whoami-{time.monotonic_ns()}"
    http(plane.server, plane.bob)("GET", f"/namespaces/{plane.b}/clusters/{marker}", None)
    rpc(channel, plane.carol)("GET", f"/namespaces/{plane.a}/clusters/{marker}-rpc", None)

    def lines() -> list[Json]:
        return [json.loads(line) for line in plane.server.logs().splitlines() if line.startswith("{")]

    def caller_of(check: Callable[[Json], bool]) -> Any:
        found = [line for line in lines() if check(line)]
        return found and found[-1].get("caller")

    wait_for(lambda: caller_of(lambda line: line.get("operation") == "get_cluster"
                               and line.get("status") == 404) == plane.bob.username,
             timeout=10, what="bob's access line")
    wait_for(lambda: caller_of(lambda line: line.get("rpc") == "/proto.ClusterService/GetCluster")
             == plane.carol.username, timeout=10, what="carol's RPC line")


# -- the token mode, and the default -----------------------------------------------------------

def test_token_mode_accepts_only_its_token(cluster: Cluster, namespace: str) -> None:
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    kubernetes_token = make_caller(cluster, namespace, "someone", READER_RULES, seconds=600).token
    with own_app_with_rpc(k8s, auth_mode="token", auth_token="s3cret-Token", auth_metrics=True) as (app, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        path = f"/apis/v1/namespaces/{namespace}/compute_templates"
        for header in ("s3cret-Token", "Bearer s3cret-Token", "bearer s3cret-Token"):
            assert app.get(path, headers={"Authorization": header}).status_code == 200, header
            assert grpc_send(channel, metadata=(("authorization", header),))("GET", path, None)[0] == 200
        for header in ("", "s3cret-token", "Bearer s3cret-Tok", "s3cret-Token ", f"Bearer {kubernetes_token}",
                       "Basic czNjcmV0LVRva2Vu"):
            answer = app.get(path, headers={"Authorization": header} if header else {})
            assert (answer.status_code, answer.json()["code"]) == (401, 16), header
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            metadata = (("authorization", header),) if header else ()
            assert grpc_send(channel, metadata=metadata)("GET", path, None)[0] == 401, header
        # /metrics protected by its setting; the probes never
        assert app.get("/metrics").status_code == 401
        assert app.get("/metrics", headers={"Authorization": "s3cret-Token"}).status_code == 200
        assert app.get("/healthz").status_code == 200


def test_the_default_mode_asks_for_nothing(cluster: Cluster, namespace: str) -> None:
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    with own_app_with_rpc(k8s) as (app, port), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        path = f"/apis/v1/namespaces/{namespace}/compute_templates"
        assert app.get(path).status_code == 200
        assert app.get(path, headers={"Authorization": "Bearer anything"}).status_code == 200
        assert grpc_send(channel)("GET", path, None)[0] == 200
