"""The HTTP handlers, one class per upstream gRPC service, one method per operationId.

`operations` is the one table of which handler reaches which service; `resolver` gives it to
Connexion, so that each operationId of the spec routes to a bound method of objects built
once by `create_app`. Handlers unpack, make one service call and return (dict, status).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from connexion.exceptions import ResolverError
from connexion.resolver import Resolver

from app.services import Services
from handlers.clusters import ClusterHandlers
from handlers.compute_templates import ComputeTemplateHandlers
from handlers.cronjobs import CronJobHandlers
from handlers.job_submissions import JobSubmissionHandlers
from handlers.jobs import JobHandlers
from handlers.rayservices import RayServiceHandlers

Handler = Callable[..., Any]


def operations(services: Services) -> dict[str, Handler]:
    """operationId -> handler, each handler bound to the one service it calls."""
    groups = (
        ComputeTemplateHandlers(services.compute_templates),
        ClusterHandlers(services.clusters),
        JobHandlers(services.jobs),
        RayServiceHandlers(services.rayservices),
        CronJobHandlers(services.cronjobs),
        JobSubmissionHandlers(services.job_submissions),
    )
    return {name: getattr(group, name) for group in groups for name in vars(type(group))
            if not name.startswith("_")}


def resolver(services: Services, scope: Callable[[], AbstractContextManager[None]]) -> Resolver:
    """Each operationId's handler, run inside `scope()`: the request's deadline for its Kubernetes
    calls (`K8s.request_scope`)."""
    table = {name: _within(scope, handler) for name, handler in operations(services).items()}

    def resolve(operation_id: str) -> Handler:
        try:
            return table[operation_id]
        except KeyError:
            raise ResolverError(f"no handler for operationId {operation_id!r}") from None

    return Resolver(function_resolver=resolve)


def _within(scope: Callable[[], AbstractContextManager[None]], handler: Handler) -> Handler:
    @functools.wraps(handler)  # Connexion reads the handler's parameters through __wrapped__
    def scoped(*args: Any, **kwargs: Any) -> Any:
        with scope():
            return handler(*args, **kwargs)

    return scoped
