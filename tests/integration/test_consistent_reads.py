"""Several replicas (KUBERAY_API_CONSISTENT_READS): a write answered by one server is in the next
read of every other, as with two pods behind a Service. Each server runs as production does
(gunicorn), with write marks of its own and caches on, against the same control plane."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from app.types import Json
from tests.support.api import Send
from tests.support.bodies import cluster_body, template_body
from tests.support.kube import Cluster
from tests.support.metrics import sample
from tests.support.served import Server, gunicorn, http_send

ROUNDS = 100


SETTINGS = {"writer": "true", "consistent": "true", "inconsistent": "false"}  # KUBERAY_API_CONSISTENT_READS


@pytest.fixture(scope="module")
def servers(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """A writer, a reader with consistent reads, and one without (for the figure it shows): one
    worker each (across the workers of one server, the write marks already answer)."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(gunicorn(cluster, tmp_path_factory.mktemp(name), KUBERAY_API_WORKERS="1",
                                                  KUBERAY_API_CONSISTENT_READS=value))
               for name, value in SETTINGS.items()}


def _names(answer: Json, key: str = "clusters") -> list[str]:
    return [item["name"] for item in answer.get(key, [])]


def _stale_reads(send: Send, clusters: str, name: str, created: Json | None) -> list[str]:
    """The reads of one round that do not show the write just answered elsewhere: the create of
    `name` (answered with `created`) or, for None, its delete."""
    stale = []
    status, read = send("GET", f"{clusters}/{name}", None)
    if created is not None and (status != 200 or read["clusterSpec"] != created["clusterSpec"]):
        stale.append(f"GET after create {name}: {status}")
    if created is None and status != 404:
        stale.append(f"GET after delete {name}: {status}")
    status, listed = send("GET", clusters, None)
    if status != 200 or (name in _names(listed)) != (created is not None):
        stale.append(f"list after {'create' if created is not None else 'delete'} {name}")
    return stale


def test_a_write_answered_by_one_replica_is_in_the_next_read_of_another(
        servers: dict[str, Server], namespace: str) -> None:
    """100 rounds: a create on one server, then a GET and a list on each other; a delete, and
    again. The reader with consistent reads is never stale; the figure of the other is printed
    (its watch usually wins the race, but nothing makes it)."""
    write = http_send(servers["writer"].port)
    readers: dict[str, Send] = {name: http_send(servers[name].port) for name in ("consistent", "inconsistent")}

    def metrics() -> str:
        return str(readers["consistent"]("GET", "/metrics", None)[1])

    before = metrics()
    assert write("POST", f"/apis/v1/namespaces/{namespace}/compute_templates", template_body(namespace))[0] == 200
    clusters = f"/apis/v1/namespaces/{namespace}/clusters"
    stale: dict[str, list[str]] = {name: [] for name in readers}
    for index in range(ROUNDS):
        name = f"c{index:03d}"
        order = list(readers) if index % 2 else list(reversed(readers))  # each reader first in turn
        status, created = write("POST", clusters, cluster_body(namespace, name))
        assert status == 200, created
        for reader in order:
            stale[reader] += _stale_reads(readers[reader], clusters, name, created)
        assert write("DELETE", f"{clusters}/{name}", None)[0] == 200
        for reader in order:
            stale[reader] += _stale_reads(readers[reader], clusters, name, None)
    after = metrics()

    def served_from(source: str) -> float:
        return (sample(after, "kuberay_api_cache_reads_total", cache="rayclusters", source=source)
                - sample(before, "kuberay_api_cache_reads_total", cache="rayclusters", source=source))

    print(f"\nstale reads in {4 * ROUNDS}: {len(stale['consistent'])} with consistent reads, "
          f"{len(stale['inconsistent'])} without ({stale['inconsistent'][:5]}); with them, "
          f"{served_from('cache'):.0f} cluster reads from the cache, {served_from('kubernetes'):.0f} from Kubernetes")
    assert stale["consistent"] == []
    # the checked answers still come from the cache (the watch brings a change within moments)
    assert served_from("cache") >= 3 * ROUNDS, (served_from("cache"), served_from("kubernetes"))


def test_a_template_stored_through_one_replica_serves_a_create_through_another(
        servers: dict[str, Server], namespace: str) -> None:
    """A create reads the compute template it names through the cache too (as a GET does)."""
    write, read = http_send(servers["writer"].port), http_send(servers["consistent"].port)
    for index in range(10):
        template = f"t{index}"
        assert write("POST", f"/apis/v1/namespaces/{namespace}/compute_templates",
                     template_body(namespace, template))[0] == 200
        body = cluster_body(namespace, f"from-{template}")
        body["clusterSpec"]["headGroupSpec"]["computeTemplate"] = template
        for group in body["clusterSpec"].get("workerGroupSpec") or []:
            group["computeTemplate"] = template
        status, answer = read("POST", f"/apis/v1/namespaces/{namespace}/clusters", body)
        assert status == 200, answer
