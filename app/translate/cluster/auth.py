"""Ray token authentication: the API's `authOptions` (an extension of this server) <-> the
RayCluster's `spec.authOptions` (KubeRay 1.6 and later), both directions, and where the token of a
cluster is.

The operator turns token mode on only for `mode: token` spelled out (`utils.IsAuthEnabled`,
ray-operator/controllers/ray/utils/util.go@v1.6.2): an empty mode is written as `token`, since
asking for authOptions asks for a token. `enableK8sTokenAuth` is not offered: with it Ray asks the
Kubernetes API server about each caller's own ServiceAccount token, which this server, calling as
itself, could not present on a caller's behalf; and the operator supports it for standalone
RayClusters only (not RayJob or RayService clusters, which share this spec). Pure.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.translate.common import object_key, omit_zero
from app.types import Json

TOKEN = "token"  # noqa: S105 (a mode's name)
DISABLED = "disabled"
TOKEN_KEY = "auth_token"  # noqa: S105 (the Secret's key, utils.RAY_AUTH_TOKEN_SECRET_KEY)
NAME_LIMIT = 50  # utils.CheckName: longer names keep their last 50 characters


def to_auth_options(options: Mapping[str, Any]) -> Json:
    """The RayCluster's `spec.authOptions` for the API's."""
    return omit_zero({"mode": options.get("mode") or TOKEN, "secretName": options.get("secretName", "")})


def to_api_auth_options(options: Mapping[str, Any]) -> Json:
    """The API's `authOptions` for a RayCluster's, as stored (`enableK8sTokenAuth` is not shown)."""
    return omit_zero({"mode": str(options.get("mode") or ""), "secretName": str(options.get("secretName") or "")})


def token_secret(raycluster: Mapping[str, Any]) -> str | None:
    """The name of the Secret holding the cluster's Ray token, or None when Ray runs without one: the
    user's `secretName`, else the one the operator makes (`reconcileAuth`, named `CheckName(name)`)."""
    options = (raycluster.get("spec") or {}).get("authOptions") or {}
    if options.get("mode") != TOKEN or options.get("enableK8sTokenAuth") is True:
        return None
    return str(options.get("secretName") or "") or operator_secret_name(object_key(raycluster)[1])


def operator_secret_name(cluster: str) -> str:
    """The operator's `utils.CheckName`: at most the last 50 characters, and a first character that
    is a digit or punctuation replaced by `r`."""
    name = cluster[-NAME_LIMIT:] if len(cluster) > NAME_LIMIT else cluster
    if name and (name[0].isdigit() or not name[0].isalnum()):
        name = "r" + name[1:]
    return name
