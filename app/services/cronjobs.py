"""Ray cron jobs: RayCronJob custom resources managed by this server (an extension of the V1 API;
upstream's API server has none), answered with the RayJobs each one made.

Cron jobs have no watch cache: every read asks Kubernetes. An answer costs the cron job's read and
one list of the RayJobs of its namespace whose operator's label `ray.io/cronjob-name` names it; a
list answer, whatever its size, one list of the RayJobs with that label for its namespace (or for
all of them). Suspend and resume are one merge patch of `spec.suspend`, made only on a cron job
this server manages.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from app.constants import CRONJOB_NAME_LABEL, RAYCRONJOB, RAYJOB
from app.services.resource import Items, ManagedResource, ResourceKind
from app.translate.common import object_key
from app.translate.cronjobs import to_api_cronjob, to_raycronjob
from app.translate.pods import PodCheck, rayjob_checks
from app.types import ComputeTemplate, Json, RayCronJob
from app.validation import check_cronjob


def _to_raycronjob(cron: RayCronJob, templates: Mapping[str, ComputeTemplate], _now: datetime) -> Json:
    return to_raycronjob(cron, templates)


def _to_api(raycronjob: Json, _events: list[Json]) -> Json:
    return to_api_cronjob(raycronjob, [])  # the RayJobs it made are added by RayCronJobs


def _pods(raycronjob: Json) -> list[PodCheck]:
    """The pods of each RayJob it will make: its template's."""
    return rayjob_checks({"spec": (raycronjob.get("spec") or {}).get("jobTemplate") or {}})


CRONJOBS: ResourceKind[RayCronJob] = ResourceKind(
    resource=RAYCRONJOB, noun="Cron job", items_key="cronjobs",
    token_key="continue",  # noqa: S106  (the answer's field for the next page token: a name, no secret)
    check=check_cronjob, to_kubernetes=_to_raycronjob, to_api=_to_api, pods=_pods,
)


class RayCronJobs(ManagedResource[RayCronJob]):
    """A managed resource whose answers carry the RayJobs it made; it also suspends and resumes."""

    def suspend(self, namespace: str, name: str) -> RayCronJob:
        return self._set_suspend(namespace, name, True)

    def resume(self, namespace: str, name: str) -> RayCronJob:
        return self._set_suspend(namespace, name, False)

    def _set_suspend(self, namespace: str, name: str, suspend: bool) -> RayCronJob:
        """Only ours (an unmanaged one is not found); the patch changes `spec.suspend` alone, so the
        operator's concurrent status writes neither conflict with it nor are lost."""
        self.read(namespace, name)
        patched = self._k8s.patch_object(RAYCRONJOB, namespace, name, {"spec": {"suspend": suspend}})
        self._reads.written(patched)
        return self._answer(patched)

    def _answer(self, obj: Json) -> RayCronJob:
        namespace, name = object_key(obj)
        return to_api_cronjob(obj, self._made(namespace, name))  # type: ignore[return-value]  # a plain dict

    def _translated(self, namespace: str | None, items: Items) -> Items:
        made = self._made(namespace) if items else []
        return [to_api_cronjob(item, made) for item in items]

    def _made(self, namespace: str | None, name: str = "") -> Items:
        """The RayJobs of `namespace` (None: all) that a cron job made (with `name`: that one's),
        in one list."""
        selector = f"{CRONJOB_NAME_LABEL}={name}" if name else CRONJOB_NAME_LABEL
        return list(self._k8s.list_objects(RAYJOB, namespace, selector).get("items") or [])
