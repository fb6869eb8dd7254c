"""The Ray image: Ray (the pin of tests/ray-requirements.txt) with Serve on the stand-in python base,
built from devcluster/ray-image/ and imported into containerd under every rayproject/ray name the
user guide and the upstream clients use, so that their clusters, jobs and services run it as
written (with imagePullPolicy IfNotPresent). It also holds the guide's remote working_dir archives
(ray-image/local_archives.py).

Cached in the cache's ray/<key>/ as a docker-archive, the key hashing what the build can see: the
recipe folder, the requirements file and the base. A warm call only hashes them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from ..procs import say
from .buildah import Image, bud, cached, confined, prune, save
from .cache import RECIPE, images_dir, log_file
from .containerd import import_image
from .debian import REPO, base_inputs, base_names, ensure_base
from .dockerfile import context_digest, context_files, ignore_file, parse_dockerignore
from .tools import remove_tree

RAY_RECIPE = REPO / "devcluster" / "ray-image"
RAY_REQUIREMENTS = REPO / "tests" / "ray-requirements.txt"
# The names the one image is imported as: upstream's default (the image's own name, first), then
# every other tag the user guide, the upstream clients and our tests name. All are Ray 2.60 here.
RAY_REFS = tuple(f"docker.io/rayproject/ray:{tag}" for tag in (
    "2.46.0", "2.46.0-autoscaler", "2.40.0", "2.9.0", "2.9", "2.9.0-gpu", "2.7.0", "2.7.0-py310",
    "2.7.0-aarch64"))
# Its name in buildah's storage, per key: RAY_REFS[0] names the archive of every key.
RAY_BUILD_REPO = "localhost/kuberay-api-ray"
KEEP_RAY_IMAGES = 1  # an image of Ray is large, and a recipe change rebuilds only the layers after it


def ray_key(recipe_hash: str, requirements: bytes, base: str) -> str:
    digest = hashlib.sha256(f"{RECIPE}\0{base}\0{recipe_hash}\0".encode() + hashlib.sha256(requirements).digest())
    return digest.hexdigest()[:16]


def ray_image() -> Image:
    """The Ray image, as a docker-archive in the cache. Built only when the recipe folder, the
    requirements file or the base changed; a warm call only hashes them."""
    _, _, base = base_inputs()
    key = ray_key(context_digest(RAY_RECIPE), RAY_REQUIREMENTS.read_bytes(), base)
    dest = images_dir() / "ray" / key

    def make() -> Image:
        ensure_base(base_names(RAY_RECIPE / "Dockerfile"))
        say(f"building image {RAY_REFS[0]} from {RAY_RECIPE.relative_to(REPO)}/ (Ray with Serve, from PyPI)")
        started = time.monotonic()
        bh = confined()
        log = log_file("ray", fresh=True)
        context = images_dir() / "tmp" / f"ray.{os.getpid()}"
        remove_tree(context, "ray image", log)
        try:
            _copy_context(context)
            image_id = bud(bh, "ray image", log, context, f"{RAY_BUILD_REPO}:{key}", ["--layers", "--force-rm"])
            image = save(bh, "ray image", log, image_id, RAY_REFS[0], dest)
        finally:
            remove_tree(context, "ray image", log)
        prune(bh, "ray image", log, dest, KEEP_RAY_IMAGES, lambda old: f"{RAY_BUILD_REPO}:{old.name}")
        say(f"built {RAY_REFS[0]} in {time.monotonic() - started:.0f}s")
        return image

    return cached(dest, make)


def _copy_context(context: Path) -> None:
    """The recipe folder (what its ignore file lets in, as the key hashed it) and the requirements."""
    ignore = ignore_file(RAY_RECIPE)
    patterns = parse_dockerignore(ignore.read_text() if ignore.exists() else "")
    context.mkdir(parents=True)
    for rel in context_files(RAY_RECIPE, patterns):
        source, target = RAY_RECIPE / rel, context / rel
        if source.is_dir() and not source.is_symlink():
            target.mkdir(exist_ok=True)
        elif source.exists():
            shutil.copy2(source, target, follow_symlinks=False)
    shutil.copy2(RAY_REQUIREMENTS, context / RAY_REQUIREMENTS.name)


def load_ray_image(ctr: list[str]) -> Image:
    """The Ray image (built on first use) in containerd under every name of RAY_REFS (ctr = the
    command and its global flags, as import_image takes them)."""
    image = ray_image()
    import_image(ctr, image, aliases=RAY_REFS[1:])
    return image
