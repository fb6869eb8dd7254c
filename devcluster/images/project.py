"""The project image: `buildah bud` of the Dockerfile on the stand-in base, saved in the cache as
a docker-archive under a key of what the build can see, the newest few kept."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ..procs import say
from .buildah import Image, bud, cached, confined, load, prune, save
from .cache import RECIPE, images_dir, log_file
from .debian import base_inputs, base_names, ensure_base
from .dockerfile import context_digest

PROJECT_REPO = "docker.io/library/kuberay-api"
KEEP_PROJECT_IMAGES = 3  # a code change makes a new one; older ones only fill the disk


def project_key(context_hash: str, base: str) -> str:
    return hashlib.sha256(f"{RECIPE}\0{base}\0{context_hash}".encode()).hexdigest()[:16]


def project_ref(key: str) -> str:
    return f"{PROJECT_REPO}:dev-{key[:12]}"


def project_image(context: Path) -> Image:
    """The image of the Dockerfile in `context`, as a docker-archive in the cache. Built only when
    the files the build can see (or the base) changed; a warm call only hashes the context."""
    context = context.resolve()
    _, _, base = base_inputs()
    key = project_key(context_digest(context), base)
    dest = images_dir() / "project" / key

    def make() -> Image:
        ensure_base(base_names(context / "Dockerfile"))
        ref = project_ref(key)
        say(f"building image {ref}")
        started = time.monotonic()
        bh = confined()
        log = log_file("project", fresh=True)
        image_id = bud(bh, "project image", log, context, ref, ["--layers", "--force-rm"])
        image = save(bh, "project image", log, image_id, ref, dest)
        prune(bh, "project image", log, dest, KEEP_PROJECT_IMAGES, lambda old: load(old).ref)
        say(f"built {ref} in {time.monotonic() - started:.0f}s")
        return image

    return cached(dest, make)

