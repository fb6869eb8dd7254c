"""Connexion's request validators, with messages that name the field and say what is wrong.

`describe` phrases one JSON Schema failure as one sentence; the validator subclasses use it
for bodies and parameters, and `VALIDATOR_MAP` gives them to Connexion. Failures become
`BadRequestProblem`s, which app/errors.py answers in the API's error body. `BodySchemaValidator`
and `ParameterSchemaValidator` are Connexion's JSON Schema validators with the spec's reading of a
`pattern` (`ecma_regex`).

A body, or a parameter's value, is first checked by jsonschema-rs (compiled, some 300 times faster
than walking the schema in Python, which was the largest part of a create's own CPU): a value it
accepts is valid. Only a value it refuses is walked by the Python validator, which decides and
says why. For that to hold, what jsonschema-rs accepts must be accepted by the Python validator
too: patterns are matched by the same `ecma_regex` (a keyword of ours: Rust's `\\S` and Python's
disagree on a few characters), formats are not asserted (the spec uses none that the Python
validator asserts), and a value it cannot take (a number past what JSON carries) goes to the
Python validator; whether the two agree otherwise is tested, not assumed
(tests/unit/test_validators_fast.py compares them on mutated bodies and on odd parameter values).
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jsonschema_rs
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from app.errors import sentence

EMPTY_BODY = "The request body is empty: a JSON object is required."
TOO_DEEP = "The request body is nested too deeply to be read."  # deeper than a parser can recurse
_ARTICLE_TYPES = {"integer": "an integer", "object": "a JSON object", "array": "an array",
                  "string": "a string", "number": "a number", "boolean": "true or false",
                  "null": "null"}
# The message of a failed bound, by its keyword: `what` the instance, `limit` the schema's bound, `value` the
# instance's JSON.
_BOUND_MESSAGES = {
    "maxLength": "{what} is longer than {limit} characters.",
    "minLength": "{what} must have at least {limit} character(s).",
    "pattern": "{what} has an invalid value {value}: it must match {limit}.",
    "minimum": "{what} must be at least {limit}, not {value}.",
    "maximum": "{what} must be at most {limit}, not {value}.",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    for name, python in (("a string", str), ("an integer", int), ("a number", float),
                         ("a JSON object", dict), ("an array", list)):
        if isinstance(value, python):
            return name
    return type(value).__name__


def field_path(path: Iterable[Any]) -> str:
    """`clusterSpec.workerGroupSpec[0].groupName`: how a message names a field of the body."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def unknown_fields_message(names: list[str]) -> str:
    """The one sentence naming fields the API does not define (for `fieldValidation=Strict` too)."""
    listed = ", ".join(f"'{name}'" for name in names)
    return f"Unknown field{'s' if len(names) > 1 else ''} {listed}: the API has no such field."


def describe(error: ValidationError, subject: str = "The request body") -> str:
    """One sentence naming the field and saying what is wrong with it, for a JSON Schema failure.

    `subject` names the whole instance (the body, or a parameter); fields inside it are named by path.
    """
    rule = _combined_rule(error)
    if rule is not None:  # a rule over several fields: phrased for the object that holds them
        error = rule
    path = list(error.absolute_path)
    what = f"Field '{field_path(path)}'" if path else subject
    value = json.dumps(error.instance)
    schema = error.schema if isinstance(error.schema, dict) else {}
    enum = _enum_numbers(error)
    kind = error.validator

    if rule is not None:
        return f"{what} must be {schema['x-rule']}."
    if enum is not None:
        names = ", ".join(enum)
        return (f"{what} has an unknown value {value}: use one of {names}, "
                f"or its number {min(enum.values())}-{max(enum.values())}.")
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        return unknown_fields_message([field_path([*path, key]) for key in error.instance if key not in known])
    if kind == "required" and isinstance(error.instance, dict):
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"Missing required field '{field_path([*path, missing])}'."
    if kind == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        expected = " or ".join(_ARTICLE_TYPES.get(name, name) for name in wanted)
        return f"{what} must be {expected}, not {_json_type(error.instance)}."
    if kind in ("pattern", "maxLength", "minLength") and "x-rule" in schema:
        return f"{what} has an invalid value {value}: it must be {schema['x-rule']}."
    if kind in _BOUND_MESSAGES:
        return _BOUND_MESSAGES[kind].format(what=what, limit=error.validator_value, value=value)
    if kind == "enum":
        allowed = ", ".join(json.dumps(item) for item in error.validator_value)
        return f"{what} has an unknown value {value}: use one of {allowed}."
    if kind == "maxProperties" and error.validator_value == 0:
        return f"{what} must be an empty object."
    if kind == "minProperties":
        count = error.validator_value
        return f"{what} must have at least {count} entr{'y' if count == 1 else 'ies'}."
    return f"{what} is not valid: {sentence(error.message)}"


def _combined_rule(error: ValidationError | None) -> ValidationError | None:
    """The failed `anyOf`/`oneOf` with an `x-rule` (e.g. exactly one serve configuration) that
    `error` is, or is part of: its branches' own failures would only tell half the rule."""
    while error is not None:
        if (error.validator in ("anyOf", "oneOf") and isinstance(error.schema, dict)
                and "x-rule" in error.schema):
            return error
        error = error.parent
    return None


def _enum_numbers(error: ValidationError | None) -> dict[str, int] | None:
    """The name->number table of the enum a failure belongs to (`x-enum-numbers`), if any."""
    while error is not None:
        if isinstance(error.schema, dict) and "x-enum-numbers" in error.schema:
            return dict(error.schema["x-enum-numbers"])
        error = error.parent
    return None


@functools.cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` as the spec means it (ECMA 262, JSON Schema's dialect): `$` ends the value.

    Python's `$` also matches before a final line feed, so `"name\\n"` would pass `^[a-z]+$`
    and reach Kubernetes; `\\Z` is Python's end of the value.
    """
    translated, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        translated.append(char)
    return re.compile("".join(translated))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


BodySchemaValidator = validators.extend(Draft4RequestValidator, {"pattern": _pattern})
ParameterSchemaValidator = validators.extend(Draft4Validator, {"pattern": _pattern})


def body_problem(schema: Mapping[str, Any], body: Any) -> str | None:
    """What is wrong with a (normalised) body, as one sentence, or None: every front validates
    bodies with this one function, so HTTP and gRPC refuse alike."""
    fast, reference = _body_validators(schema)
    if fast is not None and _fast_accepts(fast, body):
        return None
    error = best_match(reference.iter_errors(body))
    return None if error is None else describe(error)


_ECMA_PATTERN = "x-ecma-pattern"  # our `pattern` keyword in the schemas given to jsonschema-rs
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions")  # name -> schema
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMAS = ("additionalProperties", "items", "not", "additionalItems")  # a schema (or, for items, a list)
_ASSERTED_FORMATS = frozenset(Draft4Validator.FORMAT_CHECKER.checkers)
# id(schema) -> (schema, validators): the spec's schemas (some 20 bodies, some 40 parameters) are each
# one object for the app's life, so each is compiled once.
_body_validators_held: dict[int, tuple[Mapping[str, Any], Any]] = {}
_parameter_validators: dict[int, tuple[Mapping[str, Any], Any]] = {}
_KNOWN_SCHEMAS = 256


class _EcmaPattern:
    """`pattern` as the Python validator reads it (`ecma_regex`), for jsonschema-rs."""

    def __init__(self, _parent: Any, value: str, _path: Any) -> None:
        self.regex = ecma_regex(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self.regex.search(instance):
            raise ValueError("does not match")


def _built(held: dict[int, tuple[Mapping[str, Any], Any]], schema: Mapping[str, Any],
           build: Callable[[Mapping[str, Any]], Any]) -> Any:
    """`build(schema)`, built once per schema object (kept in `held`)."""
    known = held.get(id(schema))
    if known is None or known[0] is not schema:
        if len(held) >= _KNOWN_SCHEMAS:  # callers that build their schemas anew each time
            held.clear()
        known = held[id(schema)] = (schema, build(schema))
    return known[1]


def _body_validators(schema: Mapping[str, Any]) -> tuple[Any, Any]:
    """The compiled and the reference validator of a body schema."""
    built: tuple[Any, Any] = _built(_body_validators_held, schema, _body_pair)
    return built


def _body_pair(schema: Mapping[str, Any]) -> tuple[Any, Any]:
    reference = BodySchemaValidator(dict(schema), format_checker=Draft4Validator.FORMAT_CHECKER)
    return _compiled(schema), reference


def _parameter_pair(param: Mapping[str, Any]) -> tuple[Any, Any]:
    schema = param.get("schema", param)
    return _compiled(schema), ParameterSchemaValidator(dict(schema), format_checker=Draft4Validator.FORMAT_CHECKER)


def _compiled(schema: Mapping[str, Any]) -> Any:
    """jsonschema-rs's validator of `schema`, or None where it would assert a format differently."""
    if _formats(schema) & _ASSERTED_FORMATS:
        return None
    return jsonschema_rs.Draft4Validator(_for_rust(schema), validate_formats=False,
                                         keywords={_ECMA_PATTERN: _EcmaPattern})


def _fast_accepts(fast: Any, body: Any) -> bool:
    try:
        return bool(fast.is_valid(body))
    except Exception:  # a value it cannot take (e.g. a number JSON cannot carry): ask the reference
        return False


def _for_rust(schema: Any) -> Any:
    """A copy of `schema` whose `pattern` keywords are ours (`_ECMA_PATTERN`); and `nullable`, which
    Draft 4 does not know, is left to the reference validator (a null is refused here, then
    decided there)."""
    if not isinstance(schema, Mapping):
        return schema
    copy: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern":
            copy[_ECMA_PATTERN] = value
        elif key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            copy[key] = {name: _for_rust(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            copy[key] = [_for_rust(sub) for sub in value]
        elif key in _SUBSCHEMAS:
            copy[key] = [_for_rust(sub) for sub in value] if isinstance(value, list) else _for_rust(value)
        else:
            copy[key] = value
    return copy


def _formats(schema: Any) -> set[str]:
    """Every `format` named anywhere in `schema`."""
    if isinstance(schema, Mapping):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        for value in schema.values():
            found |= _formats(value)
        return found
    if isinstance(schema, list):
        return set().union(*(_formats(item) for item in schema)) if schema else set()
    return set()


def parameter_problem(param: Mapping[str, Any], value: Any, subject: str) -> str | None:
    """What is wrong with a parameter's value, as one sentence naming it as `subject`, or None."""
    fast, reference = _built(_parameter_validators, param, _parameter_pair)
    if fast is not None and _fast_accepts(fast, value):
        return None
    error = best_match(reference.iter_errors(value))
    return None if error is None else describe(error, subject)


def empty_parameter_problem(values: Mapping[str, str], refusals: Mapping[str, str]) -> str | None:
    """The refusal of the first empty path parameter, or None: `values` are an operation's path
    parameters, `refusals` its `x-empty` (upstream's texts, in the order upstream checks them).
    Both fronts refuse an empty name with this one function, before any other check."""
    for name in [*refusals, *values]:
        if name in values and not values[name]:
            return refusals.get(name) or f"The path parameter '{name}' is empty."
    return None


class RequestBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    """Connexion's JSON body validator, with messages that name the field (see `describe`)."""

    async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
        try:
            return await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem as exc:
            if exc.detail == "RequestBody is required":  # Connexion's text for a missing body
                raise BadRequestProblem(detail=EMPTY_BODY) from None
            raise

    async def _parse(self, stream: Any, scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except RecursionError:
            raise BadRequestProblem(detail=TOO_DEEP) from None
        except ValueError as exc:  # includes bytes that are not UTF-8
            raise BadRequestProblem(detail=f"The request body is not valid JSON: {exc}.") from None

    def _validate(self, body: Any) -> None:
        if body is None:
            raise BadRequestProblem(detail=EMPTY_BODY)
        problem = body_problem(self._schema, body)
        if problem is not None:
            raise BadRequestProblem(detail=problem)


class RequestParameterValidator(ParameterValidator):  # type: ignore[misc, unused-ignore]  # connexion and grpc are untyped
    """Connexion's parameter validator, with messages that name the parameter."""

    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any],
                           param_name: str | None = None) -> str | None:
        if value is None:  # absent: Connexion's own check of `required`
            missing: str | None = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
            return missing
        return parameter_problem(param, value, f"The {parameter_type} parameter '{param['name']}'")


VALIDATOR_MAP: dict[str, Any] = {
    "parameter": RequestParameterValidator,
    "body": MediaTypeDict({"*/*json": RequestBodyValidator}),
}
