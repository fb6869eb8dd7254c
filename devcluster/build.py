"""Build the control plane's binaries from their pinned Go modules, cached outside the repo.

Each Go module under gomod/ is built once per content of its go.mod/go.sum (and the Go
version): the cache key is a hash of those, so a version bump rebuilds exactly what
changed and a warm start builds nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from . import versions
from .errors import ComponentError
from .procs import say

GOMOD_DIR = Path(__file__).resolve().parent / "gomod"


def cache_root() -> Path:
    """Builds live outside the repository so fresh clones and CI reuse them."""
    base = os.environ.get("KUBERAY_API_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kuberay-api"
    )
    return Path(base) / "devcluster"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = versions.GOTOOLCHAIN
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _go(args: list[str], cwd: Path, log: Path | None = None) -> str:
    if shutil.which("go") is None:
        raise ComponentError("go", "the Go toolchain is not installed (need Go 1.26 on PATH)", None)
    with contextlib.ExitStack() as opened:
        out = opened.enter_context(open(log, "ab")) if log else subprocess.PIPE
        proc = subprocess.run(["go", *args], cwd=cwd, env=go_env(), stdout=out,
                              stderr=subprocess.STDOUT if log else subprocess.PIPE)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip() if proc.stderr else ""
        raise ComponentError(f"go {args[0]}", f"failed in {cwd.name}: {detail[-400:]}", log)
    return proc.stdout.decode() if proc.stdout else ""


def _go_version() -> str:
    return _go(["env", "GOVERSION"], GOMOD_DIR).strip()


def module_key(name: str, go_version: str) -> str:
    """Content hash of what decides the build output of one Go module."""
    digest = hashlib.sha256(go_version.encode())
    digest.update(json.dumps([versions.BINARIES[name], versions.LDFLAGS.get(name, [])]).encode())
    for path in sorted((GOMOD_DIR / name).iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def module_dir(gomod: str, module: str) -> Path:
    """Where the go command unpacked a dependency's source (for CRDs and kwok stages)."""
    _go(["mod", "download", module], GOMOD_DIR / gomod)
    out = _go(["list", "-m", "-json", module], GOMOD_DIR / gomod)
    return Path(json.loads(out)["Dir"])


def _copy_assets(name: str, dest: Path) -> None:
    if name == "kuberay":
        src = module_dir("kuberay", versions.KUBERAY_MODULE) / "config" / "crd" / "bases"
        (dest / "crds").mkdir()
        for crd in sorted(src.glob("*.yaml")):
            shutil.copy(crd, dest / "crds" / crd.name)
    if name == "kwok":
        stage = module_dir("kwok", versions.KWOK_MODULE) / "kustomize" / "stage"
        files = [stage / "node" / "fast" / "node-initialize.yaml",
                 stage / "node" / "heartbeat" / "node-heartbeat.yaml",
                 *sorted((stage / "pod" / "fast").glob("pod-*.yaml"))]
        docs = [f.read_text().strip().removeprefix("---").strip() for f in files]
        (dest / "stages.yaml").write_text("\n---\n".join(docs) + "\n")


def build_module(name: str, go_version: str, log_dir: Path) -> Path:
    """Build one module's binaries into the cache unless they are already there."""
    dest = cache_root() / "bin" / f"{name}-{module_key(name, go_version)}"
    if (dest / ".complete").exists():
        return dest
    binaries = versions.BINARIES[name]
    say(f"building {', '.join(binaries)} (first use; this takes minutes)")
    started = time.monotonic()
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log = log_dir / f"build-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        ldflags = " ".join(["-s", "-w", *versions.LDFLAGS.get(name, [])])
        _go(["build", f"-ldflags={ldflags}", "-o", str(tmp) + "/", *binaries.values()],
            GOMOD_DIR / name, log)
        _copy_assets(name, tmp)
    except ComponentError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ComponentError(name, f"build failed: {exc.reason}", log) from exc
    (tmp / ".complete").write_text(f"{time.monotonic() - started:.0f}s\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    say(f"built {name} in {time.monotonic() - started:.0f}s")
    return dest


def build_all(log_dir: Path, modules: Iterable[str] = tuple(versions.BINARIES)) -> dict[str, Path]:
    """Return binary name -> path for the components of `modules` (all), building what is missing."""
    go_version = _go_version()
    paths: dict[str, Path] = {}
    for name in modules:
        binaries = versions.BINARIES[name]
        dest = build_module(name, go_version, log_dir)
        for binary in binaries:
            paths[binary] = dest / binary
        if name == "kuberay":
            paths["crds"] = dest / "crds"
        if name == "kwok":
            paths["kwok-stages"] = dest / "stages.yaml"
    return paths
