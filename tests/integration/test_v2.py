"""The V2 API through the official Kubernetes Python client, whose host is our server (gunicorn, as
production runs it), against the real control plane: what it creates, reads, patches, watches and
deletes is what Kubernetes holds and what the V1 API shows (RayCronJobs too, which the operator v1.6
serves); the events of ray.io objects, through both events routes, and never another object's; and
every refusal of the V2 API.

The services proxy is tested in test_v2_proxy.py, CORS in a real browser in tests/browser/.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from app.types import Json
from tests.support.api import kubernetes_status, status_of
from tests.support.bodies import cluster_body, job_body, template_body
from tests.support.kube import MANAGED, Cluster, Kube, fresh_namespaces, json_object, present, raw
from tests.support.served import Server, gunicorn, http_send, kubernetes_client
from tests.support.waiting import wait_for

RAY = ("ray.io", "v1")


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(cluster, tmp_path_factory.mktemp("v2")) as served:
        yield served


@pytest.fixture
def v2(server: Server) -> Iterator[client.ApiClient]:
    """The Kubernetes client, pointed at our server instead of the API server: no credentials."""
    with kubernetes_client(server) as api:
        yield api


@pytest.fixture
def namespaces(cluster: Cluster) -> Iterator[list[str]]:
    with fresh_namespaces(cluster, 2, prefix="v2") as names:
        yield names


def request(server: Server, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, parse: bool = True) -> tuple[int, dict[str, str], Any]:
    """The answer's status, headers and body: decoded if JSON and `parse` (not a watch's stream)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    answer = json.loads(data) if parse and data and \
        response.getheader("Content-Type", "").startswith("application/json") else data
    return response.status, {k.lower(): v for k, v in response.getheaders()}, answer


def v1_sent(server: Server, method: str, path: str, body: Any = None) -> Json:
    status, answer = http_send(server.port)(method, path, body)
    assert status == 200, (method, path, status, answer)
    return dict(answer)


def copied(obj: Json, name: str) -> Json:
    """An object as Kubernetes holds it, as a client would post it again under another name."""
    metadata = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "spec": obj["spec"],
            "metadata": {"name": name, "labels": metadata.get("labels", {}),
                         "annotations": metadata.get("annotations", {})}}


def replaced(kube: Kube, custom: client.CustomObjectsApi, plural: str, namespace: str, name: str,
             edit: Callable[[Json], None]) -> None:
    """A PUT through V2 of the object as Kubernetes holds it, after `edit`; read again on a conflict
    (the operator writes too)."""
    def update() -> bool:
        current = present(kube.get(plural, namespace, name))
        edit(current)
        try:
            custom.replace_namespaced_custom_object(*RAY, namespace, plural, name, current)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            return False
        return True

    wait_for(update, timeout=30, what=f"the update of {plural} {name}")


def head_to_template(head: Json, template: str) -> None:
    """The head group names `template` instead of its resources, for the compute-template step to fill in."""
    head["computeTemplate"] = template
    del head["template"]["spec"]["containers"][0]["resources"]


SAME = {"clusters": ("user", "version", "environment", "clusterSpec"), "jobs": ("user", "entrypoint", "clusterSpec")}


@pytest.mark.parametrize(("kind", "plural"), [("clusters", "rayclusters"), ("jobs", "rayjobs")])
def test_the_kubernetes_client_manages_ray_objects_through_v2_and_v1_sees_them(
        server: Server, v2: client.ApiClient, kube: Kube, namespaces: list[str], kind: str, plural: str) -> None:
    first, second = namespaces
    custom = client.CustomObjectsApi(v2)
    for ns in namespaces:
        v1_sent(server, "POST", f"/apis/v1/namespaces/{ns}/compute_templates", template_body(ns))
    body = cluster_body(first, "made-by-v1") if kind == "clusters" else job_body(first, "made-by-v1")
    made_by_v1 = v1_sent(server, "POST", f"/apis/v1/namespaces/{first}/{kind}", body)

    # list and get: V1's object, as Kubernetes holds it
    held = present(kube.get(plural, first, "made-by-v1"))
    listed = json_object(custom.list_namespaced_custom_object(*RAY, first, plural))
    assert [item["metadata"]["uid"] for item in listed["items"]] == [held["metadata"]["uid"]]
    # (the operator may write it between two reads: both reads agree once it is done)
    wait_for(lambda: custom.get_namespaced_custom_object(*RAY, first, plural, "made-by-v1")
             == kube.get(plural, first, "made-by-v1"), timeout=30, what="V2's GET to be Kubernetes' object")

    # create: Kubernetes holds it, and V1 answers it as it answers its own
    created = json_object(custom.create_namespaced_custom_object(*RAY, second, plural, copied(held, "made-by-v2")))
    assert present(kube.get(plural, second, "made-by-v2"))["metadata"]["uid"] == created["metadata"]["uid"]
    path = f"/apis/v1/namespaces/{second}/{kind}/made-by-v2"
    wait_for(lambda: http_send(server.port)("GET", path, None)[0] == 200, timeout=30, what="V1 to see it")
    seen_by_v1 = v1_sent(server, "GET", path)
    assert {key: seen_by_v1.get(key) for key in SAME[kind]} == {key: made_by_v1.get(key) for key in SAME[kind]}
    assert (seen_by_v1["name"], seen_by_v1["namespace"]) == ("made-by-v2", second)

    # patch (a JSON merge patch) and all namespaces' list
    patched = json_object(custom.patch_namespaced_custom_object(*RAY, second, plural, "made-by-v2",
                                                                {"metadata": {"labels": {"team": "blue"}}}))
    assert patched["metadata"]["labels"]["team"] == "blue"
    assert present(kube.get(plural, second, "made-by-v2"))["metadata"]["labels"]["team"] == "blue"
    everywhere = json_object(custom.list_cluster_custom_object(*RAY, plural, label_selector="team=blue"))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == \
        [(second, "made-by-v2")]

    # delete: gone from Kubernetes, and V1 says so
    custom.delete_namespaced_custom_object(*RAY, second, plural, "made-by-v2")
    wait_for(lambda: kube.get(plural, second, "made-by-v2") is None, timeout=30, what="the deletion")
    wait_for(lambda: http_send(server.port)("GET", path, None)[0] == 404, timeout=30, what="V1 to see it gone")
    with pytest.raises(client.ApiException) as gone:
        custom.get_namespaced_custom_object(*RAY, second, plural, "made-by-v2")
    assert gone.value.status == 404
    assert status_of(gone.value)["reason"] == "NotFound"  # Kubernetes' own Status, unchanged


def test_kubernetes_refusals_pass_back_unchanged(v2: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(v2)
    with pytest.raises(client.ApiException) as invalid:
        custom.create_namespaced_custom_object(*RAY, namespace, "rayclusters", {
            "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "Not_A_Name"}, "spec": {}})
    assert invalid.value.status == 422
    status = status_of(invalid.value)
    assert status["reason"] == "Invalid"
    assert "Not_A_Name" in status["message"]
    assert status["details"]["kind"] == "RayCluster"  # details only Kubernetes writes


def test_yaml_bodies_and_answers(server: Server, kube: Kube, namespace: str) -> None:
    manifest = (f"apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: from-yaml\n  namespace: {namespace}\n"
                "spec:\n  headGroupSpec:\n    rayStartParams: {}\n    template:\n      spec:\n        containers:\n"
                "        - name: ray-head\n          image: rayproject/ray:2.9.0\n")
    status, headers, answer = request(server, "POST", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                                      manifest.encode(), {"Content-Type": "application/yaml",
                                                          "Accept": "application/yaml"})
    assert status == 201, answer
    assert headers["content-type"] == "application/yaml"
    assert b"name: from-yaml" in answer
    assert kube.get("rayclusters", namespace, "from-yaml") is not None


def test_events_are_those_of_ray_objects(server: Server, v2: client.ApiClient, cluster: Cluster,
                                         namespace: str) -> None:
    core = client.CoreV1Api(cluster.api)

    def event(name: str, api_version: str, kind: str) -> None:  # (as the operator records them)
        core.create_namespaced_event(namespace, client.CoreV1Event.model_validate({
            "metadata": {"name": name}, "reason": "Tested", "message": name, "type": "Normal",
            "source": {"component": "tests"},
            "involvedObject": {"apiVersion": api_version, "kind": kind, "name": "c", "namespace": namespace}}))

    event("about-a-raycluster", "ray.io/v1", "RayCluster")
    event("about-a-rayjob", "ray.io/v1", "RayJob")
    event("about-a-configmap", "v1", "ConfigMap")

    def names(**query: Any) -> list[str]:
        # (The client's Event model cannot read events without an eventTime, so the answer is read raw.)
        answer = raw(client.EventsV1Api(v2).list_namespaced_event(namespace, _preload_content=False, **query))
        return sorted(item["metadata"]["name"] for item in json.loads(answer.data)["items"])

    assert names() == ["about-a-raycluster", "about-a-rayjob"]
    assert names(field_selector="regarding.kind=RayJob") == ["about-a-rayjob"]
    assert names(field_selector="regarding.kind=ConfigMap") == []  # the caller's selector cannot widen it
    assert names(field_selector="regarding.apiVersion=v1") == []


def core_event(cluster: Cluster, namespace: str, name: str, api_version: str, kind: str) -> None:
    """A core v1 Event about an object, as a controller records one."""
    client.CoreV1Api(cluster.api).create_namespaced_event(namespace, client.CoreV1Event.model_validate({
        "metadata": {"name": name}, "reason": "Tested", "message": name, "type": "Normal",
        "source": {"component": "tests"},
        "involvedObject": {"apiVersion": api_version, "kind": kind, "name": "c", "namespace": namespace}}))


RAY_CORE_EVENTS = ["about-a-raycluster", "about-a-raycronjob"]  # (in the test's namespace)
OTHERS = (b"about-a-pod", b"about-a-configmap", b"elsewhere-")  # never shown by the legacy events route


@pytest.fixture
def core_events(cluster: Cluster, namespaces: list[str]) -> list[str]:
    """Events about ray.io objects and about a Pod and a ConfigMap, in the first namespace and the
    second (`elsewhere-*`)."""
    first, second = namespaces
    core_event(cluster, first, "about-a-raycluster", "ray.io/v1", "RayCluster")
    core_event(cluster, first, "about-a-raycronjob", "ray.io/v1", "RayCronJob")
    core_event(cluster, first, "about-a-pod", "v1", "Pod")
    core_event(cluster, first, "about-a-configmap", "v1", "ConfigMap")
    core_event(cluster, second, "elsewhere-raycluster", "ray.io/v1", "RayCluster")
    core_event(cluster, second, "elsewhere-pod", "v1", "Pod")
    return namespaces


def test_the_legacy_events_route_reads_ray_objects_events(v2: client.ApiClient, core_events: list[str]) -> None:
    """`GET /api/v1/namespaces/{ns}/events`, as KubeRay clients before v1.7 read events."""
    first, second = core_events

    def names(namespace: str = first, **query: Any) -> list[str]:
        answer = raw(client.CoreV1Api(v2).list_namespaced_event(namespace, _preload_content=False, **query))
        return sorted(item["metadata"]["name"] for item in json.loads(answer.data)["items"])

    assert names() == RAY_CORE_EVENTS
    assert names(field_selector="involvedObject.kind=RayCronJob") == ["about-a-raycronjob"]
    assert names(field_selector="involvedObject.kind=Pod") == []  # the caller's selector cannot widen it
    assert names(second) == ["elsewhere-raycluster"]
    # the typed client reads the answer too (core Events need no eventTime)
    listed = client.CoreV1Api(v2).list_namespaced_event(first)
    assert sorted(str(event.metadata.name) for event in listed.items) == RAY_CORE_EVENTS


@pytest.mark.parametrize("query", [
    "fieldSelector=involvedObject.apiVersion%21%3Dray.io%2Fv1",
    "fieldSelector=involvedObject.apiVersion!=ray.io/v1",
    "fieldSelector=involvedObject.apiVersion%3Dv1",
    "fieldSelector=involvedObject.kind%3DPod",
    "fieldSelector=involvedObject.apiVersion%3Dv1&fieldSelector=involvedObject.kind%3DPod",
    "fieldSelector=involvedObject.apiVersion%3Dv1&fieldSelector=involvedObject.apiVersion%3Dray.io%2Fv1",
    "fieldSelector=involvedObject.apiVersion%3Dv1%2CinvolvedObject.apiVersion%21%3Dx",  # an encoded comma
    "fieldSelector=involvedObject.apiVersion=ray.io/v1||involvedObject.apiVersion=v1",
    "fieldSelector=involvedObject.apiVersion%3Dray.io%2Fv1%7C%7CinvolvedObject.apiVersion%3Dv1",
    "fieldSelector=,,involvedObject.apiVersion%3Dv1,",
    "fieldSelector=metadata.namespace%21%3Dx%5C",  # a trailing backslash, escaping the comma after it
    "fieldSelector=metadata.namespace%21%3Dx%5C%5C",
    "fieldSelector=involvedObject.apiVersion%3Dv1;fieldSelector=",
    "fieldSelector=",
    "fieldSelector",
    "%66ieldSelector=involvedObject.apiVersion%3Dv1",
    "fieldselector=involvedObject.apiVersion%3Dv1",
    "field%53elector=involvedObject.apiVersion%21%3Dray.io%2Fv1",
    "labelSelector=%21nothing",
    "labelSelector=",
    "resourceVersion=0",
    "resourceVersion=0&resourceVersionMatch=NotOlderThan",
    "limit=1",
    "watch=false",
    "fieldSelector=involvedObject.apiVersion%3Dv1&watch=true&timeoutSeconds=2",
    "watch=true&timeoutSeconds=2&allowWatchBookmarks=true",
])
def test_the_legacy_events_route_cannot_be_widened_by_its_query(server: Server, core_events: list[str],
                                                                 query: str) -> None:
    """Whatever the query: ray.io objects' events of the namespace only, or a refusal."""
    first, _ = core_events
    status, _, text = request(server, "GET", f"/api/v1/namespaces/{first}/events?{query}", parse=False)
    assert not any(other in text for other in OTHERS), (query, text[:500])
    if status == 200 and "watch=true" in query:  # a watch's stream: one object a line
        changes = [json.loads(line) for line in text.splitlines() if line]
        assert {change["object"]["involvedObject"]["apiVersion"] for change in changes
                if change["type"] != "BOOKMARK"} <= {"ray.io/v1"}
    elif status == 200:
        answer = json.loads(text)
        assert answer["kind"] == "EventList"
        assert {item["involvedObject"]["apiVersion"] for item in answer["items"]} <= {"ray.io/v1"}
    else:
        answer = json.loads(text)
        assert status == 400, (query, status, answer)
        kubernetes_status(answer, 400)


@pytest.mark.parametrize(("method", "path", "code"), [
    ("GET", "/api/v1/events", 404),
    ("GET", "/api/v1/events?fieldSelector=involvedObject.apiVersion%3Dray.io%2Fv1", 404),
    ("GET", "/api/v1/watch/events", 404),
    ("GET", "/api/v1/watch/namespaces/{ns}/events", 404),
    ("GET", "/api/v1/namespaces/{ns}/events/about-a-pod", 404),
    ("GET", "/api/v1/namespaces/{ns}/events/", 404),
    ("GET", "/api/v1/namespaces/{ns}%2Fevents%2Fabout-a-pod", 404),
    ("GET", "/api/v1/namespaces/{ns}/events%3FfieldSelector%3D", 404),
    ("GET", "/api/v1/namespaces/{ns}/events;x", 404),
    ("GET", "/api/v1/namespaces/{ns}/events/../../{other}/events", 400),
    ("GET", "/api/v1/namespaces/{ns}/events/%2E%2E/%2E%2E/{other}/events", 400),
    ("GET", "/api/v1/namespaces/{ns}/../events", 400),
    ("GET", "/api/v1/namespaces/./events", 400),
    ("GET", "/api/v1//namespaces/{ns}/events", 400),
    ("GET", "/api/v1/namespaces/{ns}/pods/../events", 400),
    ("HEAD", "/api/v1/namespaces/{ns}/events", 405),
    ("DELETE", "/api/v1/namespaces/{ns}/events", 405),
    ("POST", "/api/v1/namespaces/{ns}/events", 405),
    ("PATCH", "/api/v1/namespaces/{ns}/events/about-a-pod", 404),
    ("DELETE", "/api/v1/namespaces/{ns}/events/about-a-pod", 404),
])
def test_the_legacy_events_route_serves_no_other_path_or_method(
        server: Server, cluster: Cluster, core_events: list[str], method: str, path: str, code: int) -> None:
    first, second = core_events
    status, headers, answer = request(server, method, path.format(ns=first, other=second))
    assert status == code, answer
    if method != "HEAD":  # a refusal, which holds no event (its message may repeat the path)
        assert set(kubernetes_status(answer, code)) == {"kind", "apiVersion", "metadata", "status", "message",
                                                         "reason", "code"}
    if code == 405:
        assert headers["allow"] == "GET"
    # nothing was deleted or changed
    held = client.CoreV1Api(cluster.api).list_namespaced_event(first).items
    assert sorted(str(event.metadata.name) for event in held) == sorted(
        [*RAY_CORE_EVENTS, "about-a-pod", "about-a-configmap"])


def test_the_legacy_events_route_watches_ray_objects_events(server: Server, cluster: Cluster,
                                                            core_events: list[str]) -> None:
    """A watch sends the events there are (ADDED), then those that come, ray.io objects' only."""
    first, _ = core_events
    got: list[bytes] = []

    def follow() -> None:
        got.append(request(server, "GET", f"/api/v1/namespaces/{first}/events?watch=true&timeoutSeconds=3",
                           parse=False)[2])

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(1)
    core_event(cluster, first, "about-a-rayjob", "ray.io/v1", "RayJob")
    core_event(cluster, first, "about-a-pod-later", "v1", "Pod")
    follower.join(15)
    [stream] = got
    seen = sorted(json.loads(line)["object"]["metadata"]["name"] for line in stream.splitlines() if line)
    assert seen == sorted([*RAY_CORE_EVENTS, "about-a-rayjob"])


def test_a_watch_streams_each_event_as_it_happens(server: Server, v2: client.ApiClient, kube: Kube,
                                                   namespace: str) -> None:
    """Events arrive while the watch is open, long before it ends: nothing waits for the whole stream."""
    seen: list[tuple[float, str, str]] = []
    started = threading.Event()

    def follow() -> None:
        stream = watch.Watch()
        custom = client.CustomObjectsApi(v2)
        started.set()
        for event in stream.stream(custom.list_namespaced_custom_object, *RAY, namespace, "rayclusters",
                                   timeout_seconds=30):
            seen.append((time.monotonic(), event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == 2:
                stream.stop()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    started.wait(5)
    time.sleep(1)  # (the watch is open)
    created_at = time.monotonic()
    kube.create("rayclusters", namespace, {"metadata": {"name": "watched"},
                                           "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {
                                               "spec": {"containers": [{"name": "ray-head", "image": "r"}]}}}}})
    follower.join(25)
    assert not follower.is_alive(), seen
    assert [(kind, name) for _, kind, name in seen] == [("ADDED", "watched"), ("MODIFIED", "watched")]
    assert seen[0][0] - created_at < 5  # the watch lasts 30 s: the event was not held back


def test_a_watch_ends_when_its_time_is_up(server: Server, namespace: str) -> None:
    began = time.monotonic()
    status, _, answer = request(server, "GET", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
                                "?watch=true&timeoutSeconds=2")
    assert status == 200
    assert answer == b""  # nothing happened in the namespace
    assert 1.5 < time.monotonic() - began < 10


def namespaced_watches(cluster: Cluster) -> int:
    """Watches of RayClusters in one namespace open at the API server (its own gauge)."""
    api = cluster.api
    text = api.call_api(*api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])).read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("apiserver_longrunning_requests{") and 'resource="rayclusters"' in line
               and 'scope="namespace"' in line and 'verb="WATCH"' in line)


def test_a_watch_whose_caller_goes_away_is_closed_at_once(server: Server, cluster: Cluster, namespace: str) -> None:
    """Not 10 minutes later, when it would end: a quiet watch holds a thread and a connection."""
    before = namespaced_watches(cluster)
    callers = []
    for _ in range(3):
        caller = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        caller.request("GET", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters?watch=true&timeoutSeconds=600")
        assert caller.getresponse().status == 200
        callers.append(caller)
    wait_for(lambda: namespaced_watches(cluster) == before + 3, timeout=10, what="the three watches to be open")
    for caller in callers:
        caller.close()
    wait_for(lambda: namespaced_watches(cluster) == before, timeout=10, what="the three watches to be closed")


def test_the_compute_template_step_on_create_and_update(server: Server, v2: client.ApiClient, kube: Kube,
                                                        namespace: str) -> None:
    v1_sent(server, "POST", f"/apis/v1/namespaces/{namespace}/compute_templates", {
        "name": "gpu", "namespace": namespace, "cpu": 4, "memory": 16, "gpu": 1,
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})
    v1_sent(server, "POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace, "small"))
    custom = client.CustomObjectsApi(v2)
    head = {"computeTemplate": "small", "rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}
    worker = {"groupName": "gpus", "computeTemplate": "gpu", "replicas": 0, "minReplicas": 0, "maxReplicas": 1,
              "rayStartParams": {}, "template": {"spec": {"containers": [
                  {"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}}
    body = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "templated"},
            "spec": {"headGroupSpec": head, "workerGroupSpecs": [worker]}}
    custom.create_namespaced_custom_object(*RAY, namespace, "rayclusters", body)

    held = present(kube.get("rayclusters", namespace, "templated"))
    head_pod = held["spec"]["headGroupSpec"]["template"]
    assert head_pod["metadata"]["annotations"]["ray.io/compute-template"] == "small"
    assert head_pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"},
                                                              "requests": {"cpu": "2", "memory": "4Gi"}}
    worker_pod = held["spec"]["workerGroupSpecs"][0]["template"]
    assert worker_pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "4", "memory": "16Gi",
                                                                          "nvidia.com/gpu": 1}
    assert worker_pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]

    # an update (PUT) is completed the same way (read again on a conflict: the operator writes too)
    replaced(kube, custom, "rayclusters", namespace, "templated", lambda current: head_to_template(
        current["spec"]["headGroupSpec"], "gpu"))
    updated = present(kube.get("rayclusters", namespace, "templated"))
    assert updated["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == \
        {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1}


def raycronjob(name: str, head_template: str, worker_template: str) -> Json:
    """A RayCronJob that never runs while the test does (suspended, yearly), its groups naming templates."""
    head = {"computeTemplate": head_template, "rayStartParams": {}, "template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}
    worker = {"groupName": "w", "computeTemplate": worker_template, "replicas": 0, "minReplicas": 0,
              "maxReplicas": 1, "rayStartParams": {}, "template": {"spec": {"containers": [
                  {"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}}
    return {"apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 3 1 1 *", "suspend": True, "jobTemplate": {
                "entrypoint": "python -V", "rayClusterSpec": {"headGroupSpec": head, "workerGroupSpecs": [worker]}}}}


def test_a_raycronjob_made_through_v2_runs_and_v1_lists_its_rayjobs(
        server: Server, v2: client.ApiClient, kube: Kube, namespace: str) -> None:
    """Made through V2 with the labels of the objects the server manages, a RayCronJob is one the
    V1 API answers, and the RayJobs the operator makes on its schedule are in that answer."""
    v1_sent(server, "POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace, "small"))
    body = raycronjob("each-minute", "small", "small")
    body["metadata"]["labels"] = dict(MANAGED)
    body["spec"] |= {"schedule": "* * * * *", "suspend": False}
    client.CustomObjectsApi(v2).create_namespaced_custom_object(*RAY, namespace, "raycronjobs", body)

    path = f"/apis/v1/namespaces/{namespace}/cronjobs/each-minute"
    answer = wait_for(lambda: v1_sent(server, "GET", path), until=lambda got: got.get("jobs"), timeout=150,
                      what="the operator to make the RayCronJob's first RayJob")
    [run, *_] = answer["jobs"]
    assert run["name"].startswith("each-minute-")
    assert present(kube.get("rayjobs", namespace, run["name"]))["metadata"]["labels"]["ray.io/cronjob-name"] \
        == "each-minute"
    assert answer["lastScheduleTime"].endswith("Z")
    assert v1_sent(server, "POST", f"{path}/suspend")["suspend"] is True


def test_raycronjobs_through_v2_get_their_compute_templates(server: Server, v2: client.ApiClient, kube: Kube,
                                                            namespace: str) -> None:
    """The operator (v1.6, RayCronJob gate on) serves RayCronJobs; V2 forwards them as the other
    kinds, completing the job template's cluster from the compute templates it names."""
    v1_sent(server, "POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace, "small"))
    v1_sent(server, "POST", f"/apis/v1/namespaces/{namespace}/compute_templates", {
        "name": "gpu", "namespace": namespace, "cpu": 4, "memory": 16, "gpu": 1,
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})
    custom = client.CustomObjectsApi(v2)

    created = json_object(custom.create_namespaced_custom_object(*RAY, namespace, "raycronjobs",
                                                                 raycronjob("nightly", "small", "gpu")))
    held = present(kube.get("raycronjobs", namespace, "nightly"))
    assert held["metadata"]["uid"] == created["metadata"]["uid"]
    cluster = held["spec"]["jobTemplate"]["rayClusterSpec"]
    head_pod = cluster["headGroupSpec"]["template"]
    assert head_pod["metadata"]["annotations"]["ray.io/compute-template"] == "small"
    assert head_pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"},
                                                              "requests": {"cpu": "2", "memory": "4Gi"}}
    worker_pod = cluster["workerGroupSpecs"][0]["template"]
    assert worker_pod["metadata"]["annotations"]["ray.io/compute-template"] == "gpu"
    assert worker_pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "4", "memory": "16Gi",
                                                                          "nvidia.com/gpu": 1}
    assert worker_pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]

    # list and get: Kubernetes' object
    listed = json_object(custom.list_namespaced_custom_object(*RAY, namespace, "raycronjobs"))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["nightly"]
    got = json_object(custom.get_namespaced_custom_object(*RAY, namespace, "raycronjobs", "nightly"))
    assert got["spec"]["jobTemplate"]["rayClusterSpec"] == cluster

    # an update (PUT) is completed too
    replaced(kube, custom, "raycronjobs", namespace, "nightly", lambda current: head_to_template(
        current["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"], "gpu"))
    updated = present(kube.get("raycronjobs", namespace, "nightly"))
    assert updated["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1}

    # delete
    custom.delete_namespaced_custom_object(*RAY, namespace, "raycronjobs", "nightly")
    wait_for(lambda: kube.get("raycronjobs", namespace, "nightly") is None, timeout=30, what="the deletion")
    with pytest.raises(client.ApiException) as gone:
        custom.get_namespaced_custom_object(*RAY, namespace, "raycronjobs", "nightly")
    assert gone.value.status == 404


@pytest.mark.parametrize(("plural", "kind", "spec_of"), [
    ("rayclusters", "RayCluster", lambda groups: groups),
    ("rayjobs", "RayJob", lambda groups: {"entrypoint": "python -V", "rayClusterSpec": groups}),
    ("rayservices", "RayService", lambda groups: {"serveConfigV2": "applications: []\n",
                                                  "rayClusterConfig": groups}),
    ("raycronjobs", "RayCronJob", lambda groups: {"schedule": "0 3 1 1 *", "suspend": True, "jobTemplate": {
        "entrypoint": "python -V", "rayClusterSpec": groups}}),
])
def test_a_missing_compute_template_refuses_the_create_and_writes_nothing(
        server: Server, kube: Kube, namespace: str, plural: str, kind: str, spec_of: Any) -> None:
    groups = {"headGroupSpec": {"computeTemplate": "absent", "rayStartParams": {}, "template": {"spec": {
        "containers": [{"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}}
    body = {"apiVersion": "ray.io/v1", "kind": kind, "metadata": {"name": "refused"}, "spec": spec_of(groups)}
    status, _, answer = request(server, "POST", f"/apis/ray.io/v1/namespaces/{namespace}/{plural}",
                                json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert status == 422
    assert "Compute template absent not found" in kubernetes_status(answer, 422)["message"]
    assert answer["reason"] == "Invalid"
    assert kube.get(plural, namespace, "refused") is None


def test_a_create_naming_a_template_must_be_json_or_yaml(server: Server, kube: Kube, namespace: str) -> None:
    status, _, answer = request(server, "POST", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                                b'{"computeTemplate": "x"', {"Content-Type": "application/json"})
    assert status == 400
    assert "not valid application/json" in kubernetes_status(answer, 400)["message"]
    status, _, answer = request(server, "POST", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                                b"computeTemplate=x", {"Content-Type": "text/plain"})
    assert status == 400
    assert "must be application/json or application/yaml" in kubernetes_status(answer, 400)["message"]
    assert kube.items("rayclusters", namespace) == []


@pytest.mark.parametrize(("method", "path", "code"), [
    ("GET", "/api/v1/namespaces/{ns}/secrets", 404),
    ("GET", "/api/v1/namespaces/{ns}/configmaps", 404),
    ("GET", "/api/v1/namespaces/{ns}/pods/p/proxy/", 404),
    ("GET", "/apis/ray.io/v1alpha1/namespaces/{ns}/rayclusters", 404),
    ("GET", "/apis/events.k8s.io/v1/events", 404),
    ("DELETE", "/apis/events.k8s.io/v1/namespaces/{ns}/events", 405),
    ("GET", "/apis/ray.io/v1/namespaces/{ns}/rayclusters/..%2F..%2F..%2F..%2Fapi%2Fv1%2Fsecrets", 400),
    ("GET", "/apis/ray.io/v1/namespaces/{ns}/rayclusters/../../../../api/v1/namespaces/{ns}/secrets", 400),
])
def test_paths_the_v2_api_does_not_serve_are_refused(server: Server, cluster: Cluster, namespace: str,
                                                     method: str, path: str, code: int) -> None:
    client.CoreV1Api(cluster.api).create_namespaced_secret(namespace, client.V1Secret.model_validate(
        {"metadata": {"name": "s"}, "stringData": {"k": "secret-value"}}))
    status, headers, answer = request(server, method, path.format(ns=namespace))
    assert status == code
    kubernetes_status(answer, code)
    assert b"secret-value" not in json.dumps(answer).encode()
    if code == 405:
        assert headers["allow"] == "GET"


def test_a_body_too_large_is_refused_and_nothing_written(server: Server, kube: Kube, namespace: str) -> None:
    body = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {
        "name": "huge", "annotations": {"padding": "x" * (3 * 1024 * 1024)}}, "spec": {}}
    status, _, answer = request(server, "POST", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                                json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert status == 413
    assert "larger than 3145728 bytes" in kubernetes_status(answer, 413)["message"]
    assert kube.get("rayclusters", namespace, "huge") is None


def test_a_callers_credentials_and_impersonation_are_not_passed_on(server: Server, namespace: str) -> None:
    """Forwarded, they would change who Kubernetes thinks is calling: a bad token (401) or an
    impersonated user without rights (403). Dropped, the server's own identity answers."""
    path = f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters"
    for headers in ({"Authorization": "Bearer not-a-token"}, {"Impersonate-User": "nobody"},
                    {"Impersonate-Group": "nobody"}, {"X-Remote-User": "nobody"}):
        status, answer_headers, answer = request(server, "GET", path, headers=headers)
        assert status == 200, (headers, answer)
        assert answer["kind"] == "RayClusterList"
        assert "authorization" not in answer_headers


def test_answers_carry_kubernetes_headers_but_not_hop_by_hop_ones(server: Server, namespace: str) -> None:
    status, headers, _ = request(server, "GET", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters")
    assert status == 200
    assert "audit-id" in headers
    assert headers["content-type"] == "application/json"
    assert "x-request-id" in headers  # and ours
    assert "keep-alive" not in headers
    assert "transfer-encoding" not in headers


def test_v2_requests_are_counted_and_logged_by_route(server: Server, namespace: str) -> None:
    request(server, "GET", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters")
    request(server, "GET", "/api/v1/namespaces/x/secrets")
    _, _, metrics = request(server, "GET", "/metrics")
    text = metrics.decode() if isinstance(metrics, bytes) else str(metrics)
    assert 'kuberay_api_requests_total{method="GET",operation="v2.ray",status="200"}' in text
    assert 'kuberay_api_requests_total{method="GET",operation="v2",status="404"}' in text
    assert 'kuberay_api_kubernetes_requests_total{call="forward",outcome="ok"}' in text


def test_with_v2_off_its_paths_are_the_v1_apis_not_found(cluster: Cluster, tmp_path: Path, namespace: str) -> None:
    with gunicorn(cluster, tmp_path, KUBERAY_API_V2="false") as off:
        status, _, answer = request(off, "GET", f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters")
    assert status == 404
    assert answer["code"] == 5
    assert set(answer) == {"code", "message"}  # the V1 API's error
