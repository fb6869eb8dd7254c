"""Every rule that can be decided from the request alone, checked before any Kubernetes write.

Each `check_*` raises `InvalidInput` (400, code 3) at the first rule that fails, in upstream's
order and with upstream's text where one exists, without its wrap chain. Translation then takes
the input as valid and checks nothing again. Callers fill an absent body `namespace` with the
path's first, so a different one is refused here. `check_templates` is the one rule about what
the service layer read (compute templates), run after reading them and before translating.
Pure: no I/O, no Kubernetes, no logging; imports only `errors`, `types` and `translate`.
"""
from __future__ import annotations

from app.validation.cluster import check_cluster, check_cluster_spec
from app.validation.common import Limits
from app.validation.compute_templates import check_compute_template, check_templates
from app.validation.cronjobs import check_cronjob
from app.validation.jobs import check_job
from app.validation.rayservices import check_service

__all__ = [
    "Limits",
    "check_cluster",
    "check_cluster_spec",
    "check_compute_template",
    "check_cronjob",
    "check_job",
    "check_service",
    "check_templates",
]
