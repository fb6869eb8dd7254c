"""The watch caches (app/cache/) against the real control plane: reads answered from memory,
never stale for the client that wrote, following what Kubernetes holds, paging that holds while
objects come and go, the probe that waits for them, and the same answers with the caches off."""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from kubernetes import client
from starlette.testclient import TestClient

from app.k8s import K8s
from app.main import create_app
from app.services.paging import cache_token_key
from app.settings import Settings
from app.types import Json
from tests.support.api import GatewayCalls, ok, own_app, ready, refused
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster, Kube
from tests.support.metrics import sample
from tests.support.served import Server, gunicorn, http_send
from tests.support.waiting import wait_for

ROUNDS = 100


def _reads(calls: dict[str, int]) -> dict[str, int]:
    """The calls made for requests, without the informers' own (their lists and watches)."""
    return {call: count for call, count in calls.items() if call not in ("list_page", "watch")}


def _names(answer: Json, key: str = "clusters") -> list[str]:
    return [item["name"] for item in answer.get(key, [])]


@pytest.fixture
def cached(app_client: TestClient) -> TestClient:
    """The session's app, once its caches answer (its lifespan started them)."""
    wait_for(partial(ready, app_client), timeout=60, what="the caches to sync")
    return app_client


# -- the probe, and reads that make no Kubernetes call -----------------------------------------

def test_readyz_waits_for_the_caches_then_reads_make_no_kubernetes_call(cluster: Cluster, namespace: str) -> None:
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    api = create_app(Settings(validate_responses=True), k8s).test_client()  # no lifespan: nothing started yet
    for _ in range(2):  # a probe, or a read, only asks: the caches start with the lifespan, not with them
        first = api.get("/readyz")
        assert first.status_code == 503, first.text
        assert first.json()["message"].startswith("Not ready: the watch caches are not synced yet (")
        refused(api.get(f"/apis/v1/namespaces/{namespace}/clusters/absent"), 404, 5)
    assert "list_page" not in calls.counts
    assert "watch" not in calls.counts
    assert calls.counts["get_object"] == 2
    with api:  # its lifespan starts the caches (and stops them at the end)
        wait_for(partial(ready, api), timeout=30, what="the caches to sync")
        ok(api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
        before = calls.counts.copy()
        created = ok(api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=cluster_body(namespace, "c1")))
        # the one write, after Kubernetes' dry runs of its two pods (head, worker): its template and
        # its events are read from memory
        assert _reads(calls.since(before)) == {"check_pod": 2, "create_object": 1}

        before = calls.counts.copy()
        assert ok(api.get(f"/apis/v1/namespaces/{namespace}/clusters/c1"))["clusterSpec"] == created["clusterSpec"]
        assert _names(ok(api.get(f"/apis/v1/namespaces/{namespace}/clusters"))) == ["c1"]
        assert "c1" in _names(ok(api.get("/apis/v1/clusters")))
        assert ok(api.get(f"/apis/v1/namespaces/{namespace}/compute_templates/default-template"))["cpu"] == 2
        assert _names(ok(api.get(f"/apis/v1/namespaces/{namespace}/compute_templates")), "computeTemplates") == \
            ["default-template"]
        refused(api.get(f"/apis/v1/namespaces/{namespace}/clusters/absent"), 404, 5)
        refused(api.get(f"/apis/v1/namespaces/{namespace}/jobs/absent"), 404, 5)
        refused(api.get(f"/apis/v1/namespaces/{namespace}/services/absent"), 404, 5)
        assert _reads(calls.since(before)) == {}  # every answer came from memory

        metrics = api.get("/metrics").text
        assert sample(metrics, "kuberay_api_cache_objects", cache="rayclusters") >= 1
        assert sample(metrics, "kuberay_api_cache_objects", cache="configmaps") >= 1
        assert sample(metrics, "kuberay_api_cache_reads_total", cache="rayclusters", source="cache") >= 3
        assert sample(metrics, "kuberay_api_cache_last_event_timestamp_seconds", cache="rayclusters") > 0


def test_caches_stopped_with_the_app_start_again_when_it_serves_again(cluster: Cluster, namespace: str) -> None:
    """A test client (schemathesis' too) runs an app's lifespan at each entry: the caches its end
    stopped start again with the next entry. A client without one starts nothing: its reads ask
    Kubernetes."""
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    app = create_app(Settings(validate_responses=True), k8s)
    path = f"/apis/v1/namespaces/{namespace}/compute_templates/default-template"
    for entry in range(2):
        with app.test_client() as api:
            wait_for(partial(ready, api), timeout=60, what="the caches to sync")
            if api.get(path).status_code == 404:
                ok(api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=template_body(namespace)))
            before = calls.counts.copy()
            ok(api.get(path))
            assert _reads(calls.since(before)) == {}, entry
    api = app.test_client()
    before = calls.counts.copy()
    ok(api.get(path))
    assert api.get("/readyz").status_code == 503
    assert calls.since(before) == {"get_configmap": 1, "check_ready": 1, "served_resources": 1}


def test_the_cache_follows_what_happens_past_the_server(cached: Any, kube: Kube, with_template: str) -> None:
    """The operator's events and status, and a delete made with kubectl, show in the answers."""
    app_client, namespace = cached, with_template
    path = f"/apis/v1/namespaces/{namespace}/clusters/c1"
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/clusters", json=cluster_body(namespace, "c1")))
    answer = wait_for(lambda: ok(app_client.get(path)), until=lambda body: body.get("events") and body.get("clusterState"),
                      timeout=60, what="the operator's events and state in the answer")
    assert {event["reason"] for event in answer["events"]} >= {"CreatedService"}
    kube.custom.delete_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "c1")
    wait_for(lambda: app_client.get(path).status_code == 404, timeout=30, what="the delete to show")


# -- read your writes, through both workers ---------------------------------------------------------

@pytest.fixture(scope="module")
def served(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server as production runs it: two workers, each with caches of its own."""
    with gunicorn(cluster, tmp_path_factory.mktemp("cache-served")) as server:
        yield server


def test_a_write_is_in_the_next_read_whichever_worker_answers(served: Server, namespace: str) -> None:
    """Each request on a new connection, so that either worker may answer it: a create is in the
    very next GET and list, 100 times, and a delete is gone from them, 100 times."""
    send = http_send(served.port)
    _, before = send("GET", "/metrics", None)
    assert send("POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace))[0] == 200
    clusters = f"/apis/v1/namespaces/{namespace}/clusters"
    templates = f"/apis/v1/namespaces/{namespace}/compute_templates"
    stale: list[str] = []
    for index in range(ROUNDS):
        name = f"c{index:03d}"
        status, created = send("POST", clusters, cluster_body(namespace, name))
        assert status == 200, created
        status, read = send("GET", f"{clusters}/{name}", None)
        if status != 200 or read["clusterSpec"] != created["clusterSpec"]:
            stale.append(f"GET after create {name}: {status}")
        status, listed = send("GET", clusters, None)
        if name not in _names(listed):
            stale.append(f"list after create {name}")
        status, _ = send("DELETE", f"{clusters}/{name}", None)
        assert status == 200
        status, _ = send("GET", f"{clusters}/{name}", None)
        if status != 404:
            stale.append(f"GET after delete {name}: {status}")
        status, listed = send("GET", clusters, None)
        if name in _names(listed):
            stale.append(f"list after delete {name}")
        template = f"t{index:03d}"
        send("POST", templates, template_body(namespace, template))
        if send("GET", f"{templates}/{template}", None)[0] != 200:
            stale.append(f"GET after create of template {template}")
        send("DELETE", f"{templates}/{template}", None)
        if template in _names(send("GET", templates, None)[1], "computeTemplates"):
            stale.append(f"list after delete of template {template}")
    assert stale == []
    _, after = send("GET", "/metrics", None)

    def served_from(source: str, cache: str) -> float:
        return (sample(after, "kuberay_api_cache_reads_total", cache=cache, source=source)
                - sample(before, "kuberay_api_cache_reads_total", cache=cache, source=source))

    # The answers came from the caches (4 cluster reads a round), not from Kubernetes around them.
    print(f"\ncluster reads: {served_from('cache', 'rayclusters'):.0f} from the caches, "
          f"{served_from('kubernetes', 'rayclusters'):.0f} from Kubernetes")
    assert served_from("cache", "rayclusters") >= 3 * ROUNDS, (served_from("cache", "rayclusters"),
                                                              served_from("kubernetes", "rayclusters"))


# -- paging -------------------------------------------------------------------------------------------

@pytest.fixture(params=["cache", "no cache"])
def pager(request: pytest.FixtureRequest, cached: Any, cluster: Cluster) -> Iterator[Any]:
    if request.param == "cache":
        yield cached
    else:
        with own_app(K8s.from_kubeconfig(str(cluster.kubeconfig)), cache=False) as api:
            yield api


def test_pages_list_each_object_there_throughout_once_while_others_come_and_go(
        pager: Any, app_client: TestClient, with_template: str) -> None:
    namespace = with_template
    base = f"/apis/v1/namespaces/{namespace}/clusters"
    originals = [f"c{index:02d}" for index in range(0, 14, 2)]
    for name in originals:
        ok(app_client.post(base, json=cluster_body(namespace, name)))
    seen: list[str] = []
    token = ""
    extra = 1
    while True:
        answer = ok(pager.get(base, params={"limit": 2, **({"continue": token} if token else {})}))
        seen += _names(answer)
        token = answer.get("continue", "")
        # Between pages: clusters created before and after where the paging stands, one deleted.
        for name in (f"c{extra:02d}", f"c{14 - extra:02d}x"):
            ok(app_client.post(base, json=cluster_body(namespace, name)))
        if extra > 1:
            ok(app_client.delete(f"{base}/c{extra - 2:02d}"))  # an earlier round's
        extra += 2
        if not token:
            break
    assert [name for name in seen if name in originals] == originals
    assert len(seen) == len(set(seen)), seen


def test_a_page_token_of_the_cache_is_honoured_with_the_cache_off(
        cached: Any, cluster: Cluster, with_template: str) -> None:
    """A worker whose cache cannot answer (not synced, or switched off) continues the same paging."""
    app_client, namespace = cached, with_template
    base = f"/apis/v1/namespaces/{namespace}/clusters"
    for index in range(5):
        ok(app_client.post(base, json=cluster_body(namespace, f"c{index}")))

    def first_page_from_the_cache() -> Json | None:
        answer = ok(app_client.get(base, params={"limit": 2}))
        return answer if cache_token_key(answer["continue"]) is not None else None  # (not a relist's moment)
    first = wait_for(first_page_from_the_cache, timeout=30, what="a first page answered from the cache")
    assert _names(first) == ["c0", "c1"]
    assert cache_token_key(first["continue"]) == (namespace, "c1")
    with own_app(K8s.from_kubeconfig(str(cluster.kubeconfig)), cache=False) as uncached:
        second = ok(uncached.get(base, params={"limit": 2, "continue": first["continue"]}))
        third = ok(uncached.get(base, params={"limit": 2, "continue": second["continue"]}))
    assert (_names(second), _names(third), "continue" in third) == (["c2", "c3"], ["c4"], False)


# -- the caches off --------------------------------------------------------------------------------

def test_with_the_cache_off_every_read_asks_kubernetes_and_answers_alike(
        cached: Any, cluster: Cluster, with_template: str) -> None:
    app_client, namespace = cached, with_template
    path = f"/apis/v1/namespaces/{namespace}/clusters/c1"
    ok(app_client.post(f"/apis/v1/namespaces/{namespace}/clusters", json=cluster_body(namespace, "c1")))
    cached = ok(app_client.get(path))
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache=False) as uncached:
        direct = ok(uncached.get(path))
        listed = ok(uncached.get(f"/apis/v1/namespaces/{namespace}/clusters"))
        probe = uncached.get("/readyz")
    assert calls.counts["get_object"] == 1
    assert calls.counts["list_objects"] == 1
    assert "watch" not in calls.counts
    assert "list_page" not in calls.counts  # no cache at all
    assert probe.status_code == 200
    same = ("name", "namespace", "user", "version", "clusterSpec", "annotations", "createdAt")
    assert {key: direct[key] for key in same} == {key: cached[key] for key in same}
    assert _names(listed) == ["c1"]


def test_a_single_namespace_cache_holds_its_namespace_and_leaves_the_others_to_kubernetes(
        cluster: Cluster, namespace: str, other_namespace: str) -> None:
    k8s = K8s.from_kubeconfig(str(cluster.kubeconfig))
    calls = GatewayCalls(k8s)
    with own_app(k8s, cache_namespace=namespace) as api:
        for ns in (namespace, other_namespace):
            ok(api.post(f"/apis/v1/namespaces/{ns}/compute_templates", json=template_body(ns)))
        wait_for(partial(ready, api), timeout=30, what="the caches to sync")
        before = calls.counts.copy()
        ok(api.get(f"/apis/v1/namespaces/{namespace}/compute_templates/default-template"))
        assert _reads(calls.since(before)) == {}
        ok(api.get(f"/apis/v1/namespaces/{other_namespace}/compute_templates/default-template"))
        ok(api.get("/apis/v1/compute_templates"))
        assert _reads(calls.since(before)) == {"get_configmap": 1, "list_configmaps": 1}


# -- the API server restarted ------------------------------------------------------------------------

def test_after_the_api_server_restarts_the_caches_catch_up_on_what_changed_meanwhile(plane: Any) -> None:
    """Its watches break; they resume from their revision or, when the restarted server no longer
    keeps it (410), list again. Either way a ConfigMap created and one deleted right after the
    restart, past the server, show in answers given from memory."""
    api_client = client.ApiClient(plane_configuration(plane))
    core = client.CoreV1Api(api_client)
    k8s = K8s.from_kubeconfig(str(plane.kubeconfig))
    calls = GatewayCalls(k8s)
    base = "/apis/v1/namespaces/default/compute_templates"
    with own_app(k8s) as api:
        wait_for(partial(ready, api), timeout=60, what="the caches to sync")
        ok(api.post(base, json=template_body("default", "before")))
        before = api.get("/metrics").text
        plane.stop_component("kube-apiserver")
        plane.start_component("kube-apiserver")
        wait_for(lambda: _reachable(core), timeout=60, what="the API server to answer")
        core.create_namespaced_config_map("default", client.V1ConfigMap.model_validate({"metadata": {
            "name": "after", "labels": {"ray.io/config-type": "compute-template", "ray.io/compute-template": "after"}},
            "data": {"name": "after", "namespace": "default", "cpu": "1", "memory": "1"}}))
        core.delete_namespaced_config_map("before", "default")

        def caught_up() -> bool:
            counted = calls.counts.copy()
            names = _names(ok(api.get(base)), "computeTemplates")
            return names == ["after"] and _reads(calls.since(counted)) == {}  # and from memory
        wait_for(caught_up, timeout=60, what="the caches to show both changes")
        after = api.get("/metrics").text
    restarts = {reason: sample(after, "kuberay_api_cache_watch_restarts_total", cache="configmaps", reason=reason)
                - sample(before, "kuberay_api_cache_watch_restarts_total", cache="configmaps", reason=reason)
                for reason in ("failed", "expired", "ended")}
    assert restarts["failed"] + restarts["expired"] >= 1, restarts
    api_client.close()


def plane_configuration(plane: Any) -> client.Configuration:
    from kubernetes import config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    return configuration


def _reachable(core: client.CoreV1Api) -> bool:
    try:
        core.list_namespaced_config_map("default", limit=1)
        return True
    except Exception:  # (refused, or not ready yet)
        return False
