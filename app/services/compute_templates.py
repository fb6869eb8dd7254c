"""Compute templates: ConfigMaps labelled `ray.io/config-type=compute-template`.

Unlike upstream, get and delete only see ConfigMaps carrying that label, so this API cannot
read or delete arbitrary ConfigMaps. The other services read the templates a request names
through `referenced`, before any write.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from app.cache import Entry, ObjectCache
from app.constants import COMPUTE_TEMPLATE_SELECTOR, CONFIG_TYPE_COMPUTE_TEMPLATE, CONFIG_TYPE_LABEL
from app.errors import AlreadyExists, ApiError, InvalidInput, NotFound
from app.services.gateway import Gateway
from app.services.paging import page
from app.services.pods import PodChecks
from app.services.reads import Reads, labelled
from app.translate.common import in_namespace
from app.translate.compute_templates import to_api_compute_template, to_configmap
from app.translate.pods import compute_template_check
from app.types import ComputeTemplate, Json
from app.validation import check_compute_template, check_templates


class ComputeTemplates:
    """Compute-template operations in API terms; knows Kubernetes, never HTTP. With a `cache`
    (of the labelled ConfigMaps), GET and list answer from it whenever it may."""

    def __init__(self, k8s: Gateway, cache: ObjectCache | None = None, pods: PodChecks | None = None) -> None:
        self._k8s = k8s
        self._pods = pods or PodChecks(k8s, enabled=False)
        self._reads = Reads("Compute template", lambda namespace, name: self._k8s.get_configmap(namespace, name),
                            labelled(CONFIG_TYPE_LABEL, CONFIG_TYPE_COMPUTE_TEMPLATE), cache)

    def create(self, namespace: str, template: ComputeTemplate) -> ComputeTemplate:
        """One write: Kubernetes' "already exists" is the duplicate check (no racy GET first).
        Kubernetes checks first what it can of the template's pods: tolerations and resource names."""
        template = in_namespace(template, namespace)
        check_compute_template(template, namespace)
        self._pods.check(namespace, [compute_template_check(template)])
        try:
            created = self._k8s.create_configmap(namespace, to_configmap(template))
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"Compute template with name {template['name']} already exists in namespace {namespace}"
            ) from exc
        self._reads.written(created)
        return _to_api(created)

    def get(self, namespace: str, name: str) -> ComputeTemplate:
        store = self._reads.view(namespace, "get", name)
        if store is None:
            return _to_api(self._reads.read(namespace, name))
        return _cached_answer(self._reads.entry(store, namespace, name))

    def list(self, namespace: str | None) -> Json:
        """One namespace, or all of them for `None` in one call (upstream lists each namespace)."""
        store = self._reads.view(namespace)
        if store is not None:
            return page("computeTemplates", [cast(Json, _cached_answer(entry)) for entry in store.entries(namespace)])
        configmaps = self._k8s.list_configmaps(namespace, COMPUTE_TEMPLATE_SELECTOR)
        return page("computeTemplates", [to_api_compute_template(c) for c in configmaps])

    def delete(self, namespace: str, name: str) -> Json:
        """Clusters built from the template keep their copy of it, so nothing else is checked."""
        return self._reads.delete(namespace, name, self._k8s.delete_configmap)

    def referenced(self, namespace: str, names: Iterable[str]) -> dict[str, ComputeTemplate]:
        """The templates a request names, in API form, checked: a missing one is the request's
        fault (400), and so is one whose stored values cannot build a pod."""
        templates = self.named(namespace, names, InvalidInput)
        check_templates(templates)
        return templates

    def named(self, namespace: str, names: Iterable[str],
              missing: Callable[[str], ApiError]) -> dict[str, ComputeTemplate]:
        """The templates a request names, in API form; a missing one raises `missing(message)`."""
        templates: dict[str, ComputeTemplate] = {}
        for name in names:
            try:
                templates[name] = self.get(namespace, name)
            except NotFound as exc:
                raise missing(str(exc)) from exc
        return templates

def _cached_answer(entry: Entry) -> ComputeTemplate:
    """Translated once per version of the ConfigMap (the cache holds only labelled ones)."""
    return cast(ComputeTemplate, entry.memoized((entry.rv,), to_api_compute_template))


def _to_api(configmap: Json) -> ComputeTemplate:
    return cast(ComputeTemplate, to_api_compute_template(configmap))  # translation returns plain dicts
