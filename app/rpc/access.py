"""What the gRPC front tells its operators: upstream's `grpc_server_*` counts and latencies
(app/metrics.py) and one access line per call (app/logs.py), as app/http/access.py does for HTTP."""
from __future__ import annotations

import logging
from typing import Any

from app.logs import access_log
from app.metrics import RPC_SECONDS, RPCS_HANDLED, RPCS_STARTED


def started(full_method: str, kind: str) -> None:
    service, _, method = full_method.lstrip("/").partition("/")
    RPCS_STARTED.labels(kind, service, method).inc()


def handled(full_method: str, kind: str, code: str, seconds: float, peer: str, quiet: bool = False,
            caller: str | None = None) -> None:
    """A gRPC call ended with status `code` (its name): one count, one latency sample, one access
    line (at DEBUG for a `quiet` call, a probe, that succeeded), naming the authenticated caller if any."""
    service, _, method = full_method.lstrip("/").partition("/")
    RPCS_HANDLED.labels(kind, service, method, code).inc()
    RPC_SECONDS.labels(kind, service, method).observe(seconds)
    level = logging.DEBUG if quiet and code == "OK" else logging.INFO
    if access_log.isEnabledFor(level):
        duration_ms = round(seconds * 1000, 3)
        fields: dict[str, Any] = {"rpc": full_method, "service": service, "method": method, "code": code,
                                  "duration_ms": duration_ms, "peer": peer}
        if caller is not None:
            fields["caller"] = caller
        access_log.log(level, "RPC %s %s %.1fms", full_method, code, duration_ms, extra=fields)
