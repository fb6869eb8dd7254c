"""The images' part of the cache: its folder, the recipe version every cache key starts with,
the log files, and the lock that lets one build at a time work there.

Everything built lives here, outside the repository (build.cache_root()); nothing here runs a
build.
"""
from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import build
from .tools import remove_tree

# Bump when the way an image is made changes: every cached image is then rebuilt once.
RECIPE = "1"


def images_dir() -> Path:
    return build.cache_root() / "images"


def log_file(name: str, fresh: bool) -> Path:
    log = build.cache_root() / "logs" / f"image-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        log.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return log


@contextmanager
def build_lock() -> Iterator[None]:
    """One build at a time in this cache: two would debootstrap or build the same thing twice,
    and a failed build removes every working container of buildah's (private) storage. Whatever
    temporary folder is there when the lock is taken was left by a build that died."""
    images_dir().mkdir(parents=True, exist_ok=True)
    with open(images_dir() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            log = log_file("cleanup", fresh=False)
            stale = [*(images_dir() / "tmp").glob("*"), *images_dir().glob("project/*.tmp[0-9]*"),
                     *images_dir().glob("pause/*.tmp[0-9]*"), *images_dir().glob("ray/*.tmp[0-9]*")]
            for path in stale:
                if path.is_dir():
                    remove_tree(path, "images", log)
                else:
                    path.unlink()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
