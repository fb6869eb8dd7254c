"""The venv of the tests' Ray: built on first use from tests/ray-requirements.txt into the user's
cache, and reused after. Ray never goes into the project's venv: its pinned grpcio, protobuf and
pydantic would clash with the project's."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devcluster import build

REQUIREMENTS = Path(__file__).resolve().parents[1] / "ray-requirements.txt"
READY_MARKER = ".complete"


class RayVenvError(RuntimeError):
    """The venv could not be built; the message says why, with the installer's output."""


def cache_root() -> Path:
    """~/.cache/kuberay-api/ray (XDG_CACHE_HOME and KUBERAY_API_CACHE honoured, as devcluster)."""
    return build.cache_root().parent / "ray"


def venv_key(requirements: Path = REQUIREMENTS) -> str:
    """Short hash of the requirements' content and of the interpreter the venv is made from
    (a venv's python is a link to it, so another interpreter needs another venv)."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"\0{sys.version_info.major}.{sys.version_info.minor}\0{_base_python()}".encode())
    return digest.hexdigest()[:12]


def _base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def ray_venv(requirements: Path = REQUIREMENTS) -> Path:
    """The venv holding the requirements' packages, built on first use (about 20 s from PyPI).

    The venv is built in a fresh folder beside its place, its ready marker written last, then
    published at once by renaming a link to it over `<cache>/ray/<key>` (a venv can't be moved:
    its scripts name their own path). A lock file keeps two test processes from building it
    twice; a folder left by a crashed build is never published and is swept by the next one.
    """
    root = cache_root()
    key = venv_key(requirements)
    dest = root / key
    if (dest / READY_MARKER).is_file():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / READY_MARKER).is_file():  # built by another process while we waited
            return dest
        published = dest.resolve() if dest.is_symlink() else None
        for stale in root.glob(f"{key}.venv-*"):
            if stale != published:
                shutil.rmtree(stale, ignore_errors=True)
        build_dir = Path(tempfile.mkdtemp(prefix=f"{key}.venv-", dir=root))
        build_dir.chmod(0o755)
        print(f"ray_venv: installing {requirements.name} into {build_dir} (first use)",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            _run([_base_python(), "-m", "venv", str(build_dir)], "python -m venv")
            _run([str(build_dir / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                  "--quiet", "-r", str(requirements)], "pip install")
            (build_dir / READY_MARKER).write_text(f"{time.monotonic() - started:.0f}s\n")
            link = root / f"{key}.link-{os.getpid()}"
            link.unlink(missing_ok=True)
            link.symlink_to(build_dir.name)
            if dest.is_dir() and not dest.is_symlink():  # an unready folder of another layout
                shutil.rmtree(dest)
            link.rename(dest)  # atomic: readers see the old link or the ready venv
            if published is not None:
                shutil.rmtree(published, ignore_errors=True)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
    print(f"ray_venv: installed in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return dest


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip()[-2000:]
        raise RayVenvError(f"{what} failed with code {proc.returncode}:\n{tail}")
