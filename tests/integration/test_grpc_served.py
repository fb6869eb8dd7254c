"""The gRPC front as production runs it: inside each gunicorn worker, beside HTTP.

`make run` and the image run `gunicorn -c gunicorn.conf.py wsgi:app`; each worker's lifespan starts
a gRPC server on KUBERAY_API_GRPC_BIND (SO_REUSEPORT: every worker listens, the kernel spreads the
connections) and drains it when the worker stops. These tests start that command on free
loopback ports against the test's control plane and check: both workers answer RPCs; the health
service, reflection, the metrics (summed over the workers) and one JSON access line per RPC with
the caller's request id; SIGTERM lets an RPC in flight finish, then the port refuses.
"""
from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client.parser import text_string_to_metric_families

from app.rpc.generated import config_pb2, config_pb2_grpc
from tests.support.kube import Cluster, Kube
from tests.support.served import gunicorn, http_send, refuses_connections
from tests.support.waiting import wait_for

SERVICES = {"proto.ClusterService", "proto.ComputeTemplateService", "proto.RayJobService",
            "proto.RayServeService", "proto.RayJobSubmissionService", "kuberay_api.v1.RayCronJobService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}


def _handled(metrics_text: str, method: str, code: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(metrics_text)
               for sample in family.samples
               if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_method") == method
               and sample.labels.get("grpc_code") == code)


def _listed_services(channel: grpc.Channel, service: str) -> set[str]:
    """The services reflection lists, asked through reflection's `service` (v1alpha or v1, whose
    messages are the same)."""
    stream = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    [answer] = list(stream(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    return {item.name for item in answer.list_services_response.service}


def test_every_worker_serves_grpc_beside_http(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    with gunicorn(cluster, tmp_path, KUBERAY_API_LOG_FORMAT="json") as server:
        target = f"127.0.0.1:{server.grpc_port}"
        with grpc.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
                health_pb2.HealthCheckResponse.SERVING
            for service in ("proto.ClusterService", "kuberay_api.v1.RayCronJobService"):
                assert health.Check(health_pb2.HealthCheckRequest(service=service),
                                    timeout=10).status == health_pb2.HealthCheckResponse.SERVING
            assert _listed_services(channel, "grpc.reflection.v1alpha.ServerReflection") == SERVICES
            assert _listed_services(channel, "grpc.reflection.v1.ServerReflection") == SERVICES
            created, call = config_pb2_grpc.ComputeTemplateServiceStub(channel).CreateComputeTemplate.with_call(
                config_pb2.CreateComputeTemplateRequest(
                    namespace=namespace, compute_template=config_pb2.ComputeTemplate(name="t", cpu=1, memory=2)),
                metadata=[("x-request-id", "grpc-test-42")], timeout=30)
            assert ("x-request-id", "grpc-test-42") in tuple(call.initial_metadata())
        assert created.name == "t"
        assert Kube(cluster.api).configmap(namespace, "t") is not None

        # A new connection per call: the kernel hands connections to both workers, once both listen
        # (the server is ready when one of them is).
        wait_for(lambda: server.logs().count("gRPC server listening on") == 2, timeout=60,
                 what="both workers to listen for gRPC")
        for _ in range(40):
            with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                config_pb2_grpc.ComputeTemplateServiceStub(channel).GetComputeTemplate(
                    config_pb2.GetComputeTemplateRequest(namespace=namespace, name="t"), timeout=30)
        status, metrics = http_send(server.port)("GET", "/metrics", None)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=40) == 0, server.logs()

    assert status == 200
    assert _handled(metrics, "GetComputeTemplate", "OK") == 40  # both workers' counts in one scrape
    assert _handled(metrics, "CreateComputeTemplate", "OK") == 1
    lines = [json.loads(line) for line in server.stdout.read_text().splitlines()]
    rpcs = [line for line in lines if line["logger"] == "app.access" and "rpc" in line]
    [created_line] = [line for line in rpcs if line["method"] == "CreateComputeTemplate"]
    assert {"request_id": "grpc-test-42", "code": "OK", "service": "proto.ComputeTemplateService",
            "rpc": "/proto.ComputeTemplateService/CreateComputeTemplate"}.items() <= created_line.items()
    gets = [line for line in rpcs if line["method"] == "GetComputeTemplate"]
    assert len(gets) == 40, "one worker answered every RPC"
    assert len({line["pid"] for line in gets}) == 2, "one worker answered every RPC"
    assert any("gRPC server listening on 127.0.0.1:" in line["message"] for line in lines)


def test_sigterm_lets_an_rpc_in_flight_finish(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """The call starts (its headers reach a worker) but its message comes only after SIGTERM: the
    worker finishes HTTP, then waits for the call and answers it, and only then exits."""
    request = config_pb2.CreateComputeTemplateRequest(
        namespace=namespace, compute_template=config_pb2.ComputeTemplate(name="in-flight", cpu=1, memory=2))
    go = threading.Event()

    def later() -> Iterator[Any]:
        go.wait(30)
        yield request

    with gunicorn(cluster, tmp_path, KUBERAY_API_GRACEFUL_TIMEOUT="30", KUBERAY_API_GRPC_GRACE="20") as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            # the unary method, called as client-streaming: the message is sent when `later` yields
            create = channel.stream_unary(
                "/proto.ComputeTemplateService/CreateComputeTemplate",
                request_serializer=config_pb2.CreateComputeTemplateRequest.SerializeToString,
                response_deserializer=config_pb2.ComputeTemplate.FromString)
            answer = create.future(later(), timeout=60)
            time.sleep(1.0)  # the call's headers are at a worker
            server.process.send_signal(signal.SIGTERM)
            time.sleep(3.0)
            assert server.process.poll() is None, "gunicorn exited with an RPC in flight"
            go.set()
            created = answer.result(timeout=30)
        assert created.name == "in-flight"
        assert server.process.wait(timeout=30) == 0, server.logs()
        assert refuses_connections(server.grpc_port)
        assert refuses_connections(server.port)
    assert Kube(cluster.api).configmap(namespace, "in-flight") is not None


def test_a_worker_that_cannot_listen_for_grpc_stops_the_server(cluster: Cluster, tmp_path: Path) -> None:
    """A gRPC address that cannot be bound is a failed start, not a server without gRPC."""
    with socket.socket() as taken:  # bound without SO_REUSEPORT: no one else can share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError) as failed, \
                gunicorn(cluster, tmp_path, KUBERAY_API_GRPC_BIND=f"127.0.0.1:{port}"):
            pass
    assert f"127.0.0.1:{port}" in str(failed.value)  # the logs name the address
