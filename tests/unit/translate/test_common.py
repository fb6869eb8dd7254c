"""The API's JSON conventions: zero values, positive numbers, timestamps, the creation-time string, Go's JSON."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.translate.common import (
    FLOAT32_MAX,
    ZERO_TIME,
    go_json,
    go_time_string,
    omit_zero,
    positive,
    positive_float32,
    to_rfc3339,
)
from app.types import Json


@pytest.mark.parametrize(("fields", "expected"), [
    ({"s": "", "i": 0, "f": 0.0, "b": False, "n": None, "l": [], "d": {}}, {}),
    ({"s": "x", "i": -1, "f": 0.5, "b": True, "l": [0], "d": {"k": ""}},
     {"s": "x", "i": -1, "f": 0.5, "b": True, "l": [0], "d": {"k": ""}}),  # map entries keep zeros
])
def test_omit_zero_drops_only_zero_fields(fields: Json, expected: Json) -> None:
    assert omit_zero(fields) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3),
    (0.5, 0.5),
    (0, 0),
    (-2, 0),
    (-0.5, 0),
    (True, 0),  # a boolean is no number
    ("5", 0),
    (None, 0),
])
def test_positive_keeps_only_numbers_above_zero(value: Any, expected: float) -> None:
    assert positive(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (2.5, 2.5),
    (FLOAT32_MAX, FLOAT32_MAX),
    (1e39, 0),  # Kubernetes keeps it (the CRD says `number`); no float32 holds it
    (1.7e308, 0),
    (2**200, 0),
    (-1e39, 0),
    ("1", 0),
])
def test_positive_float32_keeps_only_what_a_float32_above_zero_holds(value: Any, expected: float) -> None:
    assert positive_float32(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2023-09-25T10:48:35Z", "2023-09-25T10:48:35Z"),
    ("2025-01-02T03:04:05.987654Z", "2025-01-02T03:04:05Z"),  # MicroTime: truncated, not rounded
    ("2025-01-02T03:04:05.123456789Z", "2025-01-02T03:04:05Z"),
    ("2025-01-02T05:04:05+02:00", "2025-01-02T03:04:05Z"),
    ("2025-01-01T23:30:00-01:00", "2025-01-02T00:30:00Z"),
    ("2025-01-02t03:04:05z", "2025-01-02T03:04:05Z"),
    ("0001-01-01T00:00:00Z", ZERO_TIME),
    ("0999-12-31T23:59:59Z", "0999-12-31T23:59:59Z"),
    (None, ZERO_TIME),
    ("", ZERO_TIME),
    ("yesterday", ZERO_TIME),
    ("2025-13-02T03:04:05Z", ZERO_TIME),
])
def test_kubernetes_times_render_in_whole_utc_seconds(value: str | None, expected: str) -> None:
    assert to_rfc3339(value) == expected


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), "2025-01-02 03:04:05.123456 +0000 UTC"),
    (datetime(2025, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "2025-01-02 03:04:05.12 +0000 UTC"),
    (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02 03:04:05 +0000 UTC"),
    (datetime(2025, 1, 2, 5, 4, 5, 1, tzinfo=timezone(timedelta(hours=2))), "2025-01-02 03:04:05.000001 +0000 UTC"),
    (datetime(2025, 1, 2, 3, 4, 5), "2025-01-02 03:04:05 +0000 UTC"),  # naive: taken as UTC
    (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02 03:04:05 +0000 UTC"),
])
def test_creation_timestamp_is_go_time_string(moment: datetime, expected: str) -> None:
    assert go_time_string(moment) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ({"b": 1, "a": [1, 2]}, '{"b":1,"a":[1,2]}'),
    ({"key": "a&b", "value": "<x>"}, '{"key":"a\\u0026b","value":"\\u003cx\\u003e"}'),
    ({"é": "ü\u2028"}, '{"é":"ü\\u2028"}'),
    (None, "null"),
])
def test_go_json_matches_go_marshal(value: Any, expected: str) -> None:
    assert go_json(value) == expected
