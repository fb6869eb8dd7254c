"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` serves the API on :8888,
and its gRPC front on :8887 (KUBERAY_API_GRPC_BIND).

Module-level names are gunicorn settings. Each comes from an environment variable with a default
that suits one small container; the Helm chart sets them from its values (helm/kuberay-apiserver).
The port, log level and log format are the server's own settings (app/settings.py), read here so
that one variable decides each. Connexion 3 is ASGI, so the workers are uvicorn's.

| variable                         | default        | gunicorn setting                    |
|----------------------------------|----------------|-------------------------------------|
| KUBERAY_API_BIND                 | 0.0.0.0:<port> | bind (comma-separated addresses)    |
| KUBERAY_API_PORT, else PORT      | 8888           | the port of the default bind        |
| KUBERAY_API_WORKERS              | 2              | workers (processes)                 |
| KUBERAY_API_TIMEOUT              | 30             | timeout: a silent worker is killed  |
| KUBERAY_API_GRACEFUL_TIMEOUT     | 30             | graceful_timeout: in-flight grace   |
| KUBERAY_API_KEEPALIVE            | 5              | keepalive (idle connection seconds) |
| KUBERAY_API_LOG_LEVEL            | INFO           | loglevel, and the server's loggers  |
| KUBERAY_API_LOG_FORMAT           | text           | text, or json (one object per line) |
| PROMETHEUS_MULTIPROC_DIR         | a new temp dir | where the workers keep metrics      |
| KUBERAY_API_WRITE_MARKS          | a new file     | how workers share the writes they answered (caches) |

Each worker also serves gRPC: its app's lifespan starts a gRPC server on KUBERAY_API_GRPC_BIND
(app/rpc/server.py), which every worker binds with SO_REUSEPORT, so that the kernel spreads the
connections over them, and both fronts share the worker's caches and Kubernetes client. So
gunicorn supervises gRPC as it does HTTP (a worker that dies is replaced, with both), and one
process tree is the whole server: no second process to start, watch or stop.

On SIGTERM the master stops accepting connections and asks each worker to finish: a worker
completes the requests it has started (including reading a body still arriving), then stops
taking RPCs and lets those in flight finish (KUBERAY_API_GRPC_GRACE seconds at most), and exits;
whatever is still running after `graceful_timeout` seconds is killed. Keep the pod's
terminationGracePeriodSeconds above it.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import tempfile
from typing import Any

from app.logs import TEXT_FORMAT, JsonFormatter
from app.settings import METRICS_DIR, WRITE_MARKS, Settings

# Every worker's metrics go to files in one folder, so that a scrape (which reaches one worker)
# sees the whole server. Set before prometheus_client is first imported, here or in a worker: the
# imports above load no prometheus_client (tests/unit/test_prometheus_order.py).
_OWN_METRICS_DIR = not os.environ.get(METRICS_DIR)  # made here, so removed here on exit
if _OWN_METRICS_DIR:
    os.environ[METRICS_DIR] = tempfile.mkdtemp(prefix="kuberay-api-metrics-")
# Each worker keeps watch caches of its own: a write one answers must show in the next read any
# serves, so the workers tell each other the revision of each write they answered (app/cache/).
_OWN_WRITE_MARKS = not os.environ.get(WRITE_MARKS)
# tmpfs, where the machine has one. The server makes its files there with mkstemp alone (the write marks
# here, gunicorn its heartbeat files): each name is new and each file its owner's, so no other user can
# have made or swapped it beforehand.
_TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108  (files made by mkstemp alone)
if _OWN_WRITE_MARKS:
    _handle, _path = tempfile.mkstemp(prefix="kuberay-api-writes-", dir=_TMPFS)
    os.close(_handle)
    os.environ[WRITE_MARKS] = _path
_settings = Settings.from_env(os.environ)  # fails here, naming the variable, if one is wrong

from app.metrics import prepare_metrics_dir  # noqa: E402  (after the metrics folder is chosen)


def _int(name: str, default: int, minimum: int = 1) -> int:
    text = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, not {text!r}")
    return value


def _port() -> int:
    """KUBERAY_API_PORT (the server's setting) wins; PORT is the platforms' and `make run`'s name."""
    if os.environ.get("KUBERAY_API_PORT") or not os.environ.get("PORT"):
        return _settings.port
    return _int("PORT", 8888)


def _text_formatter() -> logging.Formatter:
    """The server's text format; gunicorn's own lines (in the master) have no request id."""
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


def on_starting(server: Any) -> None:
    """Before any worker: what a previous run left (counts, revisions) must not count in this one."""
    prepare_metrics_dir(_settings.metrics_dir)
    with open(_settings.write_marks, "wb"):  # emptied: a previous run's revisions may be another etcd's
        pass


def post_worker_init(worker: Any) -> None:
    """The app a worker has just built (modules, spec, routes: tens of thousands of objects) lives as
    long as the worker: frozen out of the cyclic collector's sight, a full collection, which each
    large decoded answer (a list of 1,000 RayClusters: about a million containers) sets off, no
    longer rescans it. The collector itself stays on."""
    gc.freeze()


def on_exit(server: Any) -> None:
    """A folder (or file) this file made is this run's alone."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(_settings.metrics_dir, ignore_errors=True)
    if _OWN_WRITE_MARKS:
        with contextlib.suppress(OSError):
            os.remove(_settings.write_marks)


wsgi_app = "wsgi:app"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [address.strip() for address in os.environ.get("KUBERAY_API_BIND", "").split(",")
        if address.strip()] or [f"0.0.0.0:{_port()}"]
workers = _int("KUBERAY_API_WORKERS", 2)
timeout = _int("KUBERAY_API_TIMEOUT", 30)
graceful_timeout = _int("KUBERAY_API_GRACEFUL_TIMEOUT", 30)
keepalive = _int("KUBERAY_API_KEEPALIVE", 5)
# A client's address is its connection's peer: `X-Forwarded-For` and `X-Forwarded-Proto` are any
# client's to write, so none is trusted (gunicorn would trust loopback's). The `kubernetes` auth
# mode bounds refused tokens per address (app/ratelimit.py). Behind a proxy that sets them, name it:
# GUNICORN_CMD_ARGS="--forwarded-allow-ips=<its address>".
forwarded_allow_ips = ""
# Heartbeat files on tmpfs: the root filesystem may be read-only, and a disk can stall them.
worker_tmp_dir = _TMPFS
# Gunicorn >= 25 would open a control socket under $HOME: nothing uses it, and HOME may be read-only.
control_socket_disable = True
errorlog = "-"
loglevel = _settings.log_level.lower()
# One configuration for gunicorn's loggers and the server's (the root logger), in the server's
# format; the server then finds a handler and adds none (app.logs.configure_logging).
# The server logs one line per request itself (logger app.access), so uvicorn's are dropped.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": _text_formatter},
        "json": {"()": JsonFormatter},
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": _settings.log_format,
                   "stream": "ext://sys.stdout"},
    },
    "root": {"level": _settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level, "handlers": ["stdout"], "propagate": False},
        # uvicorn's workers write their access lines through this logger's handlers and level.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}
