"""What a flood of unknown tokens costs Kubernetes in the `kubernetes` auth mode: the server as
production runs it (gunicorn, one worker: the bound is per worker), real ServiceAccount tokens, and
the TokenReviews counted twice, by the server (its `kuberay_api_kubernetes_requests` of
`review_token`) and by the kube-apiserver (its `apiserver_request_total` of `tokenreviews`, which
also counts other clients' reviews: so it bounds the server's count from above, never the limit).
"""
from __future__ import annotations

import http.client
import json
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.ratelimit import DEFAULT_BURST, DEFAULT_RATE
from app.rpc.generated import cluster_pb2, cluster_pb2_grpc
from tests.support.kube import Cluster, account_token, account_with_role
from tests.support.metrics import sample
from tests.support.rpc import grpc_send
from tests.support.served import Server, gunicorn

FLOOD = 1000  # random tokens, from one address
THREADS = 16  # at once, each on a kept-alive connection
READER = [{"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "list"]}]


@pytest.fixture(scope="module")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default limits (1 a second, 10 at once), the administrator's kubeconfig (it may review
    tokens and impersonate)."""
    workdir = tmp_path_factory.mktemp("auth-limits")
    with gunicorn(cluster, workdir, KUBERAY_API_AUTH_MODE="kubernetes", KUBERAY_API_WORKERS="1") as served:
        yield served


def kubernetes_reviews(cluster: Cluster) -> float:
    """TokenReviews the kube-apiserver has answered, all clients together."""
    api = cluster.api
    text = api.call_api(*api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_request_total{") and 'resource="tokenreviews"' in line)


def our_reviews(server: Server) -> float:
    text = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    return sample(text, "kuberay_api_kubernetes_requests_total", call="review_token", outcome="ok")


def limited_requests(server: Server) -> float:
    """HTTP requests answered 429, whatever their operation."""
    text = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    return sum(item.value for family in text_string_to_metric_families(text) for item in family.samples
               if item.name == "kuberay_api_requests_total" and item.labels.get("status") == "429")


def get(port: int, path: str, token: str, source: str = "127.0.0.1",
        connection: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    # A forwarded address is any client's to write: it must not open a fresh bucket.
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}",
                                       "X-Forwarded-For": f"10.{secrets.randbelow(250)}.0.{secrets.randbelow(250)}"})
    response = conn.getresponse()
    answer = (response.status, {name.lower(): value for name, value in response.getheaders()}, response.read())
    if connection is None:
        conn.close()
    return answer


def test_a_flood_of_random_tokens_costs_at_most_the_burst_and_the_rate(server: Server, cluster: Cluster,
                                                                       namespace: str) -> None:
    account_with_role(cluster.api, namespace, "reader", READER)
    known, fresh = (account_token(cluster.api, namespace, "reader", 600) for _ in range(2))
    path = f"/apis/v1/namespaces/{namespace}/clusters"
    assert get(server.port, path, known)[0] == 200  # known good from now on
    ours, theirs = our_reviews(server), kubernetes_reviews(cluster)

    answers: Counter[int] = Counter()
    waits: set[str] = set()
    codes: set[int] = set()
    known_answers: list[int] = []
    lock, flooding = threading.Lock(), threading.Event()

    def flood(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for _ in range(count):
            status, headers, body = get(server.port, path, secrets.token_urlsafe(32), connection=conn)
            with lock:
                answers[status] += 1
                if status == 429:
                    codes.add(json.loads(body)["code"])
                    waits.add(headers.get("retry-after", ""))
        conn.close()

    def known_caller() -> None:  # the same address, all through the flood
        while flooding.is_set():
            known_answers.append(get(server.port, path, known)[0])
            time.sleep(0.02)

    flooding.set()
    began = time.monotonic()
    beside = threading.Thread(target=known_caller)
    beside.start()
    workers = [threading.Thread(target=flood, args=(FLOOD // THREADS + (i < FLOOD % THREADS),)) for i in range(THREADS)]
    for worker in workers:
        worker.start()
    # Another address has its own bucket: a token new to the server is reviewed, and passes.
    assert get(server.port, path, fresh, source="127.0.0.2")[0] == 200
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    flooding.clear()
    beside.join()

    made = our_reviews(server) - ours
    bound = DEFAULT_BURST + math.ceil(DEFAULT_RATE * elapsed)
    reviewed_again = math.floor(elapsed / 10)  # the known token, when its kept answer expires
    print(f"\n{FLOOD} random tokens in {elapsed:.2f} s: {dict(answers)}; TokenReviews made {made:.0f} "
          f"(the kube-apiserver counted {kubernetes_reviews(cluster) - theirs:.0f}, all clients); bound {bound}")
    assert sum(answers.values()) == FLOOD
    assert set(answers) == {401, 429}, answers
    assert answers[401] <= bound, (answers, elapsed)
    assert made <= bound + 1 + reviewed_again, (made, bound, elapsed)  # (+1: the fresh token)
    assert kubernetes_reviews(cluster) - theirs >= made  # they were real reviews
    assert codes == {8}, codes
    assert limited_requests(server) >= answers[429]  # counted as answered, status 429
    assert all(wait.isdigit() and int(wait) >= 1 for wait in waits), waits
    assert known_answers, "the known caller sent nothing"
    assert set(known_answers) == {200}, Counter(known_answers)

    # The same bucket over gRPC and on the V2 API, while it is empty
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        clusters = cluster_pb2_grpc.ClusterServiceStub(channel)
        refusals = []
        for _ in range(3):  # (the bucket may have refilled a token or two since)
            with pytest.raises(grpc.RpcError) as refused:
                clusters.ListCluster(cluster_pb2.ListClustersRequest(namespace=namespace), timeout=10,
                                     metadata=(("authorization", f"Bearer {secrets.token_urlsafe(32)}"),))
            refusals.append(refused.value)
        limited = refusals[-1]
        assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, [refusal.code() for refusal in refusals]
        assert int(dict(limited.trailing_metadata())["retry-after"]) >= 1
        known_send = grpc_send(channel, metadata=(("authorization", f"Bearer {known}"),))
        assert known_send("GET", path, None)[0] == 200
    status, headers, body = get(server.port, f"/apis/ray.io/v1/namespaces/{namespace}/rayclusters",
                                secrets.token_urlsafe(32))
    assert status == 429, body
    status_object = json.loads(body)
    assert (status_object["kind"], status_object["reason"], status_object["code"]) == ("Status", "TooManyRequests", 429)
    assert int(headers["retry-after"]) == status_object["details"]["retryAfterSeconds"] >= 1


def test_a_token_refused_again_costs_nothing_more(server: Server, cluster: Cluster) -> None:
    """One wrong token sent again and again is one review while its refusal is kept (10 s)."""
    token = secrets.token_urlsafe(32)
    before = our_reviews(server)
    source = "127.0.0.3"  # an address of its own: the flood's bucket is empty
    statuses = Counter(get(server.port, "/apis/v1/clusters", token, source=source)[0] for _ in range(50))
    assert statuses == Counter({401: 50}), statuses
    assert our_reviews(server) - before == 1

