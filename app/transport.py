"""The one reading of a failed HTTP exchange, for both gateways (app/k8s, app/dashboard.py).

urllib3 reports a refused connection, a timeout and a TLS failure as different exceptions, some
wrapped in a `MaxRetryError`; clients are told which in a few words, and the log gets the rest.
Whether the request may have reached the server is read here too: for a write, it decides whether
its outcome is unknown.
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


def may_have_arrived(exc: Exception) -> bool:
    """Whether the request may have reached the server before the exchange failed: anything but a
    failure to connect (refused, unresolved, timed out) or to shake hands. A write that failed so
    may have been carried out, its answer lost."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return not isinstance(cause, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.SSLError))
