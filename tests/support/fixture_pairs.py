"""The files of tests/fixtures/, read one way by every suite.

A folder per kind holds its cases as `<case>.<part>.json`: `api` a request, `crd` the Kubernetes
object built from it (or found in a cluster, without a request), `response` what the API answers,
and, where a case has them, `status` and `events` (what the operator added). `seed/` holds the
upstream user guide's requests and answers, numbered in the guide's order.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.types import Json

FIXTURES = Path(__file__).parents[1] / "fixtures"
# What the API server and the operator add to an object they store.
SERVER_METADATA = ("creationTimestamp", "deletionTimestamp", "resourceVersion", "generation", "uid", "finalizers")


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def folder(kind: str) -> Path:
    """tests/fixtures/<kind>/: `clusters`, `compute_templates`, `jobs`, `services` or `seed`."""
    return FIXTURES / kind


def cases(kind: str, part: str) -> list[Path]:
    """Every `<case>.<part>.json` of tests/fixtures/<kind>/, in order."""
    return sorted(folder(kind).glob(f"*.{part}.json"))


def case_id(path: Path) -> str:
    return path.name.split(".")[0]


def sibling(path: Path, part: str) -> Path:
    """Another part of the same case."""
    return path.with_name(f"{case_id(path)}.{part}.json")


def optional(path: Path, part: str, default: Any) -> Any:
    """A part only some cases have; `default` for the others."""
    other = sibling(path, part)
    return load(other) if other.exists() else default


def expected_response(path: Path) -> Any:
    """The case's response, or its request where the API answers it unchanged."""
    response = sibling(path, "response")
    return load(response if response.exists() else sibling(path, "api"))


def as_created(stored: Json) -> Json:
    """What we sent: the stored object without what the API server and the operator added."""
    metadata = {k: v for k, v in stored["metadata"].items() if k not in SERVER_METADATA}
    return {**{k: v for k, v in stored.items() if k != "status"}, "metadata": metadata}


def seeds() -> list[Path]:
    """The user guide's requests, in its order."""
    return sorted(folder("seed").glob("*.json"))


def seed(number: int) -> Json:
    """The guide's request `number` (1-based): its section, method, path, request and response."""
    [path] = folder("seed").glob(f"{number:02d}-*.json")
    found: Json = load(path)
    return found
