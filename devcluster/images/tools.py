"""Running the tools an image build needs: whether this machine has them, each run with its
output in a log, and a safety net so that no mount a step made outlives it.

Knows nothing of images or of the cache's layout: callers hand in the log and the folder.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import ComponentError
from ..footprint import mounts
from ..procs import last_line


def unavailable() -> str | None:
    """Why images cannot be built on this machine, in one line, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"container images are built with buildah, which needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "building container images needs root (debootstrap, buildah's chroot isolation)"
    tools = ("buildah", "debootstrap", "gcc", "strip", "tar", "unshare")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (Debian packages: buildah debootstrap "
                "debian-archive-keyring gcc libc6-dev binutils tar util-linux)")
    return None


def require() -> None:
    reason = unavailable()
    if reason:
        raise ComponentError("images", reason, None)


def run_tool(what: str, cmd: Sequence[str], component: str, log: Path, *, capture: bool = False,
             env: dict[str, str] | None = None) -> str:
    """Run one tool with its output in `log`; a failure names the step and the log's last line."""
    with open(log, "ab") as out:
        if not capture:  # a query is logged only when it fails: warm calls leave the log alone
            out.write(f"$ {shlex.join(cmd)}\n".encode())
            out.flush()
        try:
            proc = subprocess.run(list(cmd), stdin=subprocess.DEVNULL, env=env,
                                  stdout=subprocess.PIPE if capture else out,
                                  stderr=subprocess.PIPE if capture else out)
        except OSError as exc:
            raise ComponentError(component, f"{what}: cannot run {cmd[0]}: {exc}", log) from exc
        if capture and proc.returncode != 0:
            out.write(f"$ {shlex.join(cmd)}\n".encode() + proc.stderr)
    if proc.returncode != 0:
        raise ComponentError(component, f"{what} failed (exit {proc.returncode}): {last_line(log)}", log)
    return proc.stdout.decode(errors="replace") if capture else ""


def _mounts_under(top: Path) -> list[str]:
    prefix = str(top).rstrip("/") + "/"
    return [point for point, _ in mounts() if point.startswith(prefix)]


def _unmount(points: Sequence[str], component: str, log: Path) -> None:
    for point in sorted(points, key=len, reverse=True):
        with open(log, "ab") as out:
            out.write(f"devcluster: unmounting {point}, left behind\n".encode())
        subprocess.run(["umount", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    left = [p for p in points if p in set(_mounts_under(Path("/")))]
    if left:
        raise ComponentError(component, f"cannot unmount {', '.join(left)}", log)


@contextmanager
def no_mounts_left(top: Path, component: str, log: Path) -> Iterator[None]:
    """A safety net: buildah and debootstrap mount in namespaces of their own, so nothing of
    theirs should ever appear here; whatever the step still left mounted under `top` is
    unmounted when it ends, even on failure."""
    before = set(_mounts_under(top))
    try:
        yield
    finally:
        left = [p for p in _mounts_under(top) if p not in before]
        if left:
            _unmount(left, component, log)


def remove_tree(path: Path, component: str, log: Path) -> None:
    """rmtree, but never through a mount (a bind-mounted /dev in a chroot would be the host's)."""
    if not path.exists():
        return
    inside = _mounts_under(path)
    if inside:
        _unmount(inside, component, log)
    shutil.rmtree(path)
