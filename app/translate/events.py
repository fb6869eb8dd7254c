"""Kubernetes events (events.k8s.io/v1) as the API's `ClusterEvent`s.

Used for clusters and, with the service's name as prefix, for RayService events. Which events
belong to which object is the caller's business (the service layer selects them); this only
maps fields. Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from app.translate.common import metadata, omit_zero, to_rfc3339
from app.types import Event, Json


def to_api_events(events: Iterable[Mapping[str, Any]], prefix: str) -> list[Json]:
    """One `ClusterEvent` per event, in the given order; `name` is `<prefix>-<event name>`."""
    return [_api_event(cast(Event, event), prefix) for event in events]


def _api_event(event: Event, prefix: str) -> Json:
    """Series data wins over the deprecated core/v1 fields; every time is in whole seconds.

    The three times are always written: an unset one is Go's zero time, as upstream renders it.
    """
    meta = metadata(event)
    name = meta.get("name", "")
    series = event.get("series")
    if series is not None:
        last, count = series.get("lastObservedTime"), series.get("count", 0)
    else:
        last = event.get("deprecatedLastTimestamp") or event.get("eventTime")
        count = event.get("deprecatedCount", 0)
    return omit_zero({
        "id": name,
        "name": f"{prefix}-{name}",
        "createdAt": to_rfc3339(meta.get("creationTimestamp")),
        "firstTimestamp": to_rfc3339(event.get("eventTime") or event.get("deprecatedFirstTimestamp")),
        "lastTimestamp": to_rfc3339(last),
        "reason": event.get("reason", ""),
        "message": event.get("note", ""),
        "type": event.get("type", ""),
        "count": count,
    })


# What `_api_event` reads, and what the event's filing needs (`regarding`): a watch cache keeps
# only these of each event.
_KEPT = ("eventTime", "series", "deprecatedLastTimestamp", "deprecatedFirstTimestamp", "deprecatedCount",
         "reason", "note", "type")
_KEPT_METADATA = ("name", "namespace", "creationTimestamp", "resourceVersion")
_KEPT_REGARDING = ("kind", "namespace", "name")


def kept_event(event: Mapping[str, Any]) -> Json:
    """The part of an event its translation and filing read: a quarter of its size."""
    meta = metadata(event)
    regarding = event.get("regarding") or {}
    kept: Json = {key: event[key] for key in _KEPT if event.get(key) is not None}
    kept["metadata"] = {key: meta[key] for key in _KEPT_METADATA if key in meta}
    kept["regarding"] = {key: regarding[key] for key in _KEPT_REGARDING if key in regarding}
    return kept
