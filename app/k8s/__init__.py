"""The gateway to the Kubernetes API: the only package that imports `kubernetes`.

It makes the one connection of the process, speaks plain JSON dicts (objects exactly as the API
server sends them: camelCase keys, RFC 3339 strings; no client models), counts every call in the
Prometheus metrics (app/metrics.py), and turns every HTTP and transport failure into an
`app.errors.ApiError`. It knows nothing about the API's resources beyond their coordinates. Two
calls hand back the API server's answer unread, whatever its status, for their callers to read:
`forward` (the V2 API) and `send` (a Ray dashboard through its head Service's proxy, which
app/dashboard.py reads).

Outages are bounded in time (docs/architecture.md, "Faults"): each call waits at most the call
timeout for an answer, and within a request scope (`request_scope`, which the fronts open around
each operation) all the calls of one request share one deadline (deadline.py). A circuit breaker
(app/circuit.py) makes calls fail at once while the server is known not to answer, and lets one
call probe it again.

The modules: `gateway` (`K8s`, the methods), `exchange` (one request sent, timed, classified,
counted, and the circuit settled), `connection` (the configuration and the one pool), `deadline`,
`paths` (`Collection`, the paths of objects), `streams` (`Watch`, `Forwarded`), `status` (answers
decoded, refusals turned into errors).
"""
from app.k8s.connection import CONNECT_TIMEOUT, configured_in_cluster
from app.k8s.exchange import Outcome
from app.k8s.gateway import K8s
from app.k8s.paths import Collection
from app.k8s.streams import Forwarded, Watch

__all__ = ["CONNECT_TIMEOUT", "Collection", "Forwarded", "K8s", "Outcome", "Watch", "configured_in_cluster"]
