"""Compute templates: ConfigMaps labelled `ray.io/config-type=compute-template`.

Unlike upstream, Get and Delete only see ConfigMaps carrying that label, so this API cannot
read or delete arbitrary ConfigMaps.
"""
from __future__ import annotations

from app.constants import COMPUTE_TEMPLATE_SELECTOR
from app.errors import AlreadyExists
from app.k8s import K8s
from app.services.common import Json, in_namespace, page, read_compute_template
from app.translate.compute_templates import to_api_compute_template, to_configmap
from app.validation import check_compute_template


class ComputeTemplateService:
    """Compute-template operations in API terms; knows Kubernetes, never HTTP."""

    def __init__(self, k8s: K8s) -> None:
        self._k8s = k8s

    def create(self, namespace: str, template: Json) -> Json:
        """One write: Kubernetes' "already exists" is the duplicate check (no racy GET first)."""
        template = in_namespace(template, namespace)
        check_compute_template(template, namespace)
        configmap = to_configmap(template)  # may refuse a bad memory quantity: before the write
        try:
            created = self._k8s.create_configmap(namespace, configmap)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"Compute template with name {template['name']} "
                f"already exists in namespace {namespace}"
            ) from exc
        return to_api_compute_template(created)

    def get(self, namespace: str, name: str) -> Json:
        return to_api_compute_template(read_compute_template(self._k8s, namespace, name))

    def list(self, namespace: str) -> Json:
        configmaps = self._k8s.list_configmaps(namespace, COMPUTE_TEMPLATE_SELECTOR)
        return page("computeTemplates", [to_api_compute_template(c) for c in configmaps])

    def list_all(self) -> Json:
        """One cluster-wide list (upstream lists namespaces, then each namespace)."""
        configmaps = self._k8s.list_configmaps(None, COMPUTE_TEMPLATE_SELECTOR)
        return page("computeTemplates", [to_api_compute_template(c) for c in configmaps])

    def delete(self, namespace: str, name: str) -> Json:
        """Clusters built from the template keep their copy of it, so nothing else is checked."""
        read_compute_template(self._k8s, namespace, name)
        self._k8s.delete_configmap(namespace, name)
        return {}
