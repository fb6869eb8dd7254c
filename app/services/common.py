"""Steps shared by the resource services: ownership checks, template reads, events, paging.

Like the services, this knows Kubernetes (through `app.k8s.K8s`) and never HTTP.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from app.constants import (
    COMPONENT,
    CONFIG_TYPE_COMPUTE_TEMPLATE,
    CONFIG_TYPE_LABEL,
    MANAGED_BY,
    CustomResource,
)
from app.errors import ApiError, InvalidInput, NotFound
from app.k8s import K8s
from app.translate.compute_templates import to_api_compute_template

log = logging.getLogger(__name__)

Json = dict[str, Any]
EventIndex = Mapping[tuple[str, str], list[Json]]


def in_namespace(body: Json, namespace: str) -> Json:
    """A body without `namespace` takes the path's; a different one is for validation to refuse."""
    return body if body.get("namespace") else {**body, "namespace": namespace}


def labels(obj: Json) -> Mapping[str, str]:
    return obj.get("metadata", {}).get("labels") or {}


def is_managed(obj: Json) -> bool:
    return labels(obj).get(MANAGED_BY) == COMPONENT


def is_compute_template(configmap: Json) -> bool:
    return labels(configmap).get(CONFIG_TYPE_LABEL) == CONFIG_TYPE_COMPUTE_TEMPLATE


def read_managed(k8s: K8s, kind: CustomResource, ns: str, name: str, what: str) -> Json:
    """Objects we do not manage are reported exactly like absent ones (upstream: 500, code 2)."""
    message = f"{what} {name} not found in namespace {ns}"
    try:
        obj = k8s.get_object(kind, ns, name)
    except NotFound as exc:
        raise NotFound(message) from exc
    if not is_managed(obj):
        raise NotFound(message)
    return obj


def read_compute_template(k8s: K8s, ns: str, name: str) -> Json:
    """Only ConfigMaps labelled as compute templates are templates (upstream: any ConfigMap)."""
    message = f"Compute template {name} not found in namespace {ns}"
    try:
        configmap = k8s.get_configmap(ns, name)
    except NotFound as exc:
        raise NotFound(message) from exc
    if not is_compute_template(configmap):
        raise NotFound(message)
    return configmap


def read_templates(k8s: K8s, ns: str, names: Iterable[str]) -> dict[str, Json]:
    """The referenced templates in API form, read before any write; a missing one is a 400."""
    templates: dict[str, Json] = {}
    for name in names:
        try:
            templates[name] = to_api_compute_template(read_compute_template(k8s, ns, name))
        except NotFound as exc:
            raise InvalidInput(str(exc)) from exc
    return templates


def events_for(k8s: K8s, ns: str | None, kind: str, name: str = "") -> list[Json]:
    """Events about objects of `kind` (named `name`, or all of them, for a list).

    Upstream selects on the name alone, so a RayJob's events could show on a RayCluster of the
    same name; selecting the kind too fixes that and keeps a namespace's pod events out of lists.
    Events never fail a request (as upstream): a failed read is logged and yields none.
    """
    selector = f"regarding.kind={kind}" + (f",regarding.name={name}" if name else "")
    try:
        return k8s.list_events(ns, selector)
    except ApiError as exc:
        log.warning("cannot read %s events in %s: %s", kind, ns or "all namespaces", exc)
        return []


def index_events(events: Iterable[Json]) -> dict[tuple[str, str], list[Json]]:
    """Events by (namespace, regarding.name), so that a list costs one events read, not N."""
    index: dict[tuple[str, str], list[Json]] = defaultdict(list)
    for event in events:
        regarding = event.get("regarding") or {}
        namespace = regarding.get("namespace") or event.get("metadata", {}).get("namespace", "")
        index[(namespace, regarding.get("name", ""))].append(event)
    return index


def key(obj: Json) -> tuple[str, str]:
    metadata = obj.get("metadata", {})
    return metadata.get("namespace", ""), metadata.get("name", "")


def page(items_key: str, items: list[Json], token_key: str = "", token: str = "") -> Json:
    """A list response without zero values, as upstream's JSON gateway writes it."""
    response: Json = {}
    if items:
        response[items_key] = items
    if token_key and token:
        response[token_key] = token
    return response
