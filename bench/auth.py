"""What authentication costs: GETs and lists of clusters through the server (gunicorn, 2 workers,
as `make run`), answered from the watch caches, in each auth mode.

    .venv/bin/python -m bench.auth --kubeconfig "$KUBECONFIG"

Needs `wrk` (Debian: `apt-get install wrk`). In a namespace of its own it writes 10 RayClusters
(as bench.reads does) and a ServiceAccount whose Role lets it read them; then, for each mode
(`none`, `token`, `kubernetes`), it starts the server and runs `wrk -t2 -c16` on a GET of one
cluster and on the namespace's list, each request with that mode's credentials (the
ServiceAccount's token in `kubernetes`). The modes take turns, `--rounds` times, and the table
shows each mode's best round (this machine's other work only ever slows a round down). The
server keeps Kubernetes' answers about a token and a caller's rights for 10 s, so this is the
steady state: per worker, one TokenReview and one SubjectAccessReview per question every 10 s.
Everything is deleted at the end. About four minutes.
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402

from bench.reads import Plane, Variant, best_rates, has_wrk, print_table, wrk_arguments  # noqa: E402

TOKEN = "bench-shared-token"  # noqa: S105  (given to the server the benchmark starts itself)
READER = [("ray.io", "rayclusters", ["get", "list"]), ("events.k8s.io", "events", ["list"])]  # (group, resource, verbs)


def reader_token(kubeconfig: str, namespace: str) -> str:
    """A ServiceAccount allowed to read the namespace's clusters and their events, and its token."""
    api = config.new_client_from_config(config_file=kubeconfig)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    named = client.V1ObjectMeta(name="reader")
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=named))
    rules = [client.V1PolicyRule(api_groups=[group], resources=[resource], verbs=verbs)
             for group, resource, verbs in READER]
    rbac.create_namespaced_role(namespace, client.V1Role(metadata=named, rules=rules))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=named, role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)]))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    status = core.create_namespaced_service_account_token("reader", namespace, request).status
    if status is None or not status.token:
        raise RuntimeError(f"the token request for {namespace}/reader was answered without a token")
    return str(status.token)


def run(kubeconfig: str, seconds: int, rounds: int) -> list[tuple[str, str, str]]:
    plane = Plane(kubeconfig)
    namespace = f"bench-auth-{uuid.uuid4().hex[:6]}"
    plane.namespace(namespace)
    try:
        plane.clusters(namespace, 0, 10)
        token = reader_token(kubeconfig, namespace)
        modes: list[Variant] = [
            ("none", {}, {}),
            ("token", {"KUBERAY_API_AUTH_TOKEN": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}),
            ("kubernetes", {}, {"Authorization": f"Bearer {token}"})]
        return best_rates(kubeconfig, [(mode, {"KUBERAY_API_AUTH_MODE": mode, **settings}, headers)
                                       for mode, settings, headers in modes],
                          f"/apis/v1/namespaces/{namespace}/clusters/bench-00000",
                          f"/apis/v1/namespaces/{namespace}/clusters", seconds, rounds)
    finally:
        plane.delete_namespace(namespace)


def main(argv: list[str] | None = None) -> int:
    parser = wrk_arguments(__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three modes; the best is shown")
    args = parser.parse_args(argv)
    if not has_wrk("bench.auth"):
        return 2
    rows = run(args.kubeconfig, args.seconds, args.rounds)
    print_table((f"auth mode (best of {args.rounds})", "GET one cluster, req/s", "list 10 clusters, req/s"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
