"""Ray services: the service's own fields, its cluster spec, then exactly one serve configuration
(KubeRay v1.0.0's rule), including what the v1.0.0 deployment graph must hold to become one."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.translate.rayservices import GRAPH, route_prefixes
from app.validation.cluster import check_auth_version, check_spec_contents, check_spec_groups
from app.validation.common import DEFAULT_LIMITS, Limits, check_request, check_yaml_mapping


def check_service(service: Mapping[str, Any], namespace: str, limits: Limits = DEFAULT_LIMITS, *,
                  update: bool = False) -> None:
    """The spec's groups come before the serve configuration, what they hold after it."""
    if not any(key != "namespace" for key in service):  # only the namespace the caller filled in
        raise InvalidInput("Service is empty, please input a valid payload.")
    verb = "updated" if update else "created"
    check_request(service, namespace, "service", f"User who {verb} the Service is empty. Please specify a valid value.")
    spec = check_spec_groups(service.get("clusterSpec"), limits)
    has_v2 = bool(service.get("serveConfigV2"))
    has_graph = service.get(GRAPH) is not None
    if not has_v2 and not has_graph:
        raise InvalidInput("serve configuration is not defined")
    if has_v2 and has_graph:
        raise InvalidInput("two serve configuration are defined, only one is allowed")
    if has_graph:
        _check_graph(service[GRAPH])
    check_spec_contents(spec)
    check_auth_version(spec, service.get("version", ""))


def _check_graph(graph: Mapping[str, Any]) -> None:
    """What the Serve config generated from a v1.0.0 deployment graph cannot do without."""
    if not graph.get("importPath"):
        raise InvalidInput(f"{GRAPH} importPath is empty. Please specify a valid value.")
    configs = graph.get("serveConfigs") or []
    for index, config in enumerate(configs):
        if not config.get("deploymentName"):
            raise InvalidInput(f"{GRAPH} serveConfigs {index} deploymentName is empty. Please specify a valid value.")
    prefixes = route_prefixes(configs)
    if len(prefixes) > 1:
        raise InvalidInput(
            f"{GRAPH}.serveConfigs give different route prefixes ({', '.join(prefixes)}): "
            "one application has one route prefix, so give it on one deployment only."
        )
    check_yaml_mapping(graph, "runtimeEnv", GRAPH)
    for index, config in enumerate(configs):
        field = f"{GRAPH}.serveConfigs[{index}]"
        check_yaml_mapping(config, "autoscalingConfig", field)
        check_yaml_mapping(config, "userConfig", field)
        options = config.get("actorOptions") or {}
        check_yaml_mapping(options, "runtimeEnv", f"{field}.actorOptions")
        check_yaml_mapping(options, "customResource", f"{field}.actorOptions")
