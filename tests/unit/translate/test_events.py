"""events.k8s.io/v1 Events become ClusterEvents: which fields win, and how times are written."""
from __future__ import annotations

import pytest

from app.translate.events import to_api_events
from app.types import Json

ZERO = "0001-01-01T00:00:00Z"
META = {"name": "c.17a", "creationTimestamp": "2025-01-02T03:04:00Z"}
NAMED = {"id": "c.17a", "name": "c-c.17a", "createdAt": "2025-01-02T03:04:00Z"}  # what META becomes

CASES = [
    pytest.param(
        {"metadata": META, "eventTime": "2025-01-02T03:04:01.900000Z", "reason": "Created", "note": "made it",
         "type": "Normal", "series": {"count": 4, "lastObservedTime": "2025-01-02T03:09:59.999999Z"},
         "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z", "deprecatedLastTimestamp": "2025-01-01T00:00:01Z",
         "deprecatedCount": 9},
        {**NAMED, "firstTimestamp": "2025-01-02T03:04:01Z", "lastTimestamp": "2025-01-02T03:09:59Z",
         "reason": "Created", "message": "made it", "type": "Normal", "count": 4},
        id="series-wins-over-deprecated-fields",
    ),
    pytest.param(
        {"metadata": META, "eventTime": None, "reason": "Failed", "note": "quota", "type": "Warning",
         "deprecatedFirstTimestamp": "2025-01-02T03:04:02Z", "deprecatedLastTimestamp": "2025-01-02T03:05:02Z",
         "deprecatedCount": 3},
        {**NAMED, "firstTimestamp": "2025-01-02T03:04:02Z", "lastTimestamp": "2025-01-02T03:05:02Z",
         "reason": "Failed", "message": "quota", "type": "Warning", "count": 3},
        id="core-v1-event-uses-deprecated-fields",
    ),
    pytest.param(
        {"metadata": META, "eventTime": "2025-01-02T03:04:03.000001Z", "reason": "Once"},
        {**NAMED, "firstTimestamp": "2025-01-02T03:04:03Z", "lastTimestamp": "2025-01-02T03:04:03Z", "reason": "Once"},
        id="single-event-ends-when-it-starts",
    ),
    pytest.param(
        {"metadata": META, "eventTime": "2025-01-02T03:04:03Z", "deprecatedFirstTimestamp": "2025-01-02T03:00:00Z",
         "deprecatedLastTimestamp": "2025-01-02T03:01:00Z"},
        {**NAMED, "firstTimestamp": "2025-01-02T03:04:03Z", "lastTimestamp": "2025-01-02T03:01:00Z"},
        id="event-time-wins-for-first-deprecated-last-for-last",
    ),
    pytest.param(
        {"metadata": META, "series": {"count": 2}},
        {**NAMED, "firstTimestamp": ZERO, "lastTimestamp": ZERO, "count": 2},
        id="series-without-time-is-zero-time",
    ),
    pytest.param(
        {},
        {"name": "c-", "createdAt": ZERO, "firstTimestamp": ZERO, "lastTimestamp": ZERO},
        id="empty-event-has-zero-times",
    ),
]


@pytest.mark.parametrize(("event", "expected"), CASES)
def test_event_becomes_cluster_event(event: Json, expected: Json) -> None:
    assert to_api_events([event], "c") == [expected]


def test_events_keep_their_order_and_prefix() -> None:
    events = [{"metadata": {"name": name}} for name in ("b", "a", "c")]
    assert [e["name"] for e in to_api_events(events, "svc")] == ["svc-b", "svc-a", "svc-c"]


def test_no_events_is_an_empty_list() -> None:
    assert to_api_events([], "c") == []
