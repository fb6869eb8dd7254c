"""Buildah confined to the cache, and what a build leaves there: an `Image`, a docker-archive.

Buildah keeps its storage, policy, registries and containers.conf files under the cache and
runs in a mount namespace of its own (what it mounts dies with it; what it would write to
/var/lib or /var/tmp lands elsewhere), so the system's /var/lib/containers, /etc/cni and
/var/tmp are never touched and no build asks a registry for anything.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ComponentError
from ..procs import say
from .cache import build_lock, images_dir, log_file
from .tools import no_mounts_left, require, run_tool

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'
REGISTRIES_CONF = """\
# Written by devcluster/images/buildah.py. Builds use --pull=never: this only says how a short name
# (python:3.11...) is spelt in local storage (docker.io/library/python:3.11...).
unqualified-search-registries = ["docker.io"]
"""

# $1: an empty folder for a tmpfs, $2: the folder to see as /var/tmp; then the command. Falls
# back on an empty /var/lib where the kernel has no overlayfs (buildah reads nothing there).
_PRIVATE_VAR = (
    'mount -t tmpfs -o mode=0700,size=64m devcluster "$1" && mkdir "$1/upper" "$1/work" && '
    '{ mount -t overlay -o "lowerdir=/var/lib,upperdir=$1/upper,workdir=$1/work" devcluster /var/lib'
    ' || mount -t tmpfs -o mode=0755,size=64m devcluster /var/lib; } && '
    '{ [ ! -d /var/tmp ] || mount --bind "$2" /var/tmp; } && shift 2 && exec "$@"'
)


@dataclass(frozen=True)
class Image:
    """A built image: its name, the docker-archive tarball holding it, and its image ID (the
    digest of its config), which is what decides whether containerd already has it."""

    ref: str
    archive: Path
    id: str


@dataclass(frozen=True)
class Buildah:
    """Buildah confined to the cache: its own storage, policy and registries configuration."""

    driver: str
    home: Path

    def cmd(self, *args: str) -> list[str]:
        """buildah in a mount namespace of its own, where /var/lib is an overlay whose writes go to
        a tmpfs and /var/tmp is the cache's: containers/image writes its blob-info cache to
        /var/lib/containers/cache when run as root whatever --root says, and buildah 1.28 makes
        scratch files in /var/tmp whatever TMPDIR says. What buildah mounts (layers, build
        containers) also lives and dies with that namespace."""
        root = self.home / self.driver
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _PRIVATE_VAR,
                "devcluster-buildah", str(self.home / "ns"), str(self.home / "tmp"),
                "buildah", "--root", str(root / "root"), "--runroot", str(root / "runroot"),
                "--storage-driver", self.driver,
                "--registries-conf", str(self.home / "registries.conf"),
                "--registries-conf-dir", str(self.home / "registries.conf.d"),
                "--short-name-alias-conf", str(self.home / "short-name-aliases.conf"), *args]

    @property
    def policy(self) -> list[str]:
        return ["--signature-policy", str(self.home / "policy.json")]

    @property
    def env(self) -> dict[str, str]:
        """Its temporary files, CNI lock and mount table stay in the cache too; no system
        storage.conf or containers.conf applies (CONTAINERS_CONF is then the only one read)."""
        return {**os.environ, "TMPDIR": str(self.home / "tmp"), "LIBMOUNT_UTAB": str(self.home / "utab"),
                "CONTAINERS_CONF": str(self.home / "containers.conf"),
                "CONTAINERS_STORAGE_CONF": str(self.home / f"storage-{self.driver}.conf")}

    def run(self, what: str, args: Sequence[str], component: str, log: Path, capture: bool = False) -> str:
        return run_tool(what, self.cmd(*args), component, log, capture=capture, env=self.env)


def _write_if_changed(path: Path, text: str) -> Path:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return path


@functools.cache
def confined() -> Buildah:
    """Buildah's files in the cache, and its storage driver: overlay when the kernel and file
    system allow it, else vfs (slower, bigger: each layer a full copy), chosen once."""
    home = images_dir() / "buildah"
    (home / "registries.conf.d").mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    (home / "ns").mkdir(exist_ok=True)
    (home / "cni").mkdir(exist_ok=True)
    _write_if_changed(home / "containers.conf",
                      f'[engine]\nimage_copy_tmp_dir = "{home / "tmp"}"\n'
                      f'[network]\nnetwork_config_dir = "{home / "cni"}"\n')
    _write_if_changed(home / "policy.json", POLICY_JSON)
    _write_if_changed(home / "registries.conf", REGISTRIES_CONF)
    for driver in ("overlay", "vfs"):
        root = home / driver
        _write_if_changed(home / f"storage-{driver}.conf",
                          f'[storage]\ndriver = "{driver}"\ngraphroot = "{root / "root"}"\n'
                          f'runroot = "{root / "runroot"}"\n')
    chosen = home / "driver"
    if chosen.exists() and chosen.read_text().strip() in ("overlay", "vfs"):
        return Buildah(chosen.read_text().strip(), home)
    log = log_file("storage", fresh=True)
    try:
        Buildah("overlay", home).run("buildah images (overlay storage)", ["images", "-q"], "buildah", log)
        driver = "overlay"
    except ComponentError as exc:
        say(f"buildah cannot use overlay storage here ({exc.reason}); using vfs, "
            "which copies every layer")
        driver = "vfs"
    _write_if_changed(chosen, driver + "\n")
    return Buildah(driver, home)


def local_images(bh: Buildah, log: Path) -> dict[str, str]:
    """Name -> image ID of every image in buildah's storage."""
    out = bh.run("buildah images", ["images", "--json", "--no-trunc"], "buildah", log, capture=True)
    return {name: str(image["id"]).removeprefix("sha256:")
            for image in json.loads(out or "[]") for name in image.get("names") or []}


def all_image_ids(bh: Buildah, log: Path) -> set[str]:
    """Every image in buildah's storage, the intermediate ones of layered builds included."""
    out = bh.run("buildah images", ["images", "--all", "--json", "--no-trunc"], "buildah", log, capture=True)
    return {str(image["id"]).removeprefix("sha256:") for image in json.loads(out or "[]")}


def _remove_containers(bh: Buildah, component: str, log: Path) -> None:
    """A failed build can leave a working container: remove it (the storage is ours alone)."""
    if bh.run("buildah containers", ["containers", "-q"], component, log, capture=True).strip():
        bh.run("buildah rm", ["rm", "--all"], component, log)


def bud(bh: Buildah, component: str, log: Path, context: Path, tag: str, extra: Sequence[str] = ()) -> str:
    """`buildah bud` of context/Dockerfile (chroot isolation, host network, no registry);
    returns the image ID."""
    iidfile = images_dir() / "tmp" / f"iid-{component.replace(' ', '-')}.{os.getpid()}"
    iidfile.parent.mkdir(parents=True, exist_ok=True)
    try:
        with no_mounts_left(images_dir(), component, log):
            try:
                bh.run("buildah bud", ["bud", *bh.policy, "--pull=never", "--format", "docker",
                                       "--isolation", "chroot", "--network", "host",
                                       "--iidfile", str(iidfile), "-t", tag, *extra,
                                       "-f", str(context / "Dockerfile"), str(context)],
                       component, log)
            finally:
                _remove_containers(bh, component, log)
        return iidfile.read_text().strip().removeprefix("sha256:")
    finally:
        iidfile.unlink(missing_ok=True)


def _archive_config_digest(archive: Path) -> str:
    """The config digest a docker-archive declares: the image ID containerd will see."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ValueError(f"{archive}: no manifest.json")
        manifest = json.loads(member.read())
    return "sha256:" + str(manifest[0]["Config"]).removesuffix(".json").removeprefix("sha256:")


def save(bh: Buildah, component: str, log: Path, image_id: str, ref: str, dest: Path) -> Image:
    """Write the image as dest/image.tar (docker-archive, named `ref`) with its metadata,
    through a temporary folder renamed into place."""
    if ":" in str(dest):
        raise ComponentError(component, f"the cache path {dest} holds a ':', which docker-archive "
                             "references cannot", log)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        bh.run("buildah push", ["push", *bh.policy, "--quiet", image_id,
                                f"docker-archive:{tmp / 'image.tar'}:{ref}"], component, log)
        config = _archive_config_digest(tmp / "image.tar")
        (tmp / "image.json").write_text(json.dumps({"ref": ref, "id": config}) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load(dest)


def load(dest: Path) -> Image:
    meta = json.loads((dest / "image.json").read_text())
    return Image(ref=str(meta["ref"]), archive=dest / "image.tar", id=str(meta["id"]))


def cached(dest: Path, make: Callable[[], Image]) -> Image:
    """The image archived in `dest`, else the one `make` builds and saves there, under the build
    lock (checked again once the lock is taken: another process may have built it meanwhile). A
    warm call only looks at `dest`."""
    if (dest / "image.json").exists():
        return load(dest)
    require()
    with build_lock():
        if (dest / "image.json").exists():
            return load(dest)
        return make()


def prune(bh: Buildah, component: str, log: Path, keep: Path, count: int, name: Callable[[Path], str]) -> None:
    """Keep the newest `count` archives beside `keep` (it among them); the others go, and so do
    their names in buildah's storage (`name` of each folder), whose layers the next build reuses."""
    built = sorted((d for d in keep.parent.iterdir() if (d / "image.json").exists()),
                   key=lambda d: (d == keep, (d / "image.json").stat().st_mtime), reverse=True)
    for old in built[count:]:
        ref = name(old)
        shutil.rmtree(old)
        with contextlib.suppress(ComponentError):  # already gone from the storage: the archive was all that mattered
            bh.run("buildah rmi", ["rmi", ref], component, log)
