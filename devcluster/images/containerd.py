"""Getting a built image into containerd: `ctr images import` of its archive, skipped when
containerd already lists the ref with the same image ID, and checked after."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import ComponentError
from ..procs import say
from .buildah import Image
from .cache import log_file
from .tools import run_tool


def parse_ctr_images(listing: str) -> dict[str, str]:
    """`ctr images ls` -> ref: manifest digest."""
    refs: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        words = line.split()
        if len(words) >= 3 and words[2].startswith("sha256:"):
            refs[words[0]] = words[2]
    return refs


def _imported(ctr: Sequence[str], image: Image, log: Path) -> bool:
    """Whether containerd lists image.ref with a manifest whose config is image.id. (The manifest
    digest is containerd's own: it writes the manifest when it imports a docker-archive.)"""
    listing = run_tool("ctr images ls", [*ctr, "images", "ls"], "containerd", log, capture=True)
    digest = parse_ctr_images(listing).get(image.ref)
    if digest is None:
        return False
    manifest = run_tool("ctr content get", [*ctr, "content", "get", digest], "containerd", log, capture=True)
    try:
        return bool(json.loads(manifest)["config"]["digest"] == image.id)
    except (ValueError, KeyError, TypeError):
        return False


def import_image(ctr: list[str], image: Image) -> None:
    """Import the image's archive into containerd (ctr = the command and its global flags, e.g.
    ["ctr", "--address", sock, "-n", "k8s.io"]) unless it already holds that ref and image."""
    log = log_file(f"import-{image.ref.rsplit('/', 1)[-1].partition(':')[0]}", fresh=False)
    if _imported(ctr, image, log):
        return
    say(f"importing {image.ref} into containerd")
    run_tool("ctr images import", [*ctr, "images", "import", str(image.archive)], "containerd", log)
    if not _imported(ctr, image, log):
        raise ComponentError("containerd", f"{image.ref} is not listed with image ID {image.id} after "
                             "its import", log)
