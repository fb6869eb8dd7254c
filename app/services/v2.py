"""The V2 API's checks and rewrites before a request is forwarded to Kubernetes (app/http/v2.py
routes it): the KubeRay label of a proxied Service, and the compute-template step of creates and
updates. Kubernetes answers everything else itself.
"""
from __future__ import annotations

import json

import yaml

from app.constants import APP_NAME, APP_NAME_VALUE
from app.errors import InvalidInput, NotFound, Unprocessable
from app.k8s import Forwarded
from app.services.compute_templates import ComputeTemplates
from app.services.gateway import Gateway
from app.services.reads import labelled
from app.translate.v2 import template_names, with_compute_templates
from app.types import Json

JSON = "application/json"
YAML = "application/yaml"
KUBERAY_SERVICE = f"{APP_NAME}={APP_NAME_VALUE}"  # the label of the head Services KubeRay makes
_KUBERAY = labelled(APP_NAME, APP_NAME_VALUE)


class V2Api:
    """Knows Kubernetes through the gateway, and the compute templates through their service."""

    def __init__(self, k8s: Gateway, templates: ComputeTemplates) -> None:
        self._k8s = k8s
        self._templates = templates

    def check_service(self, namespace: str, segment: str) -> None:
        """The proxy reaches KubeRay's Services only. `segment` is the path's `name`, `name:port` or
        `scheme:name:port`. A Service without the label is answered as one that does not exist."""
        parts = segment.split(":")
        name = parts[1] if len(parts) == 3 else parts[0]
        if len(parts) > 3 or not name:
            raise InvalidInput(f"Invalid service {segment!r}: expected name, name:port or scheme:name:port.")
        missing = NotFound(f"No KubeRay service {name} in namespace {namespace}: the proxy reaches only "
                           f"Services labelled {KUBERAY_SERVICE}.")
        try:
            service = self._k8s.get_service(namespace, name)
        except NotFound:
            raise missing from None
        if not _KUBERAY(service):
            raise missing

    def with_compute_templates(self, namespace: str, plural: str, body: bytes,
                               content_type: str) -> tuple[bytes, str]:
        """The body to send, and its type: as it came if it names no compute template, else with
        each named template applied, as JSON. A template that does not exist refuses the request
        (422) before anything is written."""
        if b"computeTemplate" not in body:  # (cheap: most bodies are sent untouched, byte for byte)
            return body, content_type
        obj = _decode(body, content_type)
        names = template_names(obj, plural)
        if not names:
            return body, content_type
        templates = self._templates.named(
            namespace, names, lambda message: Unprocessable(f"{message}: the object names it as its computeTemplate."))
        rewritten = with_compute_templates(obj, plural, templates)
        return json.dumps(rewritten, separators=(",", ":")).encode(), JSON

    def forward(self, method: str, target: str, headers: dict[str, str], body: bytes | None,
                read_timeout: float | None = None) -> Forwarded:
        return self._k8s.forward(method, target, headers, body, read_timeout)


def _decode(body: bytes, content_type: str) -> Json:
    """JSON (also when untyped, as Kubernetes reads it) or YAML; an object, or the request is refused."""
    media = content_type.split(";", 1)[0].strip().lower() or JSON
    try:
        if media == JSON:
            obj = json.loads(body)
        elif media == YAML:
            obj = yaml.safe_load(body)
        else:
            raise InvalidInput(f"The body of a create or update must be {JSON} or {YAML}, not {media}.")
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"The body is not valid {media}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(obj, dict):
        raise InvalidInput("The body must be one object.")
    return obj
