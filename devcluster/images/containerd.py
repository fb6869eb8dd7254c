"""Getting a built image into containerd: `ctr images import` of its archive, skipped when
containerd already lists the ref with the same image ID, and checked after; other names for it
are `ctr images tag`s of that ref."""
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


def aliases_to_tag(refs: dict[str, str], ref: str, aliases: Sequence[str]) -> list[str]:
    """The aliases that containerd's listing (`refs`, as parse_ctr_images reads it) does not show
    naming ref's manifest: those `ctr images tag --force` points at it."""
    return [alias for alias in aliases if refs.get(alias) != refs.get(ref)]


def _listed(ctr: Sequence[str], log: Path) -> dict[str, str]:
    return parse_ctr_images(run_tool("ctr images ls", [*ctr, "images", "ls"], "containerd", log, capture=True))


def _imported(ctr: Sequence[str], image: Image, refs: dict[str, str], log: Path) -> bool:
    """Whether containerd lists image.ref (in `refs`) with a manifest whose config is image.id.
    (The manifest digest is containerd's own: it writes the manifest when it imports a
    docker-archive.)"""
    digest = refs.get(image.ref)
    if digest is None:
        return False
    manifest = run_tool("ctr content get", [*ctr, "content", "get", digest], "containerd", log, capture=True)
    try:
        return bool(json.loads(manifest)["config"]["digest"] == image.id)
    except (ValueError, KeyError, TypeError):
        return False


def import_image(ctr: list[str], image: Image, aliases: Sequence[str] = ()) -> None:
    """Import the image's archive into containerd (ctr = the command and its global flags, e.g.
    ["ctr", "--address", sock, "-n", "k8s.io"]) unless it already holds that ref and image, and
    tag it as each of `aliases` that names something else (or nothing)."""
    log = log_file(f"import-{image.ref.rsplit('/', 1)[-1].partition(':')[0]}", fresh=False)
    refs = _listed(ctr, log)
    if not _imported(ctr, image, refs, log):
        say(f"importing {image.ref} into containerd")
        run_tool("ctr images import", [*ctr, "images", "import", str(image.archive)], "containerd", log)
        refs = _listed(ctr, log)
        if not _imported(ctr, image, refs, log):
            raise ComponentError("containerd", f"{image.ref} is not listed with image ID {image.id} after "
                                 "its import", log)
    stale = aliases_to_tag(refs, image.ref, aliases)
    if stale:
        run_tool("ctr images tag", [*ctr, "images", "tag", "--force", image.ref, *stale], "containerd", log)
