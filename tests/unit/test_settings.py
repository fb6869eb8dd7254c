"""app/settings.py: every variable read, its default, and a clear failure for a bad value."""
from __future__ import annotations

import dataclasses

import pytest

from app.settings import Settings


def test_defaults_with_an_empty_environment() -> None:
    assert Settings.from_env({}) == Settings(
        port=8888, log_level="INFO", validate_responses=False, kubeconfig="", k8s_timeout=5.0,
        request_timeout=10.0,
        grpc_bind="0.0.0.0:8887",  # a server's default; Settings() itself (tests, tools) serves no gRPC
    )


READ = [
    ({"KUBERAY_API_PORT": "31888"}, "port", 31888),
    ({"KUBERAY_API_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
    ({"KUBERAY_API_LOG_LEVEL": " Warning "}, "log_level", "WARNING"),
    ({"KUBERAY_API_VALIDATE_RESPONSES": "true"}, "validate_responses", True),
    ({"KUBERAY_API_VALIDATE_RESPONSES": "1"}, "validate_responses", True),
    ({"KUBERAY_API_VALIDATE_RESPONSES": "No"}, "validate_responses", False),
    ({"KUBERAY_API_VALIDATE_RESPONSES": ""}, "validate_responses", False),
    ({"KUBERAY_API_KUBECONFIG": "/etc/kube/config"}, "kubeconfig", "/etc/kube/config"),
    ({"KUBERAY_API_K8S_TIMEOUT": "2.5"}, "k8s_timeout", 2.5),
    ({"KUBERAY_API_K8S_REQUEST_TIMEOUT": "20"}, "request_timeout", 20.0),
    ({"KUBERAY_API_MAX_WORKERS_PER_CLUSTER": "50"}, "max_workers_per_cluster", 50),
    ({"KUBERAY_API_MAX_WORKERS_PER_CLUSTER": "0"}, "max_workers_per_cluster", 0),
    ({}, "max_workers_per_cluster", 1000),
    ({}, "dashboard_url", ""),  # found by where the server runs (tests/unit/test_dashboard.py)
    ({"KUBERAY_API_DASHBOARD_URL": " "}, "dashboard_url", ""),
    ({"KUBERAY_API_DASHBOARD_URL": "http://{service}.{namespace}.svc.cluster.local:{port}"}, "dashboard_url",
     "http://{service}.{namespace}.svc.cluster.local:{port}"),
    ({"KUBERAY_API_DASHBOARD_URL": "http://127.0.0.1:8265"}, "dashboard_url", "http://127.0.0.1:8265"),
    ({"KUBERAY_API_DASHBOARD_URL": " http://localhost:8001/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy "},
     "dashboard_url", "http://localhost:8001/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy"),
    ({}, "dashboard_timeout", 10.0),
    ({"KUBERAY_API_DASHBOARD_TIMEOUT": "2"}, "dashboard_timeout", 2.0),
    ({}, "job_log_limit", 8 * 1024 * 1024),
    ({"KUBERAY_API_JOB_LOG_LIMIT": "4096"}, "job_log_limit", 4096),
    ({}, "body_limit", 4 * 1024 * 1024),
    ({"KUBERAY_API_BODY_LIMIT": "65536"}, "body_limit", 65536),
    ({}, "cache", True),
    ({"KUBERAY_API_CACHE": "off"}, "cache", False),
    ({}, "consistent_reads", False),
    ({"KUBERAY_API_CONSISTENT_READS": "true"}, "consistent_reads", True),
    ({}, "write_marks", ""),
    ({"KUBERAY_API_WRITE_MARKS": "/dev/shm/marks"}, "write_marks", "/dev/shm/marks"),  # noqa: S108  (read, never written)
    ({"KUBECONFIG": "/elsewhere", "PORT": "1"}, "port", 8888),  # only our own names are read
    ({}, "grpc_bind", "0.0.0.0:8887"),
    ({"KUBERAY_API_GRPC_BIND": "127.0.0.1:0"}, "grpc_bind", "127.0.0.1:0"),
    ({"KUBERAY_API_GRPC_BIND": "[::]:9887"}, "grpc_bind", "[::]:9887"),
    ({"KUBERAY_API_GRPC_BIND": " off "}, "grpc_bind", ""),
    ({"KUBERAY_API_GRPC_BIND": ""}, "grpc_bind", ""),
    ({}, "grpc_grace", 15.0),
    ({"KUBERAY_API_GRPC_GRACE": "5"}, "grpc_grace", 5.0),
    ({}, "v2", True),  # upstream v1.7.0 serves it by default
    ({"KUBERAY_API_V2": "false"}, "v2", False),
    ({}, "cors_origins", ()),
    ({"KUBERAY_API_CORS_ALLOW_ORIGIN": "*"}, "cors_origins", ("*",)),
    ({"KUBERAY_API_CORS_ALLOW_ORIGIN": " https://ui.example.com/ , http://127.0.0.1:3000"}, "cors_origins",
     ("https://ui.example.com", "http://127.0.0.1:3000")),
    ({"KUBERAY_API_CORS_ALLOW_ORIGIN": "http://[::1]:3000"}, "cors_origins", ("http://[::1]:3000",)),
    ({}, "auth_mode", "none"),  # upstream checks no one
    ({"KUBERAY_API_AUTH_MODE": " Kubernetes "}, "auth_mode", "kubernetes"),
    ({"KUBERAY_API_AUTH_MODE": "token", "KUBERAY_API_AUTH_TOKEN": "s3cret"}, "auth_token", "s3cret"),
    ({"KUBERAY_API_AUTH_MODE": "kubernetes", "KUBERAY_API_AUTH_TOKEN": "unused"}, "auth_token", ""),
    ({}, "auth_metrics", False),
    ({"KUBERAY_API_AUTH_METRICS": "true"}, "auth_metrics", True),
    ({}, "auth_review_rate", 1.0),  # refused tokens' reviews per client address: 1 a second, 10 at once
    ({}, "auth_review_burst", 10),
    ({"KUBERAY_API_AUTH_REVIEW_RATE": "0.2"}, "auth_review_rate", 0.2),
    ({"KUBERAY_API_AUTH_REVIEW_BURST": " 50 "}, "auth_review_burst", 50),
]


@pytest.mark.parametrize(("env", "attribute", "value"), READ)
def test_reads(env: dict[str, str], attribute: str, value: object) -> None:
    assert getattr(Settings.from_env(env), attribute) == value


REFUSED = [
    ("KUBERAY_API_PORT", "http"),
    ("KUBERAY_API_PORT", "0"),
    ("KUBERAY_API_PORT", "65536"),
    ("KUBERAY_API_LOG_LEVEL", "verbose"),
    ("KUBERAY_API_VALIDATE_RESPONSES", "maybe"),
    ("KUBERAY_API_K8S_TIMEOUT", "0"),
    ("KUBERAY_API_K8S_TIMEOUT", "-1"),
    ("KUBERAY_API_K8S_TIMEOUT", "inf"),
    ("KUBERAY_API_K8S_TIMEOUT", "soon"),
    ("KUBERAY_API_K8S_REQUEST_TIMEOUT", "0"),
    ("KUBERAY_API_MAX_WORKERS_PER_CLUSTER", "-1"),
    ("KUBERAY_API_MAX_WORKERS_PER_CLUSTER", "many"),
    ("KUBERAY_API_MAX_WORKERS_PER_CLUSTER", "1.5"),
    ("KUBERAY_API_DASHBOARD_URL", "ftp://{service}:{port}"),
    ("KUBERAY_API_DASHBOARD_URL", "{service}:{port}"),
    ("KUBERAY_API_DASHBOARD_URL", "http://{host}:{port}"),
    ("KUBERAY_API_DASHBOARD_URL", "http://{service:{port}"),
    ("KUBERAY_API_DASHBOARD_URL", "http://{0}"),
    ("KUBERAY_API_DASHBOARD_TIMEOUT", "0"),
    ("KUBERAY_API_JOB_LOG_LIMIT", "1023"),
    ("KUBERAY_API_JOB_LOG_LIMIT", "8M"),
    ("KUBERAY_API_BODY_LIMIT", "65535"),
    ("KUBERAY_API_BODY_LIMIT", "4M"),
    ("KUBERAY_API_CACHE", "sometimes"),
    ("KUBERAY_API_CONSISTENT_READS", "2"),
    ("KUBERAY_API_GRPC_BIND", "8887"),
    ("KUBERAY_API_GRPC_BIND", "localhost:http"),
    ("KUBERAY_API_GRPC_BIND", "0.0.0.0:65536"),
    ("KUBERAY_API_GRPC_GRACE", "0"),
    ("KUBERAY_API_V2", "maybe"),
    ("KUBERAY_API_CORS_ALLOW_ORIGIN", "ui.example.com"),
    ("KUBERAY_API_CORS_ALLOW_ORIGIN", "https://ui.example.com/dashboard"),
    ("KUBERAY_API_CORS_ALLOW_ORIGIN", "https://a.example.com https://b.example.com"),
    ("KUBERAY_API_AUTH_MODE", "oidc"),
    ("KUBERAY_API_AUTH_METRICS", "maybe"),
    ("KUBERAY_API_AUTH_REVIEW_RATE", "0"),
    ("KUBERAY_API_AUTH_REVIEW_RATE", "fast"),
    ("KUBERAY_API_AUTH_REVIEW_BURST", "0"),
    ("KUBERAY_API_AUTH_REVIEW_BURST", "2.5"),
]


@pytest.mark.parametrize("env", [{"KUBERAY_API_AUTH_MODE": "token"},
                                 {"KUBERAY_API_AUTH_MODE": "token", "KUBERAY_API_AUTH_TOKEN": "  "},
                                 {"KUBERAY_API_AUTH_MODE": "token", "KUBERAY_API_AUTH_TOKEN": "s3cret\n"}])
def test_the_token_mode_needs_a_clean_token(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="KUBERAY_API_AUTH_TOKEN"):
        Settings.from_env(env)


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_a_bad_value_fails_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]  # the very assignment the test expects refused
