"""Certificates, keys and the kubeconfig of one control-plane instance, made with openssl.

Like a real cluster: the API server serves TLS signed by a private CA, clients present
certificates, and service-account tokens are signed with their own key pair.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

from .errors import ComponentError

SERVICE_IP = "10.96.0.1"
SERVER_NAMES = [
    "DNS:localhost", "IP:127.0.0.1", f"IP:{SERVICE_IP}", "DNS:kubernetes",
    "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
]


def _openssl(args: list[str], cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise ComponentError("pki", "openssl is not installed", None)
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True)
    if proc.returncode != 0:
        raise ComponentError("pki", f"openssl {args[0]} failed: "
                             f"{proc.stderr.decode(errors='replace').strip()[-300:]}", None)


def _signed(pki: Path, name: str, subject: str, extensions: str) -> None:
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
              "-out", f"{name}.csr", "-subj", subject], pki)
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-CAcreateserial", "-out", f"{name}.crt", "-days", "3650", "-sha256",
              "-extfile", f"{name}.ext"], pki)


def make_pki(pki: Path) -> None:
    """CA, API server serving cert, admin client cert, service-account signing keys."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
              "-out", "ca.crt", "-days", "3650", "-subj", "/CN=kuberay-api-devcluster-ca"], pki)
    _signed(pki, "apiserver", "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName={','.join(SERVER_NAMES)}\n")
    _signed(pki, "admin", "/O=system:masters/CN=kubernetes-admin",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=clientAuth\n")
    _openssl(["genrsa", "-out", "sa.key", "2048"], pki)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)


def make_client(pki: Path, name: str, subject: str) -> None:
    """A client certificate signed by the instance's CA (`name`.crt and .key): the identities of
    the real node's kubelet and kube-proxy, whom Kubernetes authorises by their subject."""
    _signed(pki, name, subject, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=clientAuth\n")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, user: str = "admin") -> Path:
    """A kubeconfig of the CA's client `user` (admin unless told), credentials embedded (JSON is
    valid YAML)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": {
            "server": server, "certificate-authority-data": _b64(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(pki / f"{user}.crt"),
            "client-key-data": _b64(pki / f"{user}.key")}}],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": user}}],
        "current-context": "devcluster",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def token_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> Path:
    """A kubeconfig holding only a bearer token: how a ServiceAccount sees the cluster."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_file)}}],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": "token"}}],
        "current-context": "devcluster",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
