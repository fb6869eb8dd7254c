"""The failures a contract run may find that are no fault of the server: the classes the spec documents.

A schema cannot say everything the server requires, nor everything it accepts:
* a request that fits the spec may still be refused with 400 for one of the rules that each 400
  answer of openapi/kuberay.yaml lists as no schema can state (`components.responses`); each such
  answer's `x-unstatable` names those rules, with a regular expression that the refusal's message
  matches, so that the spec documents the rules and this module recognises them from one text;
* a request that breaks the schema only in the ways of the spec's conventions (`null` for "not
  set", integers as numeric strings, protobuf field names, enums by name) is accepted, since the
  server's wire normalisation (app/http/wire.py) reads it as upstream's protojson did.
`classify` names the class of one failure, or None for a failure outside them: a real finding.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from connexion.spec import Specification
from jsonschema import Draft4Validator
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData

from app.http.validators import BodySchemaValidator
from app.http.wire import normalise

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "kuberay.yaml"
RAW = yaml.safe_load(SPEC.read_text())  # `$ref`s kept: an operation's 400 names its answer
RESOLVED = Specification.load(SPEC)  # refs resolved, as Connexion validates
PROTOJSON = "accepted, breaking the schema only as the spec's conventions allow"


@dataclass(frozen=True)
class Rule:
    """A rule no schema can state, as one 400 answer of the spec lists it."""

    answer: str  # the answer's name in `components.responses`
    name: str
    message: re.Pattern[str]

    def __str__(self) -> str:
        return f"400 {self.answer}: {self.name}"


def unstatable_rules(spec: Mapping[str, Any]) -> dict[str, list[Rule]]:
    """Each answer's rules, by the answer's name."""
    return {answer: [Rule(answer, name, re.compile(pattern)) for name, pattern in body["x-unstatable"].items()]
            for answer, body in spec["components"]["responses"].items() if "x-unstatable" in body}


RULES = unstatable_rules(RAW)


def classify(failure: Any, case: Any, response: Any) -> str | None:
    """The documented class of a failure (a rule's or PROTOJSON), or None."""
    if isinstance(failure, RejectedPositiveData) and response is not None and response.status_code == 400:
        rule = unstatable_rule(case, _message(response))
        return None if rule is None else str(rule)
    if isinstance(failure, AcceptedNegativeData) and only_protojson_leniency(case):
        return PROTOJSON
    return None


def unstatable_rule(case: Any, message: str) -> Rule | None:
    """The rule of the operation's 400 answer that a refusal's message says was broken."""
    answer = RAW["paths"][case.operation.path][case.operation.method.lower()]["responses"]["400"]
    name = answer.get("$ref", "").rpartition("/")[2]
    return next((rule for rule in RULES.get(name, []) if rule.message.search(message)), None)


def only_protojson_leniency(case: Any) -> bool:
    """Whether the case breaks the schema in its body alone, and the server's wire normalisation
    makes that body valid."""
    if not isinstance(case.body, dict) or case.meta is None:
        return False
    if any(component.mode.is_negative for location, component in case.meta.components.items()
           if location != ParameterLocation.BODY):
        return False
    operation = RESOLVED["paths"][case.operation.path][case.operation.method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = BodySchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return bool(validator.is_valid(normalise(case.body, schema)))


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return body.get("message", "") if isinstance(body, dict) and isinstance(body.get("message"), str) else ""
