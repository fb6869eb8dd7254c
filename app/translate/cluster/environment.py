"""Environment variables, both directions: the API's `EnvironmentVariables` <-> a container's
`env` (literal `values`, then `valuesFrom` references), and the autoscaler's whole ConfigMaps
and Secrets <-> its `envFrom`. Pure.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.translate.common import omit_zero
from app.translate.enums import EnvSource
from app.types import EnvironmentVariables, EnvValueFrom, Json


def to_env(variables: EnvironmentVariables) -> list[Json]:
    """Literal values first, then references, each in the order the request gave them."""
    referenced = [{"name": name, "valueFrom": _to_env_source(source)}
                  for name, source in (variables.get("valuesFrom") or {}).items()]
    return to_literal_env(variables) + referenced


def to_literal_env(variables: EnvironmentVariables) -> list[Json]:
    return [omit_zero({"name": name, "value": value}) for name, value in (variables.get("values") or {}).items()]


def to_api_environment(env: Iterable[Mapping[str, Any]], hidden: frozenset[str]) -> Json:
    """Written even when empty (`{}`): upstream returns it whenever the container has any env."""
    values: dict[str, str] = {}
    references: dict[str, Json] = {}
    for variable in env:
        name = variable.get("name", "")
        if name in hidden:
            continue
        source = variable.get("valueFrom")
        if source is None:
            values[name] = variable.get("value", "")
        elif (reference := _to_api_env_source(source)) is not None:
            references[name] = reference
    return omit_zero({"values": values, "valuesFrom": references})


def _to_env_source(source: EnvValueFrom) -> Json:
    """FIELD and any unknown source read `key` as a field path (upstream's default branch)."""
    kind, name, key = EnvSource.number(source.get("source")), source.get("name", ""), source.get("key", "")
    if kind == EnvSource.CONFIGMAP:
        return {"configMapKeyRef": omit_zero({"name": name}) | {"key": key}}
    if kind == EnvSource.SECRET:
        return {"secretKeyRef": omit_zero({"name": name}) | {"key": key}}
    if kind == EnvSource.RESOURCEFIELD:
        return {"resourceFieldRef": omit_zero({"containerName": name}) | {"resource": key}}
    return {"fieldRef": {"fieldPath": key}}


def _to_api_env_source(source: Mapping[str, Any]) -> Json | None:
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"] or {}
        return omit_zero({"name": ref.get("name", ""), "key": ref.get("key", "")})
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"] or {}
        return omit_zero({"source": EnvSource.SECRET.value, "name": ref.get("name", ""), "key": ref.get("key", "")})
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"] or {}
        return omit_zero({"source": EnvSource.RESOURCEFIELD.value, "name": ref.get("containerName", ""),
                          "key": ref.get("resource", "")})
    if "fieldRef" in source:
        return omit_zero({"source": EnvSource.FIELD.value, "key": (source["fieldRef"] or {}).get("fieldPath", "")})
    return None  # a kind the API cannot express


def to_env_from(variables: EnvironmentVariables) -> list[Json]:
    """Whole ConfigMaps or Secrets as environment: `key` and the other sources mean nothing here."""
    return [
        {"configMapRef" if kind == EnvSource.CONFIGMAP else "secretRef": {"name": source.get("name", "")}}
        for source in (variables.get("valuesFrom") or {}).values()
        if (kind := EnvSource.number(source.get("source"))) in (EnvSource.CONFIGMAP, EnvSource.SECRET)
    ]


def to_api_envs(env: Iterable[Mapping[str, Any]], env_from: Iterable[Mapping[str, Any]]) -> Json:
    """`values` from `env`; `valuesFrom` keyed by position, as the CR has no names for whole sources."""
    return omit_zero({
        "values": {variable.get("name", ""): variable.get("value", "") for variable in env},
        "valuesFrom": {str(index): _to_api_whole_source(ref) for index, ref in enumerate(env_from)},
    })


def _to_api_whole_source(ref: Mapping[str, Any]) -> Json:
    if "configMapRef" in ref:
        return omit_zero({"name": (ref["configMapRef"] or {}).get("name", "")})
    return omit_zero({"source": EnvSource.SECRET.value, "name": (ref.get("secretRef") or {}).get("name", "")})
