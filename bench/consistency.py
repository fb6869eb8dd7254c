"""What consistent reads cost (KUBERAY_API_CONSISTENT_READS): GETs and lists of clusters through
the server (gunicorn, 2 workers, as `make run`), answered from the watch caches, with the setting
off and on.

    .venv/bin/python -m bench.consistency --kubeconfig "$KUBECONFIG"

Needs `wrk` (Debian: `apt-get install wrk`). In a namespace of its own it writes 10 RayClusters
(as bench.reads does); then, for each setting (and, for scale, with the caches off), it starts
the server and runs `wrk -t2 -c16` on a GET of one cluster and on the namespace's list. With the
setting on, each read first asks the kube-apiserver what its scope holds (a GET of the object; a
list of the namespace's clusters), shared by the reads of that scope that wait meanwhile. The
settings take turns, `--rounds` times, and the table shows each one's best round. Everything is
deleted at the end. About five minutes on a quiet control plane (each run first waits up to two
minutes for the control plane to quieten).
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.reads import Plane, best_rates, has_wrk, print_table, wrk_arguments  # noqa: E402

SETTINGS = {  # and, for scale, the same reads with no caches at all
    "consistent reads off": {"KUBERAY_API_CONSISTENT_READS": "false"},
    "consistent reads on": {"KUBERAY_API_CONSISTENT_READS": "true"},
    "caches off": {"KUBERAY_API_CACHE": "false"},
}


def run(kubeconfig: str, seconds: int, rounds: int) -> list[tuple[str, str, str]]:
    plane = Plane(kubeconfig)
    namespace = f"bench-consistent-{uuid.uuid4().hex[:6]}"
    plane.namespace(namespace)
    try:
        plane.clusters(namespace, 0, 10)
        return best_rates(kubeconfig, [(setting, env, {}) for setting, env in SETTINGS.items()],
                          f"/apis/v1/namespaces/{namespace}/clusters/bench-00000",
                          f"/apis/v1/namespaces/{namespace}/clusters", seconds, rounds)
    finally:
        plane.delete_namespace(namespace)


def main(argv: list[str] | None = None) -> int:
    parser = wrk_arguments(__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="turns of the two settings; the best is shown")
    args = parser.parse_args(argv)
    if not has_wrk("bench.consistency"):
        return 2
    rows = run(args.kubeconfig, args.seconds, args.rounds)
    print_table((f"setting (best of {args.rounds})", "GET one cluster, req/s", "list 10 clusters, req/s"),
                rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
