"""The pod sandbox ("pause") image: Kubernetes' own pause.c compiled and put alone in an image,
keyed by the compiler, the source and the recipe."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time

from .. import build, versions
from ..errors import ComponentError
from ..procs import say
from .buildah import Image, bud, cached, confined, save
from .cache import RECIPE, images_dir, log_file
from .tools import run_tool

PAUSE_DOCKERFILE = """\
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
"""


def pause_version_define(image: str = versions.PAUSE_IMAGE, kubernetes: str = versions.KUBERNETES) -> str:
    """What build/pause/Makefile passes as -DVERSION (v$(TAG)-$(REV)), the git revision being
    the Kubernetes release the source comes from."""
    return f"v{image.rsplit(':', 1)[1]}-{kubernetes}"


def pause_image() -> Image:
    """versions.PAUSE_IMAGE built from the Kubernetes module's build/pause/linux/pause.c, as
    build/pause/Makefile and Dockerfile make it: static, stripped, alone, user 65535."""
    source = build.module_dir("kubernetes", "k8s.io/kubernetes") / "build" / "pause" / "linux" / "pause.c"
    if shutil.which("gcc") is None:
        raise ComponentError("pause image", "gcc is not installed (Debian packages: gcc libc6-dev)", None)
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.partition("\n")[0]
    define = pause_version_define()
    digest = hashlib.sha256(json.dumps([RECIPE, gcc, versions.PAUSE_IMAGE, define,
                                        PAUSE_DOCKERFILE]).encode() + source.read_bytes())
    dest = images_dir() / "pause" / digest.hexdigest()[:16]

    def make() -> Image:
        say(f"building image {versions.PAUSE_IMAGE}")
        started = time.monotonic()
        bh = confined()
        log = log_file("pause", fresh=True)
        context = images_dir() / "tmp" / f"pause.{os.getpid()}"
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        try:
            run_tool("gcc pause.c", ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION={define}",
                                     "-o", str(context / "pause"), str(source)], "pause image", log)
            run_tool("strip pause", ["strip", str(context / "pause")], "pause image", log)
            (context / "Dockerfile").write_text(PAUSE_DOCKERFILE)
            image_id = bud(bh, "pause image", log, context, versions.PAUSE_IMAGE)
            image = save(bh, "pause image", log, image_id, versions.PAUSE_IMAGE, dest)
        finally:
            shutil.rmtree(context, ignore_errors=True)
        say(f"built {versions.PAUSE_IMAGE} in {time.monotonic() - started:.1f}s")
        return image

    return cached(dest, make)
