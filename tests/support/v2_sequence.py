"""The V2 API's calls as one sequence: one request for each permission of the chart's V2 role.

The V2 API forwards Kubernetes-style requests to the Kubernetes API with the server's own
credentials: `/apis/ray.io/v1/...` unchanged (RayClusters and RayCronJobs here), the ray.io events of
a namespace (events.k8s.io and core v1, the route of KubeRay clients before v1.7), and the proxies of
KubeRay head Services (after the server read the Service and found it labelled
`app.kubernetes.io/name=kuberay`). The sequence makes those requests through a kubernetes
ApiClient, so that it runs the same against the API server itself (a client holding the chart's
token: what the server would forward) and through a server's V2 routes (a client whose host is
the server, and `through_server`: the server reads the head Service itself).

Used by test_rbac.py: `run` stops at the first refusal (403), raising `Refused` with Kubernetes'
message, which names the permission that was missing.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from app.types import Json
from tests.support.kube import json_object

Atom = tuple[str, str, str]  # (API group, resource, verb): one permission of a role
RAY = ("ray.io", "v1")
CLUSTERS = "rayclusters"
CRONJOBS = "raycronjobs"
HEAD_LABELS = {"app.kubernetes.io/name": "kuberay"}  # what the server looks for before proxying
PROXY_PATH = "api"  # under the dashboard's root; one segment: the client sends a "/" in it as %2F


class Refused(AssertionError):
    """A request of the sequence was refused (403)."""


@dataclass(frozen=True)
class Step:
    label: str
    atom: Atom  # the permission the request needs; "*" is the V2 role's every ray.io resource
    call: Callable[[client.ApiClient, str, str], Any]  # (api, namespace, head service) -> answer
    status: int = 200  # the answer expected when allowed
    check: Callable[[Any], bool] = lambda answer: True  # of a 200 answer
    by_the_server: bool = False  # through a server's V2 routes, the server makes it itself (no route)


def plant_head_service(admin: client.ApiClient, namespace: str, name: str = "v2-head-svc") -> str:
    """A Service labelled as KubeRay's head Services are, with no endpoints: Kubernetes' proxy
    answers 503 (no endpoints available) once a caller may use it, 403 when not."""
    client.CoreV1Api(admin).create_namespaced_service(namespace, client.V1Service.model_validate({
        "metadata": {"name": name, "labels": dict(HEAD_LABELS)},
        "spec": {"ports": [{"name": "dashboard", "port": 8265}]}}))
    return name


def raycluster(name: str) -> Json:
    pod = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.7.0"}]}}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": name},
            "spec": {"rayVersion": "2.7.0", "headGroupSpec": {"rayStartParams": {}, "template": pod}}}


def raycronjob(name: str) -> Json:
    """A RayCronJob that creates no RayJob while the sequence runs (suspended, yearly)."""
    return {"apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 3 1 1 *", "suspend": True,
                     "jobTemplate": {"entrypoint": "python -V", "rayClusterSpec": raycluster(name)["spec"]}}}


def _stream(answer: Any) -> str:
    """A watch's stream, read to its end (the request's timeoutSeconds)."""
    try:
        return str(answer.data.decode())
    finally:
        answer.release_conn()


def _update(api: client.ApiClient, ns: str, name: str) -> Json:
    """PUT the object with a label changed. The operator writes it too (its status), so a PUT of
    what was read before that is a conflict (409): read it again and retry."""
    custom = client.CustomObjectsApi(api)
    for _ in range(5):
        current = json_object(custom.get_namespaced_custom_object(*RAY, ns, CLUSTERS, name))
        current["metadata"]["labels"]["v2"] = "updated"
        try:
            return json_object(custom.replace_namespaced_custom_object(*RAY, ns, CLUSTERS, name, current))
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    raise AssertionError(f"{name}: every update met a conflict")


def _json(answer: Any) -> Json:
    """A JSON answer, read as is (the client's models refuse the operator's events: they have no
    eventTime)."""
    try:
        return dict(json.loads(answer.data))
    finally:
        answer.release_conn()


def _names(answer: Json) -> set[str]:
    return {item["metadata"]["name"] for item in answer["items"]}


def steps() -> list[Step]:
    """One request per permission of the V2 role, in an order in which each can succeed."""
    custom = client.CustomObjectsApi
    core = client.CoreV1Api
    ray_events = "regarding.apiVersion=ray.io/v1"  # (the selectors the server adds)
    ray_core_events = "involvedObject.apiVersion=ray.io/v1"

    def ray(verb: str) -> Atom:
        return ("ray.io", "*", verb)

    def proxy(verb: str) -> Atom:
        return ("", "services/proxy", verb)

    return [
        Step("create RayCluster v2-a", ray("create"), lambda api, ns, _: custom(api)
             .create_namespaced_custom_object(*RAY, ns, CLUSTERS, raycluster("v2-a"))),
        Step("create RayCluster v2-b", ray("create"), lambda api, ns, _: custom(api)
             .create_namespaced_custom_object(*RAY, ns, CLUSTERS, raycluster("v2-b"))),
        Step("get v2-a", ray("get"), lambda api, ns, _: custom(api)
             .get_namespaced_custom_object(*RAY, ns, CLUSTERS, "v2-a"),
             check=lambda answer: answer["metadata"]["name"] == "v2-a"),
        Step("get v2-a's status (a subresource)", ray("get"), lambda api, ns, _: custom(api)
             .get_namespaced_custom_object_status(*RAY, ns, CLUSTERS, "v2-a")),
        Step("list RayClusters", ray("list"), lambda api, ns, _: custom(api)
             .list_namespaced_custom_object(*RAY, ns, CLUSTERS),
             check=lambda answer: _names(answer) == {"v2-a", "v2-b"}),
        Step("watch RayClusters", ray("watch"), lambda api, ns, _: _stream(custom(api).list_namespaced_custom_object(
            *RAY, ns, CLUSTERS, watch=True, timeout_seconds=1, _preload_content=False)),
             check=lambda stream: '"ADDED"' in stream and '"v2-a"' in stream),
        Step("patch v2-a", ray("patch"), lambda api, ns, _: custom(api).patch_namespaced_custom_object(
            *RAY, ns, CLUSTERS, "v2-a", {"metadata": {"labels": {"v2": "patched"}}}),
             check=lambda answer: answer["metadata"]["labels"]["v2"] == "patched"),
        Step("update v2-a", ray("update"), lambda api, ns, _: _update(api, ns, "v2-a"),
             check=lambda answer: answer["metadata"]["labels"]["v2"] == "updated"),
        Step("delete v2-a", ray("delete"), lambda api, ns, _: custom(api)
             .delete_namespaced_custom_object(*RAY, ns, CLUSTERS, "v2-a")),
        Step("delete the collection (v2-b)", ray("deletecollection"), lambda api, ns, _: custom(api)
             .delete_collection_namespaced_custom_object(*RAY, ns, CLUSTERS)),
        Step("create RayCronJob v2-cron", ray("create"), lambda api, ns, _: custom(api)
             .create_namespaced_custom_object(*RAY, ns, CRONJOBS, raycronjob("v2-cron"))),
        Step("get v2-cron", ray("get"), lambda api, ns, _: custom(api)
             .get_namespaced_custom_object(*RAY, ns, CRONJOBS, "v2-cron"),
             check=lambda answer: answer["spec"]["schedule"] == "0 3 1 1 *"),
        Step("list RayCronJobs", ray("list"), lambda api, ns, _: custom(api)
             .list_namespaced_custom_object(*RAY, ns, CRONJOBS),
             check=lambda answer: _names(answer) == {"v2-cron"}),
        Step("patch v2-cron", ray("patch"), lambda api, ns, _: custom(api).patch_namespaced_custom_object(
            *RAY, ns, CRONJOBS, "v2-cron", {"metadata": {"labels": {"v2": "patched"}}}),
             check=lambda answer: answer["metadata"]["labels"]["v2"] == "patched"),
        Step("delete v2-cron", ray("delete"), lambda api, ns, _: custom(api)
             .delete_namespaced_custom_object(*RAY, ns, CRONJOBS, "v2-cron")),
        Step("list the ray.io events", ("events.k8s.io", "events", "list"), lambda api, ns, _: _json(client
             .EventsV1Api(api).list_namespaced_event(ns, field_selector=ray_events, _preload_content=False)),
             check=lambda answer: all(e["regarding"]["apiVersion"] == "ray.io/v1" for e in answer["items"])),
        Step("watch the ray.io events", ("events.k8s.io", "events", "watch"), lambda api, ns, _: _stream(client
             .EventsV1Api(api).list_namespaced_event(ns, field_selector=ray_events, watch=True, timeout_seconds=1,
                                                     _preload_content=False))),
        Step("list the ray.io core events", ("", "events", "list"), lambda api, ns, _: _json(core(api)
             .list_namespaced_event(ns, field_selector=ray_core_events, _preload_content=False)),
             check=lambda answer: all(e["involvedObject"]["apiVersion"] == "ray.io/v1" for e in answer["items"])),
        Step("watch the ray.io core events", ("", "events", "watch"), lambda api, ns, _: _stream(core(api)
             .list_namespaced_event(ns, field_selector=ray_core_events, watch=True, timeout_seconds=1,
                                    _preload_content=False))),
        Step("get the head Service (the server checks its label)", ("", "services", "get"),
             lambda api, ns, svc: core(api).read_namespaced_service(svc, ns),
             check=lambda answer: answer.metadata.labels.items() >= HEAD_LABELS.items(), by_the_server=True),
        Step("GET through the proxy", proxy("get"), lambda api, ns, svc: core(api)
             .connect_get_namespaced_service_proxy_with_path(svc, ns, PROXY_PATH), 503),
        Step("POST through the proxy", proxy("create"), lambda api, ns, svc: core(api)
             .connect_post_namespaced_service_proxy_with_path(svc, ns, PROXY_PATH), 503),
        Step("PUT through the proxy", proxy("update"), lambda api, ns, svc: core(api)
             .connect_put_namespaced_service_proxy_with_path(svc, ns, PROXY_PATH), 503),
        Step("PATCH through the proxy", proxy("patch"), lambda api, ns, svc: core(api)
             .connect_patch_namespaced_service_proxy_with_path(svc, ns, PROXY_PATH), 503),
        Step("DELETE through the proxy", proxy("delete"), lambda api, ns, svc: core(api)
             .connect_delete_namespaced_service_proxy_with_path(svc, ns, PROXY_PATH), 503),
    ]


def run(api: client.ApiClient, namespace: str, service: str, through_server: bool = False) -> list[str]:
    """Make each request of `steps()` in order; the labels of those answered as expected. Raises
    `Refused` at the first 403, and fails naming the step at any other unexpected answer.
    `through_server`: `api`'s host is a server's V2 API, which reads the Service itself."""
    done = []
    for step in steps():
        if through_server and step.by_the_server:
            continue
        try:
            answer = step.call(api, namespace, service)
            status = 200
        except client.ApiException as exc:
            if exc.status == 403:
                raise Refused(f"{step.label}: {message(exc)}") from exc
            answer, status = exc.body, exc.status
        assert status == step.status, (step.label, status, answer)
        if status == 200:
            assert step.check(answer), (step.label, answer)
        done.append(step.label)
    return done


def message(exc: client.ApiException) -> str:
    """The message of a Kubernetes Status answer (the V2 routes forward it unchanged)."""
    try:
        return str(json.loads(exc.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.body)
