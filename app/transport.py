"""The one reading of a failed HTTP exchange, for both gateways (app/k8s.py, app/dashboard.py).

urllib3 reports a refused connection, a timeout and a TLS failure as different exceptions, some
wrapped in a `MaxRetryError`; clients are told which in a few words, and the log gets the rest.
"""
from __future__ import annotations

import urllib3

NO_ANSWER = "no answer in time"


def transport_cause(exc: Exception) -> str:
    """A short cause for the client; the full one goes to the log."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(cause, (urllib3.exceptions.NewConnectionError, ConnectionError)):
        return "cannot connect"  # (a NewConnectionError is also a timeout error to urllib3)
    if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return NO_ANSWER
    if isinstance(cause, urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    return "connection failed"
