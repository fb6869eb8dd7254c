"""The process's one connection to the Kubernetes API server: the client's configuration, and one
urllib3 pool built from it that every call, watch and forward goes through.

The configuration is upstream's: in-cluster (the pod's service account) unless KUBECONFIG is set,
else a kubeconfig file. The kubernetes client's documented interface supplies what it knows best:
the address, the query's encoding and the credentials (`ApiClient.param_serialize`, which also
refreshes an expiring token); the request itself is ours to make, so that a body goes out as the
bytes it is, an answer comes back unread whatever its status (a 3xx too: no redirect is followed),
and nothing is retried (a retry would double the wait on a hung server, and could send a write
twice: the circuit and the caller decide when to try again).
"""
from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import should_bypass_proxies
from kubernetes.utils.keepalive import tcp_keepalive_socket_options

from app import auth

CONNECT_TIMEOUT = 5.0  # an unreachable API server costs at most this much
SOCKS = ("socks5", "socks5h", "socks4", "socks4a")  # the proxy schemes the client reaches through SOCKS

Configure = Callable[[], client.Configuration]


def configured_in_cluster(env: Mapping[str, str]) -> bool:
    """Whether `from_environment` configures the client in-cluster: no KUBECONFIG, and the variables
    Kubernetes sets in every pod."""
    return not env.get("KUBECONFIG") and bool(env.get("KUBERNETES_SERVICE_HOST"))


def from_environment(env: Mapping[str, str]) -> Configure:
    """In-cluster unless KUBECONFIG is set, else the kubeconfig file (upstream's order); read when called."""
    inside = configured_in_cluster(env)

    def configure() -> client.Configuration:
        if not inside:
            return from_kubeconfig(env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config"))()
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return configuration

    return configure


def from_kubeconfig(path: str) -> Configure:
    """The cluster and credentials of a kubeconfig file's current context; read when called."""

    def configure() -> client.Configuration:
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=path, client_configuration=configuration, persist_config=False)
        return configuration

    return configure


class Connection:
    """Thread-safe; one per process (the gateway builds it on first use)."""

    def __init__(self, configuration: client.Configuration) -> None:
        self._api = client.ApiClient(configuration)  # for `param_serialize` alone: it sends nothing
        self._pool = pool(configuration)

    def open(self, method: str, target: str, *, query: list[tuple[str, Any]] | None = None,
             headers: Mapping[str, str], body: bytes | None, caller: auth.Caller | None,
             wait: float) -> urllib3.BaseHTTPResponse:
        """Send one request, as `caller` (None: as the server itself), and hand back the answer,
        whatever its status, its body still to read. `target` is the path (with its query, or
        the query apart); `headers` pass over the client's own; `wait` bounds the connection (at
        most CONNECT_TIMEOUT) and each silence of the answer."""
        _, url, own, _, _ = self._api.param_serialize(
            method, target, query_params=query or None, header_params={}, auth_settings=["BearerToken"])
        return self._pool.request(
            method, url, body=body, headers=_as(caller, {**own, **headers}), preload_content=False,
            timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, wait), read=wait), redirect=False, retries=False)


def pool(configuration: client.Configuration) -> urllib3.PoolManager:
    """Connections as the client makes its own (kubernetes.client.rest): its TLS verification, CA,
    client certificate, server name, socket options, pool size and proxy."""
    options: dict[str, Any] = {
        "cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE,
        "ca_certs": configuration.ssl_ca_cert,
        "ca_cert_data": configuration.ca_cert_data,
        "cert_file": configuration.cert_file,
        "key_file": configuration.key_file,
        "maxsize": configuration.connection_pool_maxsize,
    }
    if configuration.assert_hostname is not None:
        options["assert_hostname"] = configuration.assert_hostname
    if configuration.tls_server_name:
        options["server_hostname"] = configuration.tls_server_name
    if configuration.socket_options is not None:
        options["socket_options"] = configuration.socket_options
    elif configuration.keep_alive:
        options["socket_options"] = tcp_keepalive_socket_options()
    proxy = configuration.proxy
    if not proxy or should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
        return urllib3.PoolManager(**options)
    if proxy.split("://", 1)[0].lower() in SOCKS:
        from urllib3.contrib.socks import SOCKSProxyManager  # needs PySocks, as the client does

        return SOCKSProxyManager(proxy, headers=configuration.proxy_headers, **options)
    if configuration.proxy_ssl_context is not None:
        options["proxy_ssl_context"] = configuration.proxy_ssl_context
    return urllib3.ProxyManager(proxy, proxy_headers=configuration.proxy_headers, **options)


def _as(caller: auth.Caller | None, headers: Mapping[str, str]) -> Mapping[str, str]:
    """A request's headers, plus the caller's impersonation if any (a header may repeat: groups)."""
    impersonation = auth.impersonation(caller)
    if not impersonation:
        return headers
    combined = urllib3.HTTPHeaderDict(headers)
    for name, value in impersonation:
        combined.add(name, value)
    return combined
