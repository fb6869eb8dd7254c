"""Container images for the real node, built here with buildah: no image registry is reachable.

Four images, each cached outside the repo under a key that hashes what decides its content:

- a stand-in for the Dockerfile's `python:3.11.14-slim-bookworm`, bootstrapped from Debian 12's
  own packages and stored in buildah's storage under the name the FROM lines use (debian.py);
- the project image, `buildah bud` of the Dockerfile, saved as a docker-archive tarball (project.py);
- the pod sandbox ("pause") image, Kubernetes' own pause.c compiled and put alone in an image
  (pause.py);
- the Ray image, Ray with Serve on the stand-in base from the recipe in devcluster/ray-image/,
  imported under every rayproject/ray name the user guide uses (ray.py).

Buildah keeps its storage, policy, registries and containers.conf files under the cache too and
runs in a mount namespace of its own (what it mounts dies with it; what it would write to
/var/lib or /var/tmp lands elsewhere), so the system's /var/lib/containers, /etc/cni and
/var/tmp are never touched, no mount outlives a build and no build asks a registry for anything
(buildah.py, tools.py).

The package, by what each module owns (each imports only those listed before it):
tools (running a tool, the mount safety net) · cache (its folder, logs, the build lock) ·
dockerfile (FROM lines, .dockerignore, the context's hash; pure) · buildah (confined buildah,
`Image`) · debian (the stand-in base) · project · pause · containerd (importing an image) · ray.
Callers use only the names below.
"""
from .buildah import Image
from .cache import images_dir
from .containerd import import_image
from .debian import python_base
from .pause import pause_image
from .project import project_image
from .ray import RAY_REFS, load_ray_image, ray_image
from .tools import unavailable

__all__ = ["RAY_REFS", "Image", "images_dir", "import_image", "load_ray_image", "pause_image", "project_image",
           "python_base", "ray_image", "unavailable"]
