"""The route job submissions take to the Ray dashboards, as create_app picks it from the settings
and the environment, and app/dashboard.py through the Kubernetes API server, bounded as the direct
route is, and what a submit whose answer never came is. The gateway and the dashboard point at
loopback ports that refuse connections, or take the request and never answer or reset the
connection (nothing is faked), so no cluster is needed."""
from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from app.constants import RAYCLUSTER
from app.dashboard import Dashboard
from app.errors import DeadlineExceeded, Unavailable
from app.k8s import K8s
from app.main import create_app
from app.settings import Settings
from app.translate.job_submissions import (
    IN_CLUSTER_URL,
    JOBS,
    DashboardAt,
    DirectDashboard,
    ProxiedDashboard,
    dashboard_route,
)
from tests.support.net import TakesRequests, closed_port

POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}  # what every pod has
TEMPLATE = "http://127.0.0.1:8265"

ROUTES = [
    (POD, IN_CLUSTER_URL),  # in a pod: the head Service by its cluster DNS name
    ({**POD, "KUBECONFIG": ""}, IN_CLUSTER_URL),
    ({**POD, "KUBERAY_API_DASHBOARD_URL": " "}, IN_CLUSTER_URL),
    ({}, ""),  # elsewhere: the Kubernetes API server's service proxy
    ({"KUBECONFIG": "/home/me/.kube/config"}, ""),
    ({**POD, "KUBECONFIG": "/etc/kube/config"}, ""),  # a kubeconfig in a pod: its cluster may be another
    ({**POD, "KUBERAY_API_KUBECONFIG": "/etc/kube/config"}, ""),
    ({"KUBERAY_API_DASHBOARD_URL": TEMPLATE}, TEMPLATE),  # a template set: anywhere
    ({**POD, "KUBERAY_API_DASHBOARD_URL": TEMPLATE}, TEMPLATE),
]


@pytest.mark.parametrize(("env", "template"), ROUTES)
def test_the_route_follows_how_the_kubernetes_client_is_configured(env: dict[str, str], template: str) -> None:
    settings = Settings.from_env(env)
    k8s = K8s.from_settings(settings, env)  # (its client is made on first use: nothing is read here)
    assert dashboard_route(settings.dashboard_url, k8s.in_cluster).template == template


def test_the_app_says_once_at_start_up_which_route_it_takes(caplog: pytest.LogCaptureFixture,
                                                           tmp_path: Path) -> None:
    with caplog.at_level(logging.INFO, logger="app"):
        create_app(Settings(kubeconfig=str(tmp_path / "unused")))
    said = [record.getMessage() for record in caplog.records if "Ray dashboard" in record.getMessage()]
    assert said == ["Job submissions reach each cluster's Ray dashboard through the Kubernetes API server's "
                    "service proxy (/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy) (the server "
                    "runs outside the cluster: its Kubernetes client is not configured in-cluster)."]


# -- through the Kubernetes API server -----------------------------------------------------------

WHERE = ProxiedDashboard("ns", "rc", "rc-head-svc", 8265)
NAMED = "The Ray dashboard of cluster rc (service rc-head-svc:8265 through the Kubernetes API server)"


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("kuberay_api_dashboard_requests_total",
                                     {"call": "list_jobs", "outcome": outcome}) or 0.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers: a frozen API server, or one waiting on a
    Service that does not answer."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield int(silent.getsockname()[1])


def test_an_api_server_that_cannot_be_reached_is_unavailable_and_counts_against_its_circuit() -> None:
    port = closed_port()
    k8s = K8s(lambda: client.Configuration(host=f"https://127.0.0.1:{port}"))
    dashboard = Dashboard(timeout=5.0, api_server=k8s)
    before = counted("unreachable")
    for _ in range(2):
        with pytest.raises(Unavailable) as caught:
            dashboard.call("list_jobs", WHERE, "GET", JOBS)
        assert caught.value.message == f"{NAMED} cannot be reached: Kubernetes API server unavailable: cannot connect."
    assert counted("unreachable") == before + 2
    with pytest.raises(Unavailable, match="calls fail at once until it answers again"):  # the circuit is open
        k8s.get_object(RAYCLUSTER, "ns", "rc")


def test_no_answer_through_the_api_server_is_unavailable_within_the_dashboards_timeout(silent_port: int) -> None:
    """The dashboard's timeout bounds the call, not the (longer) Kubernetes call timeout; and the
    circuit stays closed, since the slow one may be the Service behind the proxy: each call waits."""
    k8s = K8s(lambda: client.Configuration(host=f"http://127.0.0.1:{silent_port}"), timeout=30.0)
    dashboard = Dashboard(timeout=0.5, api_server=k8s)
    before = counted("timeout")
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            dashboard.call("list_jobs", WHERE, "GET", JOBS)
        assert 0.4 < time.monotonic() - started < 3
        assert caught.value.message == f"{NAMED} cannot be reached: no answer in time."
    assert counted("timeout") == before + 3


# -- a submit whose answer never came: its outcome is unknown ---------------------------------------

SUBMIT = {"entrypoint": "python -c 'print(42)'", "submission_id": "once"}


def submit(dashboard: Dashboard, where: DashboardAt) -> None:
    dashboard.call("submit", where, "POST", JOBS, SUBMIT, creates=True)


@pytest.mark.parametrize(("then", "reason"), [("hang", "no answer in time"), ("reset", "connection failed")])
def test_a_submit_the_dashboard_took_and_never_answered_may_or_may_not_have_run(then: str, reason: str) -> None:
    """504, code 4, as a Kubernetes write without its answer: the dashboard had the whole request."""
    dashboard = Dashboard(timeout=0.5)
    with TakesRequests(then) as peer:
        where = DirectDashboard(peer.url)
        with pytest.raises(DeadlineExceeded) as caught:
            submit(dashboard, where)
        assert (caught.value.status, caught.value.code) == (504, 4)
        assert caught.value.message == (
            f"The Ray dashboard at {peer.url} did not answer the job submission ({reason}): the job may or may not "
            "have been submitted; list the cluster's job submissions to learn whether it was.")
        [request] = peer.requests
        assert request.startswith(b"POST /api/jobs/ ")
        assert request.endswith(json.dumps(SUBMIT).encode())  # the whole request arrived
        with pytest.raises(Unavailable, match="cannot be reached"):  # a read that got no answer: as before
            dashboard.call("list_jobs", where, "GET", JOBS)


def test_a_submit_that_never_reached_the_dashboard_did_not_happen() -> None:
    with pytest.raises(Unavailable) as caught:
        submit(Dashboard(timeout=0.5), DirectDashboard(f"http://127.0.0.1:{closed_port()}"))
    assert caught.value.message.endswith("cannot be reached: cannot connect.")


def test_a_submit_through_the_api_server_without_an_answer_may_or_may_not_have_run(silent_port: int) -> None:
    k8s = K8s(lambda: client.Configuration(host=f"http://127.0.0.1:{silent_port}"), timeout=30.0)
    with pytest.raises(DeadlineExceeded, match="may or may not have been submitted"):
        submit(Dashboard(timeout=0.5, api_server=k8s), WHERE)
    closed = K8s(lambda: client.Configuration(host=f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(Unavailable, match="cannot connect"):  # never sent
        submit(Dashboard(timeout=0.5, api_server=closed), WHERE)
