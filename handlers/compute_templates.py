"""ComputeTemplateService: unpack, one service call, (dict, 200).

The spec has validated and normalised everything by the time these run; upstream answers 200
to every success, creates included, and `{}` (google.protobuf.Empty) to a delete.
"""
from __future__ import annotations

from app.services import ComputeTemplates
from app.types import ComputeTemplate, Json


class ComputeTemplateHandlers:
    def __init__(self, templates: ComputeTemplates) -> None:
        self._templates = templates

    def create_compute_template(self, namespace: str, body: ComputeTemplate) -> tuple[ComputeTemplate, int]:
        """The answer is the template read back from its ConfigMap, defaults applied."""
        return self._templates.create(namespace, body), 200

    def get_compute_template(self, namespace: str, name: str) -> tuple[ComputeTemplate, int]:
        return self._templates.get(namespace, name), 200

    def list_compute_templates(self, namespace: str) -> tuple[Json, int]:
        return self._templates.list(namespace), 200

    def list_all_compute_templates(self) -> tuple[Json, int]:
        return self._templates.list(None), 200

    def delete_compute_template(self, namespace: str, name: str) -> tuple[Json, int]:
        return self._templates.delete(namespace, name), 200
