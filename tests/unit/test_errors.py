"""app/errors.py, the pure parts: the error tree, status -> gRPC code, and validation messages."""
from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from app.errors import (
    AlreadyExists,
    ApiError,
    DeadlineExceeded,
    Forbidden,
    Internal,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    Unavailable,
    error_body,
    grpc_code,
)
from app.http.validators import describe, field_path

TREE = [
    (ApiError, 500, 2),  # upstream's plain errors: "not managed", failed reads
    (InvalidInput, 400, 3),
    (NotFound, 404, 5),
    (AlreadyExists, 409, 6),
    (Forbidden, 403, 7),
    (MethodNotAllowed, 405, 12),
    (Internal, 500, 13),
    (Unavailable, 503, 14),
    (DeadlineExceeded, 504, 4),
]


@pytest.mark.parametrize(("cls", "status", "code"), TREE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_error_tree(cls: type[ApiError], status: int, code: int) -> None:
    error = cls("Cluster foo not found")
    assert (error.status, error.code, error.message, str(error)) == (status, code, "Cluster foo not found",
                                                                      "Cluster foo not found")
    assert isinstance(error, ApiError)


def test_error_body_has_code_and_message_only() -> None:
    assert error_body(5, "Not Found") == {"code": 5, "message": "Not Found"}


CODES = [(400, 3), (401, 16), (403, 7), (404, 5), (405, 12), (409, 6), (413, 3), (415, 3), (422, 3),
         (429, 8), (500, 13), (501, 12), (502, 13), (503, 14), (504, 4)]


@pytest.mark.parametrize(("status", "code"), CODES)
def test_grpc_code_of_http_status(status: int, code: int) -> None:
    assert grpc_code(status) == code


@pytest.mark.parametrize(("path", "text"), [
    ([], ""),
    (["name"], "name"),
    (["clusterSpec", "workerGroupSpec", 0, "groupName"], "clusterSpec.workerGroupSpec[0].groupName"),
    (["annotations", "ray.io/ft-enabled"], "annotations.ray.io/ft-enabled"),
])
def test_field_path(path: list[Any], text: str) -> None:
    assert field_path(path) == text


ENUM = {"x-enum-numbers": {"DEV": 0, "PRODUCTION": 3},
        "anyOf": [{"type": "integer", "minimum": 0, "maximum": 3}, {"type": "string", "enum": ["DEV", "PRODUCTION"]}]}
OBJECT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]*$"},
        "label": {"type": "string", "pattern": "^[a-z]*$", "x-rule": "a lowercase word"},
        "cpu": {"type": "integer", "minimum": 0, "maximum": 9},
        "environment": ENUM,
        "mode": {"type": "string", "enum": ["", "Default"]},
        "groups": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                              "properties": {"groupName": {"type": "string"}}}},
        "empty": {"type": "object", "maxProperties": 0},
    },
}
MESSAGES = [
    ({"name": "a", "bogus": 1}, "Unknown field 'bogus': the API has no such field."),
    ({"name": "a", "x": 1, "y": 2}, "Unknown fields 'x', 'y': the API has no such field."),
    ({"name": "a", "groups": [{}, {"group_name": "g"}]}, "Unknown field 'groups[1].group_name': the API has no such field."),
    ({}, "Missing required field 'name'."),
    ({"name": 3}, "Field 'name' must be a string, not an integer."),
    ({"name": "a", "cpu": "2"}, "Field 'cpu' must be an integer, not a string."),
    ({"name": "a", "cpu": True}, "Field 'cpu' must be an integer, not a boolean."),
    ({"name": "a", "groups": {}}, "Field 'groups' must be an array, not a JSON object."),
    ({"name": "abcdef"}, "Field 'name' is longer than 5 characters."),
    ({"name": "A"}, 'Field \'name\' has an invalid value "A": it must match ^[a-z]*$.'),
    ({"name": "a", "label": "B"}, 'Field \'label\' has an invalid value "B": it must be a lowercase word.'),
    ({"name": "a", "cpu": -1}, "Field 'cpu' must be at least 0, not -1."),
    ({"name": "a", "cpu": 10}, "Field 'cpu' must be at most 9, not 10."),
    ({"name": "a", "environment": "PROD"},
     'Field \'environment\' has an unknown value "PROD": use one of DEV, PRODUCTION, or its number 0-3.'),
    ({"name": "a", "environment": 7},
     "Field 'environment' has an unknown value 7: use one of DEV, PRODUCTION, or its number 0-3."),
    ({"name": "a", "mode": "Fast"}, 'Field \'mode\' has an unknown value "Fast": use one of "", "Default".'),
    ({"name": "a", "empty": {"k": 1}}, "Field 'empty' must be an empty object."),
    ([], "The request body must be a JSON object, not an array."),
]


@pytest.mark.parametrize(("instance", "message"), MESSAGES)
def test_validation_message_names_the_field(instance: Any, message: str) -> None:
    error = best_match(Draft4Validator(OBJECT).iter_errors(instance))
    assert error is not None
    assert describe(error) == message


def test_validation_message_of_a_parameter_names_the_parameter() -> None:
    error = best_match(Draft4Validator({"type": "integer", "minimum": 0}).iter_errors(-1))
    assert describe(error, "The query parameter 'limit'") == "The query parameter 'limit' must be at least 0, not -1."
