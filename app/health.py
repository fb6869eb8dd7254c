"""Liveness and readiness, for the kubelet's probes (and for people).

`/healthz` answers 200 with an empty body while the process serves, to any method, as upstream's
health endpoint does. `/readyz` asks Kubernetes, through app/k8s, whether requests can
succeed now: the API server reports itself ready and serves the three KubeRay resources; then
whether the watch caches (app/cache.py) have listed. Otherwise it raises `Unavailable` with the
reason, which app/errors.py answers (503, code 14). The answer itself is never cached: a probe
after the Kubernetes API comes back sees it back. Neither route is part of the REST API's spec.
"""
from __future__ import annotations

import flask

from app.cache import Caches
from app.constants import RAYCLUSTER, RAYJOB, RAYSERVICE
from app.errors import ApiError, NotFound, Unavailable
from app.k8s import K8s

KUBERAY_RESOURCES = (RAYCLUSTER, RAYJOB, RAYSERVICE)


def healthz() -> flask.Response:
    """The process is up and its event loop answers: nothing else is checked, so that a
    Kubernetes outage never gets the pod restarted."""
    return flask.Response(status=200)


def readyz(k8s: K8s, caches: Caches | None = None) -> flask.Response:
    reason = not_ready_reason(k8s, caches)
    if reason is not None:
        raise Unavailable(reason)
    return flask.Response(status=200)


def not_ready_reason(k8s: K8s, caches: Caches | None = None) -> str | None:
    """None when ready, else one sentence saying what is missing. Caches still listing (at
    start-up, or again after their watch expired) are named: reads still work meanwhile, from
    Kubernetes, but a pod should take its share of the load once they answer."""
    reason = _kubernetes_reason(k8s)
    if reason is None and caches is not None and (listing := caches.not_synced()):
        caches.start()
        return f"Not ready: the watch caches are not synced yet ({', '.join(listing)})."
    return reason


def _kubernetes_reason(k8s: K8s) -> str | None:
    try:
        k8s.check_ready()
    except ApiError as exc:
        return f"Not ready: {exc.message.rstrip('.')}."
    by_group: dict[str, list[str]] = {}
    for kind in KUBERAY_RESOURCES:
        by_group.setdefault(f"{kind.group}/{kind.version}", []).append(kind.plural)
    for group_version, plurals in by_group.items():
        try:
            served = set(k8s.served_resources(group_version))
        except NotFound:
            return (f"Not ready: the KubeRay CRDs are not installed "
                    f"(the Kubernetes API does not serve {group_version}).")
        except ApiError as exc:
            return f"Not ready: {exc.message.rstrip('.')}."
        missing = [plural for plural in plurals if plural not in served]
        if missing:
            return (f"Not ready: the KubeRay CRDs are not all installed "
                    f"({group_version} does not serve {', '.join(missing)}).")
    return None
