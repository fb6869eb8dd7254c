"""The pinned versions and the committed Go modules agree, so an upgrade is one edit."""
import re

import pytest

from devcluster import versions
from devcluster.build import GOMOD_DIR, module_key


def _require(module: str, gomod: str) -> str:
    text = (GOMOD_DIR / gomod / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", text, re.M)
    assert match, f"{module} not required in gomod/{gomod}/go.mod"
    return match.group(1)


@pytest.mark.parametrize(("module", "gomod", "version"), [
    ("k8s.io/kubernetes", "kubernetes", versions.KUBERNETES),
    ("go.etcd.io/etcd/server/v3", "etcd", versions.ETCD),
    (versions.KWOK_MODULE, "kwok", versions.KWOK),
    (versions.KUBERAY_MODULE, "kuberay", versions.KUBERAY),
    ("helm.sh/helm/v4", "helm", versions.HELM),
])
def test_go_mod_requires_the_pinned_version(module: str, gomod: str, version: str) -> None:
    assert _require(module, gomod) == version


def test_every_staging_module_is_replaced_by_the_matching_release() -> None:
    text = (GOMOD_DIR / "kubernetes" / "go.mod").read_text()
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", text, re.M)
    assert len(replaced) > 20
    assert all(old == new and v == versions.KUBERNETES_STAGING for old, new, v in replaced)


def test_staging_version_follows_the_kubernetes_version() -> None:
    assert "v0." + versions.KUBERNETES.split(".", 1)[1] == versions.KUBERNETES_STAGING


def test_cache_key_changes_with_the_go_version_and_the_pins() -> None:
    assert module_key("etcd", "go1.26.8") != module_key("etcd", "go1.27.0")
    assert module_key("etcd", "go1.26.8") != module_key("kwok", "go1.26.8")
    assert module_key("etcd", "go1.26.8") == module_key("etcd", "go1.26.8")
