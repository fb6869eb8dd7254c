"""Request bodies are first checked by jsonschema-rs, and only those it refuses are walked by the
Python validator (app/http/validators.py). That is sound only if every body jsonschema-rs accepts is
one the Python validator accepts: here both judge the spec's request bodies, the user guide's and
the fixtures', and many mutations of them (values replaced at random places by values that either
reads differently if at all: control characters that Python's `\\S` counts as space, numbers past
float and int64 range, integral floats, nulls, Unicode digits)."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from connexion.spec import Specification
from jsonschema import Draft4Validator

from app.http import validators
from app.http.validators import BodySchemaValidator, ParameterSchemaValidator, body_problem, parameter_problem
from app.http.wire import normalise

ROOT = Path(__file__).parents[2]
SPEC = Specification.load(ROOT / "openapi" / "kuberay.yaml")
FIXTURES = ROOT / "tests" / "fixtures"
MUTATIONS = 24  # per body and operation
TRICKY: list[Any] = [
    None, True, 0, -1, 1.0, 2.5, 1e300, -0.0, 2**31, 2**53 + 1, 2**63, 2**64, 10**400,
    "", " ", "\x1c", "\x1f", "\x85", "\u00a0", "a\n", "\n", "x" * 300, "1", "1.5", "-1", "1e3", "٣", "Gi", "1Gi",
    "NotAnOperator", "DEV", "PERSISTENT_VOLUME_CLAIM", "a-b", "A", "a..b", "..", ".", "a/b",
    [], [None], [{}], {}, {"a": 1}, {"": ""},
]


def _operations() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            if body:
                found.append((f"{method.upper()} {path}", body["schema"]))
    return found


def _bodies() -> list[dict[str, Any]]:
    """Request bodies of every kind: the user guide's sequence and the fixtures' API forms."""
    bodies = []
    for path in sorted((FIXTURES / "seed").glob("*.json")):
        request = json.loads(path.read_text()).get("request")
        if isinstance(request, dict):
            bodies.append(request)
    for path in sorted(FIXTURES.glob("*/*.api.json")):
        bodies.append(json.loads(path.read_text()))
    jobs = [body for body in bodies if "entrypoint" in body and "clusterSpec" in body]
    bodies += [{**job, "name": "cron", "schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "suspend": True}
               for job in jobs[:2]]  # cron jobs (an extension): a job, and when
    return bodies


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    places = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            places += _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            places += _places(item, (*path, index))
    return places


def _replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    body = copy.deepcopy(body)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def _reference_accepts(schema: dict[str, Any], body: Any) -> bool:
    validator = BodySchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return next(validator.iter_errors(body), None) is None


@pytest.mark.parametrize(("operation", "schema"), _operations(), ids=[op for op, _ in _operations()])
def test_what_the_compiled_check_accepts_the_python_validator_accepts(operation: str, schema: dict[str, Any]) -> None:
    fast, _ = validators._body_validators(schema)
    assert fast is not None, f"{operation}: its schema names a format only the Python validator asserts"
    chance = random.Random(operation)  # noqa: S311  # a repeatable choice of mutations, not a secret
    accepted = refused = 0
    for body in _bodies():
        places = _places(body)
        for _ in range(MUTATIONS):
            mutated = _replaced(body, chance.choice(places), chance.choice(TRICKY))
            mutated = normalise(mutated, schema) if isinstance(mutated, dict) else mutated
            if validators._fast_accepts(fast, mutated):
                accepted += 1
                assert _reference_accepts(schema, mutated), f"{operation}: {json.dumps(mutated)[:500]}"
                assert body_problem(schema, mutated) is None
            else:
                refused += 1
                assert body_problem(schema, mutated) == _reference_problem(schema, mutated)
    assert refused > 0  # the mutations reach the schema's rules ...
    assert accepted > 0 or operation.startswith(("PUT", "POST /namespaces/{namespace}/jobsubmissions"))


def _reference_problem(schema: dict[str, Any], body: Any) -> str | None:
    from jsonschema.exceptions import best_match

    validator = BodySchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    error = best_match(validator.iter_errors(body))
    return None if error is None else validators.describe(error)


def _parameters() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                found += [(f"{method.upper()} {path} {param['name']}", param) for param in operation.get("parameters", [])]
    return found


def test_what_the_compiled_check_accepts_of_a_parameter_the_python_validator_accepts() -> None:
    accepted = refused = 0
    for where, param in _parameters():
        reference = ParameterSchemaValidator(param["schema"], format_checker=Draft4Validator.FORMAT_CHECKER)
        for value in [*TRICKY, "my-cluster", "default", 10, "10", "true", "Strict"]:
            problem = parameter_problem(param, value, "The parameter")
            if next(reference.iter_errors(value), None) is None:
                accepted += 1
                assert problem is None, f"{where}: {value!r}"
            else:
                refused += 1
                assert problem is not None, f"{where}: {value!r}"
    assert accepted > 0
    assert refused > 0


def test_a_pattern_is_read_as_the_python_validator_reads_it() -> None:
    """Rust's regex engine takes U+001C for a non-space character; Python's, as the spec's
    `\\S` patterns are read here, does not."""
    schema = {"type": "object", "properties": {"entrypoint": {"type": "string", "pattern": "\\S"}}}
    fast, _ = validators._body_validators(schema)
    assert not validators._fast_accepts(fast, {"entrypoint": "\x1c"})
    assert body_problem(schema, {"entrypoint": "\x1c"}) is not None
    assert body_problem(schema, {"entrypoint": "python -V"}) is None
