"""Ray cron jobs (an extension of the V1 API) through the full app against a real API server and
the KubeRay operator with its RayCronJob feature gate on: the operator really schedules them.

Each scheduled run costs a minute of waiting and a RayJob (and its RayCluster) on the shared control
plane, so one test covers everything that needs a run; the others keep their cron jobs suspended or
far from their next time.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import json_format
from starlette.testclient import TestClient

from app.rpc.generated import cronjob_pb2
from app.types import Json
from tests.support.api import ok, refused
from tests.support.bodies import container, job_body
from tests.support.kube import MANAGED, Kube, present
from tests.support.rpc import STUBS, as_json
from tests.support.waiting import wait_for

RESOURCES = {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}
MADE = "ray.io/cronjob-name"


def cron_body(namespace: str, name: str, **fields: object) -> Json:
    """The user guide's job (its own cluster, of the compute template `default-template`), and when."""
    return {**job_body(namespace, name), "schedule": "* * * * *", **fields}


def held(kube: Kube, namespace: str, name: str) -> Json | None:
    return kube.get("raycronjobs", namespace, name)


def made(kube: Kube, namespace: str, name: str) -> list[Json]:
    return kube.items("rayjobs", namespace, f"{MADE}={name}")


def test_a_cron_job_is_scheduled_listed_suspended_resumed_and_deleted(
        app_client: TestClient, rpc_channel: grpc.Channel, kube: Kube, with_template: str) -> None:
    namespace = with_template
    base = f"/apis/v1/namespaces/{namespace}/cronjobs"
    # One made through gRPC too, waited for in the same minute.
    stub = STUBS["RayCronJobService"](rpc_channel)
    stub.CreateRayCronJob(cronjob_pb2.CreateRayCronJobRequest(
        namespace=namespace, cronjob=json_format.ParseDict(cron_body(namespace, "by-grpc"), cronjob_pb2.RayCronJob())),
        timeout=30)
    created = ok(app_client.post(base, json=cron_body(namespace, "every-minute", timeZone="Europe/Paris")))
    assert {key: created.get(key) for key in ("name", "namespace", "user", "schedule", "timeZone", "suspend")} == {
        "name": "every-minute", "namespace": namespace, "user": "3cp0", "schedule": "* * * * *",
        "timeZone": "Europe/Paris", "suspend": None}
    assert created["createdAt"].endswith("Z")
    obj = present(held(kube, namespace, "every-minute"))
    assert obj["metadata"]["labels"] == {**MANAGED, "ray.io/user": "3cp0"}
    assert obj["spec"]["schedule"] == "CRON_TZ=Europe/Paris * * * * *"
    assert obj["spec"]["jobTemplate"]["entrypoint"] == "python -V"
    head = obj["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]
    assert container(head)["resources"] == RESOURCES  # the compute template, applied to the template's cluster

    # The operator makes a RayJob at the next minute.
    got = wait_for(lambda: ok(app_client.get(f"{base}/every-minute")),
                   until=lambda answer: answer.get("jobs") and answer.get("lastScheduleTime"),
                   timeout=150, what="the operator to make the cron job's first RayJob")
    [run, *_] = got["jobs"]
    assert run["name"].startswith("every-minute-")
    assert len(run["name"]) == len("every-minute-") + 5
    assert run["scheduledAt"].endswith("Z")
    assert run["createdAt"].endswith("Z")
    assert got["lastScheduleTime"].endswith("Z")
    rayjob = present(kube.get("rayjobs", namespace, run["name"]))
    assert rayjob["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]

    def grpc_read() -> Json:
        return as_json(stub.GetRayCronJob(cronjob_pb2.GetRayCronJobRequest(namespace=namespace, name="by-grpc"),
                                          timeout=30))
    by_grpc = wait_for(grpc_read, until=lambda answer: answer.get("jobs"), timeout=90,
                       what="the operator to make the gRPC cron job's first RayJob")
    assert by_grpc["jobs"][0]["name"].startswith("by-grpc-")
    assert by_grpc["lastScheduleTime"].endswith("Z")
    stub.SuspendRayCronJob(cronjob_pb2.SuspendRayCronJobRequest(namespace=namespace, name="by-grpc"), timeout=30)
    assert present(held(kube, namespace, "by-grpc"))["spec"]["suspend"] is True

    for prefix in ("/apis/v1", "/apis/v1alpha2"):
        listed = {item["name"]: item for item in ok(app_client.get(f"{prefix}/namespaces/{namespace}/cronjobs"))[
            "cronjobs"]}
        assert sorted(listed) == ["by-grpc", "every-minute"]
        assert run["name"] in {job["name"] for job in listed["every-minute"]["jobs"]}
        everywhere = ok(app_client.get(f"{prefix}/cronjobs"))["cronjobs"]
        assert (namespace, "every-minute") in {(item["namespace"], item["name"]) for item in everywhere}

    # Suspended: the flag is stored, and no RayJob is made past the next minute.
    suspended = ok(app_client.post(f"{base}/every-minute/suspend"))
    assert suspended["suspend"] is True
    assert present(held(kube, namespace, "every-minute"))["spec"]["suspend"] is True
    time.sleep(3)  # a run the operator was making as the flag changed
    before = {job["metadata"]["name"] for job in made(kube, namespace, "every-minute")}
    time.sleep(75 - datetime.now(UTC).second)  # past the next minute, with a margin
    assert {job["metadata"]["name"] for job in made(kube, namespace, "every-minute")} == before

    resumed = ok(app_client.post(f"/apis/v1alpha2/namespaces/{namespace}/cronjobs/every-minute/resume"))
    assert "suspend" not in resumed
    assert not present(held(kube, namespace, "every-minute"))["spec"].get("suspend")
    assert ok(app_client.post(f"{base}/every-minute/suspend"))["suspend"] is True  # no more runs meanwhile

    assert ok(app_client.delete(f"{base}/every-minute")) == {}
    wait_for(lambda: held(kube, namespace, "every-minute") is None, timeout=60, what="the RayCronJob to go")
    refused(app_client.get(f"{base}/every-minute"), 404, 5)
    # Kubernetes' garbage collector deletes the RayJobs it made (their controller owner is gone).
    wait_for(lambda: all(job["metadata"].get("deletionTimestamp") for job in made(kube, namespace, "every-minute")),
             timeout=60, what="the cron job's RayJobs to be collected")


def test_grpc_creates_reads_lists_and_deletes(rpc_channel: grpc.Channel, kube: Kube, with_template: str) -> None:
    namespace = with_template
    stub = STUBS["RayCronJobService"](rpc_channel)
    body = cron_body(namespace, "nightly", schedule="@every 1h30m", timeZone="Asia/Tokyo", suspend=True)
    cronjob = json_format.ParseDict(body, cronjob_pb2.RayCronJob())
    created = as_json(stub.CreateRayCronJob(cronjob_pb2.CreateRayCronJobRequest(namespace=namespace, cronjob=cronjob),
                                            timeout=30))
    expected = {"name": "nightly", "schedule": "@every 1h30m", "timeZone": "Asia/Tokyo", "suspend": True}
    assert {key: created.get(key) for key in expected} == expected
    assert present(held(kube, namespace, "nightly"))["spec"]["schedule"] == "CRON_TZ=Asia/Tokyo @every 1h30m"

    got = as_json(stub.GetRayCronJob(cronjob_pb2.GetRayCronJobRequest(namespace=namespace, name="nightly"),
                                     timeout=30))
    assert {key: got.get(key) for key in expected} == expected
    assert got["clusterSpec"]["headGroupSpec"]["computeTemplate"] == "default-template"
    listed = as_json(stub.ListRayCronJobs(cronjob_pb2.ListRayCronJobsRequest(namespace=namespace), timeout=30))
    assert [item["name"] for item in listed["cronjobs"]] == ["nightly"]
    resumed = as_json(stub.ResumeRayCronJob(cronjob_pb2.ResumeRayCronJobRequest(namespace=namespace, name="nightly"),
                                            timeout=30))
    assert "suspend" not in resumed  # its first run is 90 minutes away
    stub.DeleteRayCronJob(cronjob_pb2.DeleteRayCronJobRequest(namespace=namespace, name="nightly"), timeout=30)
    wait_for(lambda: held(kube, namespace, "nightly") is None, timeout=60, what="the RayCronJob to go")


def test_a_bad_schedule_or_zone_is_refused_before_anything_is_written(
        app_client: TestClient, rpc_channel: grpc.Channel, kube: Kube, with_template: str) -> None:
    namespace = with_template
    message = refused(app_client.post(f"/apis/v1/namespaces/{namespace}/cronjobs",
                                      json=cron_body(namespace, "bad", schedule="0 25 * * *")), 400, 3)
    assert message.startswith("Field 'schedule' is not a cron schedule the KubeRay operator accepts: hour '25'")
    message = refused(app_client.post(f"/apis/v1/namespaces/{namespace}/cronjobs",
                                      json=cron_body(namespace, "bad", timeZone="Mars/Olympus_Mons")), 400, 3)
    assert message.startswith("Field 'timeZone' is not a time zone: ")
    stub = STUBS["RayCronJobService"](rpc_channel)
    cronjob = json_format.ParseDict(cron_body(namespace, "bad", schedule="CRON_TZ=UTC @daily"), cronjob_pb2.RayCronJob())
    with pytest.raises(grpc.RpcError) as refusal:
        stub.CreateRayCronJob(cronjob_pb2.CreateRayCronJobRequest(namespace=namespace, cronjob=cronjob), timeout=30)
    assert refusal.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "give the zone in timeZone" in str(refusal.value.details())
    assert not kube.items("raycronjobs", namespace)


def test_an_unmanaged_cron_job_is_not_found(app_client: TestClient, kube: Kube, namespace: str) -> None:
    kube.custom.create_namespaced_custom_object("ray.io", "v1", namespace, "raycronjobs", {
        "apiVersion": "ray.io/v1", "kind": "RayCronJob", "metadata": {"name": "theirs"},
        "spec": {"schedule": "@yearly", "suspend": True, "jobTemplate": {
            "entrypoint": "python -V", "clusterSelector": {"ray.io/cluster": "somewhere"}}}})
    base = f"/apis/v1/namespaces/{namespace}/cronjobs"
    for answer in (app_client.get(f"{base}/theirs"), app_client.post(f"{base}/theirs/resume"),
                   app_client.post(f"{base}/theirs/suspend"), app_client.delete(f"{base}/theirs")):
        assert refused(answer, 404, 5) == f"Cron job theirs not found in namespace {namespace}"
    assert ok(app_client.get(base)) == {}
    assert present(held(kube, namespace, "theirs"))["spec"]["suspend"] is True  # untouched
