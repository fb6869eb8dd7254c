"""Liveness and readiness, for the kubelet's probes (and for people).

`/healthz` answers 200 with an empty body while the process serves, as upstream's does
(BEHAVIOR §1.9), to any method. `/readyz` asks Kubernetes, through app/k8s.py, whether requests
can succeed now: the API server reports itself ready and serves the three KubeRay resources.
Otherwise it answers 503 with the reason in the API's error body. Nothing is cached: a probe
after the Kubernetes API comes back sees it back. Neither route is part of the REST API's spec.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import flask

from app.constants import RAYCLUSTER, RAYJOB, RAYSERVICE
from app.errors import ApiError, NotFound, Unavailable, error_body

if TYPE_CHECKING:
    from app.k8s import K8s

log = logging.getLogger(__name__)

KUBERAY_RESOURCES = (RAYCLUSTER, RAYJOB, RAYSERVICE)


def healthz() -> flask.Response:
    """The process is up and its event loop answers: nothing else is checked, so that a
    Kubernetes outage never gets the pod restarted."""
    return flask.Response(status=200)


def readyz(k8s: Callable[[], K8s]) -> flask.Response:
    """`k8s` builds the app's gateway on first use: a configuration it cannot use is a reason too."""
    try:
        gateway = k8s()
    except Exception as exc:  # kubernetes' own configuration errors: only app/k8s.py knows them
        log.error("no Kubernetes client", exc_info=exc)
        reason: str | None = f"Not ready: no Kubernetes client ({type(exc).__name__}); see the server log."
    else:
        reason = not_ready_reason(gateway)
    if reason is None:
        return flask.Response(status=200)
    log.warning("%s", reason)
    body = json.dumps(error_body(Unavailable.code, reason), separators=(",", ":"))
    return flask.Response(body, status=Unavailable.status, mimetype="application/json")


def not_ready_reason(k8s: K8s) -> str | None:
    """None when ready, else one sentence saying what is missing."""
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
