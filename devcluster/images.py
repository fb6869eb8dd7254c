"""Container images for the real node, built here with buildah: no image registry is reachable.

Three images, each cached outside the repo under a key that hashes what decides its content:

- a stand-in for the Dockerfile's `python:3.11.14-slim-bookworm`, bootstrapped from Debian 12's
  own packages and stored in buildah's storage under the name the FROM lines use;
- the project image, `buildah bud` of the Dockerfile, saved as a docker-archive tarball;
- the pod sandbox ("pause") image, Kubernetes' own pause.c compiled and put alone in an image.

Buildah keeps its storage, policy, registries and containers.conf files under the cache too and
runs in a mount namespace of its own (what it mounts dies with it; what it would write to
/var/lib or /var/tmp lands elsewhere), so the system's /var/lib/containers, /etc/cni and
/var/tmp are never touched, no mount outlives a build and no build asks a registry for anything.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import build, versions
from .errors import ComponentError

REPO = Path(__file__).resolve().parents[1]
# Bump when the way an image is made changes: every cached image is then rebuilt once.
RECIPE = "1"

SUITE = "bookworm"
# The only Python a Debian suite ships: the stand-in can replace a python image of that version.
SUITE_PYTHON = {"bookworm": "3.11"}
# python-is-python3 gives `python`, python3-venv gives `python -m venv` (with pip in the venv);
# netbase (/etc/services, /etc/protocols) and tzdata as the official python images install them.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "netbase", "tzdata")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = Path("/etc/apt")
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_REPO = "localhost/kuberay-api-python-base"

PROJECT_REPO = "docker.io/library/kuberay-api"
KEEP_PROJECT_IMAGES = 3  # a code change makes a new one; older ones only fill the disk

# What Debian's slim images leave out (their /etc/dpkg/dpkg.cfg.d/docker): kept out of later
# installs by the same dpkg configuration, and deleted from what debootstrap installed.
SLIM_DPKG_CFG = """\
# The slim variant, as in Debian's slim images: documentation and translations stay out.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""
# apt in the image (and in the builds FROM it) fetches no translations: 6 MB less per update.
APT_CONF = 'Acquire::Languages "none";\n'
PIP_CONF = f"""\
# pip trusts what the system trusts (the machine's extra CA certificates included), not certifi.
[global]
cert = {SYSTEM_BUNDLE}
"""
BASE_DOCKERFILE = """\
FROM scratch
ADD rootfs.tar /
RUN update-ca-certificates \\
 && apt-get -o Acquire::Retries=3 update \\
 && DEBIAN_FRONTEND=noninteractive apt-get -y -o Acquire::Retries=3 upgrade \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
CMD ["python3"]
"""
PAUSE_DOCKERFILE = """\
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
"""
POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'
REGISTRIES_CONF = """\
# Written by devcluster/images.py. Builds use --pull=never: this only says how a short name
# (python:3.11...) is spelt in local storage (docker.io/library/python:3.11...).
unqualified-search-registries = ["docker.io"]
"""


@dataclass(frozen=True)
class Image:
    """A built image: its name, the docker-archive tarball holding it, and its image ID (the
    digest of its config), which is what decides whether containerd already has it."""

    ref: str
    archive: Path
    id: str


# ---------------------------------------------------------------------------------------------
# Pure helpers: image names, FROM lines, .dockerignore, apt sources, cache keys.


def normalize_ref(name: str) -> str:
    """The full name buildah and containerd store `name` under: python:3.11 is
    docker.io/library/python:3.11, pause is docker.io/library/pause:latest."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if "@" not in path and ":" not in path.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{domain}/{path}"


def from_images(dockerfile: str) -> list[str]:
    """The external images the FROM lines name, normalized, in order and without repeats
    (`scratch` and earlier stages' names are not images)."""
    text = re.sub(r"\\[ \t]*\r?\n", " ", dockerfile)
    stages: set[str] = set()
    images: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if not args:
            continue
        name = args[0]
        if name.lower() != "scratch" and name.lower() not in stages and normalize_ref(name) not in images:
            images.append(normalize_ref(name))
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2].lower())
    return images


def stand_in_problem(ref: str, suite: str = SUITE) -> str | None:
    """Why a Debian `suite` bootstrap cannot stand in for the image `ref`, else None."""
    match = re.fullmatch(r"docker\.io/library/python:(\d+\.\d+)(?:\.\d+)?-slim-([a-z]+)", ref)
    if not match:
        return f"{ref} is not a python:<version>-slim-<suite> image"
    if match.group(2) != suite:
        return f"{ref} is based on Debian {match.group(2)}, the stand-in on {suite}"
    if match.group(1) != SUITE_PYTHON[suite]:
        return f"{ref} has Python {match.group(1)}, Debian {suite} ships {SUITE_PYTHON[suite]}"
    return None


@dataclass(frozen=True)
class IgnorePattern:
    """One .dockerignore line: cleaned as Docker cleans it, `negated` for a `!` line."""

    text: str
    negated: bool
    regex: re.Pattern[str]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's translation (moby/patternmatcher): `*` and `?` stop at `/`, `**` crosses it."""
    out = "^"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*" and pattern[i + 1:i + 2] == "*":
            i += 2
            if pattern[i:i + 1] == "/":
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in ".+()|{}$^":
            out += "\\" + ch
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += ch
        i += 1
    return re.compile(out + "$")


def parse_dockerignore(text: str) -> list[IgnorePattern]:
    patterns: list[IgnorePattern] = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:].strip()
        if not pattern:
            continue
        pattern = posixpath.normpath(pattern)
        if pattern.startswith("/"):
            pattern = "/" + pattern.lstrip("/")
            if len(pattern) > 1:
                pattern = pattern[1:]
        patterns.append(IgnorePattern(pattern, negated, _pattern_regex(pattern)))
    return patterns


def is_ignored(path: str, patterns: Sequence[IgnorePattern]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    ignored = False
    for pattern in patterns:
        if pattern.negated != ignored:
            continue
        if any(pattern.regex.match(c) for c in candidates):
            ignored = not pattern.negated
    return ignored


def context_files(context: Path, patterns: Sequence[IgnorePattern]) -> list[str]:
    """The paths of the build context the ignore file lets in (files, links, directories), in
    order. Like Docker, an ignored directory is only entered when a `!` pattern starts with it."""
    found: list[str] = []

    def walk(rel_dir: str) -> None:
        with os.scandir(context / rel_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_ignored(rel, patterns):
                if is_dir and any(p.negated and (p.text + "/").startswith(rel + "/") for p in patterns):
                    walk(rel)
                continue
            found.append(rel)
            if is_dir:
                walk(rel)

    walk("")
    return found


def ignore_file(context: Path) -> Path:
    """Buildah reads .containerignore when there is one, else .dockerignore."""
    preferred = context / ".containerignore"
    return preferred if preferred.exists() else context / ".dockerignore"


def context_digest(context: Path) -> str:
    """Hash of what a build of `context` can see: the Dockerfile, the ignore file, and the path,
    type, permissions and content of every file it lets in (not their times)."""
    digest = hashlib.sha256()
    ignore = ignore_file(context)
    text = ignore.read_text() if ignore.exists() else ""
    for name in ("Dockerfile", ignore.name):
        path = context / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    for rel in context_files(context, parse_dockerignore(text)):
        path = context / rel
        st = path.lstat()
        if path.is_symlink():
            kind, payload = "L", os.readlink(path).encode()
        elif path.is_dir():
            kind, payload = "D", b""
        else:
            kind, payload = "F", hashlib.sha256(path.read_bytes()).digest()
        digest.update(f"{rel}\0{kind}\0{st.st_mode & 0o7777:o}\0".encode() + payload + b"\n")
    return digest.hexdigest()


def debian_mirrors(sources: dict[str, str], suite: str = SUITE) -> dict[str, str]:
    """Suite -> archive URI for `suite`, its -updates and -security, from apt sources files
    (file name -> text; one-line `.list` format or deb822 `.sources`). The suite itself always
    has one (deb.debian.org by default); the others only where the sources name them."""
    wanted = (suite, f"{suite}-updates", f"{suite}-security")
    found: dict[str, str] = {}

    def note(types: list[str], uris: list[str], suites: list[str], components: list[str]) -> None:
        if "deb" not in types or "main" not in components:
            return
        for s in suites:
            if s in wanted and uris and s not in found:
                found[s] = uris[0].rstrip("/")

    for name, text in sorted(sources.items()):
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[0].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                note(fields.get("types", "").split(), fields.get("uris", "").split(),
                     fields.get("suites", "").split(), fields.get("components", "").split())
        else:
            for line in text.splitlines():
                line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0])
                words = line.split()
                if len(words) >= 4:
                    note([words[0]], [words[1]], [words[2]], words[3:])
    found.setdefault(suite, DEFAULT_MIRROR)
    return {s: found[s] for s in wanted if s in found}


def deb822_sources(mirrors: dict[str, str]) -> str:
    """The image's /etc/apt/sources.list.d/debian.sources: one stanza per archive URI."""
    by_uri: dict[str, list[str]] = {}
    for suite, uri in mirrors.items():
        by_uri.setdefault(uri, []).append(suite)
    return "\n".join(
        f"Types: deb\nURIs: {uri}\nSuites: {' '.join(suites)}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for uri, suites in by_uri.items())


def _host_apt_sources() -> dict[str, str]:
    files = [APT_SOURCES / "sources.list", *sorted((APT_SOURCES / "sources.list.d").glob("*.list")),
             *sorted((APT_SOURCES / "sources.list.d").glob("*.sources"))]
    return {f.name: f.read_text(errors="replace") for f in files if f.is_file()}


def _host_cas() -> dict[str, bytes]:
    """The machine's extra CA certificates (update-ca-certificates only reads *.crt)."""
    if not HOST_CA_DIR.is_dir():
        return {}
    return {str(p.relative_to(HOST_CA_DIR)): p.read_bytes()
            for p in sorted(HOST_CA_DIR.rglob("*.crt")) if p.is_file()}


def base_key(sources: str, cas: dict[str, bytes], suite: str = SUITE,
             packages: Sequence[str] = BASE_PACKAGES) -> str:
    """Hash of what decides the stand-in: suite, packages, apt sources, CA files, recipe."""
    digest = hashlib.sha256(json.dumps([RECIPE, suite, sorted(packages), sources, SLIM_DPKG_CFG,
                                        APT_CONF, PIP_CONF, BASE_DOCKERFILE]).encode())
    for name, content in sorted(cas.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:16]


def project_key(context_hash: str, base: str) -> str:
    return hashlib.sha256(f"{RECIPE}\0{base}\0{context_hash}".encode()).hexdigest()[:16]


def project_ref(key: str) -> str:
    return f"{PROJECT_REPO}:dev-{key[:12]}"


def pause_version_define(image: str = versions.PAUSE_IMAGE, kubernetes: str = versions.KUBERNETES) -> str:
    """What build/pause/Makefile passes as -DVERSION (v$(TAG)-$(REV)), the git revision being
    the Kubernetes release the source comes from."""
    return f"v{image.rsplit(':', 1)[1]}-{kubernetes}"


def parse_ctr_images(listing: str) -> dict[str, str]:
    """`ctr images ls` -> ref: manifest digest."""
    refs: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        words = line.split()
        if len(words) >= 3 and words[2].startswith("sha256:"):
            refs[words[0]] = words[2]
    return refs


# ---------------------------------------------------------------------------------------------
# Running the tools: logs, buildah's private storage, mounts, a lock.


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


def images_dir() -> Path:
    return build.cache_root() / "images"


def _log(name: str, fresh: bool) -> Path:
    log = build.cache_root() / "logs" / f"image-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        log.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return log


def _last_line(log: Path) -> str:
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
        lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else ""


def _run(what: str, cmd: Sequence[str], component: str, log: Path, *, capture: bool = False,
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
        raise ComponentError(component, f"{what} failed (exit {proc.returncode}): {_last_line(log)}", log)
    return proc.stdout.decode(errors="replace") if capture else ""


def _write_if_changed(path: Path, text: str) -> Path:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return path


# $1: an empty folder for a tmpfs, $2: the folder to see as /var/tmp; then the command. Falls
# back on an empty /var/lib where the kernel has no overlayfs (buildah reads nothing there).
_PRIVATE_VAR = (
    'mount -t tmpfs -o mode=0700,size=64m devcluster "$1" && mkdir "$1/upper" "$1/work" && '
    '{ mount -t overlay -o "lowerdir=/var/lib,upperdir=$1/upper,workdir=$1/work" devcluster /var/lib'
    ' || mount -t tmpfs -o mode=0755,size=64m devcluster /var/lib; } && '
    '{ [ ! -d /var/tmp ] || mount --bind "$2" /var/tmp; } && shift 2 && exec "$@"'
)


@dataclass(frozen=True)
class _Buildah:
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
        return _run(what, self.cmd(*args), component, log, capture=capture, env=self.env)


@functools.cache
def _buildah() -> _Buildah:
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
        return _Buildah(chosen.read_text().strip(), home)
    log = _log("storage", fresh=True)
    try:
        _Buildah("overlay", home).run("buildah images (overlay storage)", ["images", "-q"], "buildah", log)
        driver = "overlay"
    except ComponentError as exc:
        print(f"devcluster: buildah cannot use overlay storage here ({exc.reason}); using vfs, "
              "which copies every layer", file=sys.stderr, flush=True)
        driver = "vfs"
    _write_if_changed(chosen, driver + "\n")
    return _Buildah(driver, home)


def _mounts_under(top: Path) -> list[str]:
    prefix = str(top).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point.startswith(prefix):
                points.append(point)
    return points


def _unmount(points: Sequence[str], component: str, log: Path) -> None:
    for point in sorted(points, key=len, reverse=True):
        with open(log, "ab") as out:
            out.write(f"devcluster: unmounting {point}, left behind\n".encode())
        subprocess.run(["umount", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    left = [p for p in points if p in set(_mounts_under(Path("/")))]
    if left:
        raise ComponentError(component, f"cannot unmount {', '.join(left)}", log)


@contextmanager
def _no_mounts_left(component: str, log: Path) -> Iterator[None]:
    """A safety net: buildah and debootstrap mount in namespaces of their own, so nothing of
    theirs should ever appear here; whatever the step still left mounted under the cache is
    unmounted when it ends, even on failure."""
    top = images_dir()
    before = set(_mounts_under(top))
    try:
        yield
    finally:
        left = [p for p in _mounts_under(top) if p not in before]
        if left:
            _unmount(left, component, log)


def _remove_tree(path: Path, component: str, log: Path) -> None:
    """rmtree, but never through a mount (a bind-mounted /dev in a chroot would be the host's)."""
    if not path.exists():
        return
    inside = _mounts_under(path)
    if inside:
        _unmount(inside, component, log)
    shutil.rmtree(path)


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time in this cache: two would debootstrap or build the same thing twice,
    and a failed build removes every working container of buildah's (private) storage. Whatever
    temporary folder is there when the lock is taken was left by a build that died."""
    images_dir().mkdir(parents=True, exist_ok=True)
    with open(images_dir() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            log = _log("cleanup", fresh=False)
            stale = [*(images_dir() / "tmp").glob("*"), *images_dir().glob("project/*.tmp[0-9]*"),
                     *images_dir().glob("pause/*.tmp[0-9]*")]
            for path in stale:
                if path.is_dir():
                    _remove_tree(path, "images", log)
                else:
                    path.unlink()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _require() -> None:
    reason = unavailable()
    if reason:
        raise ComponentError("images", reason, None)


def _local_images(bh: _Buildah, log: Path) -> dict[str, str]:
    """Name -> image ID of every image in buildah's storage."""
    out = bh.run("buildah images", ["images", "--json", "--no-trunc"], "buildah", log, capture=True)
    return {name: str(image["id"]).removeprefix("sha256:")
            for image in json.loads(out or "[]") for name in image.get("names") or []}


def _all_image_ids(bh: _Buildah, log: Path) -> set[str]:
    """Every image in buildah's storage, the intermediate ones of layered builds included."""
    out = bh.run("buildah images", ["images", "--all", "--json", "--no-trunc"], "buildah", log, capture=True)
    return {str(image["id"]).removeprefix("sha256:") for image in json.loads(out or "[]")}


def _remove_containers(bh: _Buildah, component: str, log: Path) -> None:
    """A failed build can leave a working container: remove it (the storage is ours alone)."""
    if bh.run("buildah containers", ["containers", "-q"], component, log, capture=True).strip():
        bh.run("buildah rm", ["rm", "--all"], component, log)


def _bud(bh: _Buildah, component: str, log: Path, context: Path, tag: str,
         extra: Sequence[str] = ()) -> str:
    """`buildah bud` of context/Dockerfile (chroot isolation, host network, no registry);
    returns the image ID."""
    iidfile = images_dir() / "tmp" / f"iid-{component.replace(' ', '-')}.{os.getpid()}"
    iidfile.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _no_mounts_left(component, log):
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


def _save(bh: _Buildah, component: str, log: Path, image_id: str, ref: str, dest: Path) -> Image:
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
    return _load(dest)


def _load(dest: Path) -> Image:
    meta = json.loads((dest / "image.json").read_text())
    return Image(ref=str(meta["ref"]), archive=dest / "image.tar", id=str(meta["id"]))


# ---------------------------------------------------------------------------------------------
# The stand-in python base.


def _base_inputs() -> tuple[dict[str, str], dict[str, bytes], str]:
    mirrors = debian_mirrors(_host_apt_sources())
    cas = _host_cas()
    return mirrors, cas, base_key(deb822_sources(mirrors), cas)


def _base_names(dockerfile: Path) -> list[str]:
    names = from_images(dockerfile.read_text())
    problems = [p for p in map(stand_in_problem, names) if p]
    if problems or not names:
        raise ComponentError("python base", "no local stand-in: " + "; ".join(problems or
                             [f"{dockerfile} names no base image"]), None)
    return names


def python_base(dockerfile: Path | None = None) -> str:
    """Make the Dockerfile's python base image (docker.io/library/python:3.11.14-slim-bookworm)
    exist in buildah's storage, bootstrapped from Debian's packages; returns its name."""
    names = _base_names(dockerfile or REPO / "Dockerfile")
    _require()
    with _build_lock():
        _ensure_base(names)
    return names[0]


def _ensure_base(names: Sequence[str]) -> None:
    mirrors, cas, key = _base_inputs()
    tag = f"{BASE_REPO}:{key}"
    bh = _buildah()
    log = _log("base", fresh=False)
    local = _local_images(bh, log)
    rebuilt = tag not in local
    if rebuilt:
        _build_base(bh, tag, mirrors, cas)
        local = _local_images(bh, log)
    for name in names:
        if local.get(name) != local[tag]:
            bh.run("buildah tag", ["tag", tag, name], "python base", log)
    if rebuilt:
        # Every other image was built on an older base (the project's cached layers included) or
        # is the pause image, whose archive is all that is used: none can serve again.
        stale = _all_image_ids(bh, log) - {local[tag]}
        if stale:
            bh.run("buildah rmi", ["rmi", "--force", *sorted(stale)], "python base", log)


def _slim(rootfs: Path, mirrors: dict[str, str], cas: dict[str, bytes]) -> None:
    """What debootstrap leaves that an image should not hold (downloaded packages, apt lists,
    the host's resolv.conf and hostname, device nodes, documentation), and the image's own
    apt sources, dpkg excludes, CA certificates and pip.conf."""
    def clear(directory: Path, keep: Sequence[str] = ()) -> None:
        if not directory.is_dir() or directory.is_symlink():
            return
        for child in directory.iterdir():
            if child.name in keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    for directory in ("dev", "var/lib/apt/lists", "var/cache/apt", "usr/share/man",
                      "usr/share/groff", "usr/share/info", "usr/share/lintian", "usr/share/linda",
                      "usr/share/locale"):
        clear(rootfs / directory)
    for log in (rootfs / "var/log").rglob("*"):
        if log.is_file():
            log.unlink()
    docs = rootfs / "usr/share/doc"
    if docs.is_dir():
        for package in docs.iterdir():
            if package.is_dir() and not package.is_symlink():
                clear(package, keep=("copyright",))
            else:
                package.unlink()
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    for name in ("etc/resolv.conf", "etc/hostname", "etc/apt/sources.list"):
        (rootfs / name).unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(deb822_sources(mirrors))
    (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(SLIM_DPKG_CFG)
    (rootfs / "etc/apt/apt.conf.d/docker-no-languages").write_text(APT_CONF)
    (rootfs / "etc/pip.conf").write_text(PIP_CONF)
    for name, content in cas.items():
        target = rootfs / "usr/local/share/ca-certificates" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o644)


def _build_base(bh: _Buildah, tag: str, mirrors: dict[str, str], cas: dict[str, bytes]) -> None:
    print(f"devcluster: building the python base image from Debian {SUITE} (first use; this takes "
          "minutes)", file=sys.stderr, flush=True)
    started = time.monotonic()
    log = _log("base", fresh=True)
    work = images_dir() / "tmp" / f"base.{os.getpid()}"
    rootfs, context = work / "rootfs", work / "context"
    _remove_tree(work, "python base", log)
    context.mkdir(parents=True)
    try:
        with _no_mounts_left("debootstrap", log):
            try:
                # In a mount namespace of its own: the /proc and /sys it mounts in the target can
                # never outlive it, even when it dies half-way.
                _run("debootstrap", ["unshare", "--mount", "--propagation", "private",
                                     "debootstrap", "--variant=minbase", "--components=main",
                                     "--include=" + ",".join(BASE_PACKAGES), SUITE, str(rootfs),
                                     mirrors[SUITE]], "debootstrap", log, env=bh.env)
            except ComponentError:
                inner = rootfs / "debootstrap" / "debootstrap.log"
                if inner.exists():
                    with open(log, "ab") as out:
                        out.write(b"--- debootstrap.log ---\n" + inner.read_bytes())
                raise
        _slim(rootfs, mirrors, cas)
        _run("tar", ["tar", "--numeric-owner", "--sort=name", "-C", str(rootfs), "-cf",
                     str(context / "rootfs.tar"), "."], "python base", log)
        _remove_tree(rootfs, "python base", log)
        (context / "Dockerfile").write_text(BASE_DOCKERFILE)
        _bud(bh, "python base", log, context, tag, ["--squash"])
    finally:
        _remove_tree(work, "python base", log)
    print(f"devcluster: built the python base image in {time.monotonic() - started:.0f}s",
          file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The project image and the pause image.


def project_image(context: Path) -> Image:
    """The image of the Dockerfile in `context`, as a docker-archive in the cache. Built only when
    the files the build can see (or the base) changed; a warm call only hashes the context."""
    context = context.resolve()
    _, _, base = _base_inputs()
    key = project_key(context_digest(context), base)
    dest = images_dir() / "project" / key
    if (dest / "image.json").exists():
        return _load(dest)
    names = _base_names(context / "Dockerfile")
    _require()
    with _build_lock():
        if (dest / "image.json").exists():
            return _load(dest)
        _ensure_base(names)
        ref = project_ref(key)
        print(f"devcluster: building image {ref}", file=sys.stderr, flush=True)
        started = time.monotonic()
        bh = _buildah()
        log = _log("project", fresh=True)
        image_id = _bud(bh, "project image", log, context, ref, ["--layers", "--force-rm"])
        image = _save(bh, "project image", log, image_id, ref, dest)
        _prune_projects(bh, log, keep=dest)
    print(f"devcluster: built {ref} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return image


def _prune_projects(bh: _Buildah, log: Path, keep: Path) -> None:
    """Keep the newest project images only (buildah keeps the layers the next build reuses)."""
    built = sorted((d for d in (images_dir() / "project").iterdir() if (d / "image.json").exists()),
                   key=lambda d: (d == keep, (d / "image.json").stat().st_mtime), reverse=True)
    for old in built[KEEP_PROJECT_IMAGES:]:
        ref = _load(old).ref
        shutil.rmtree(old)
        try:
            bh.run("buildah rmi", ["rmi", ref], "project image", log)
        except ComponentError:
            pass  # already gone from the storage: the archive was all that mattered


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
    if (dest / "image.json").exists():
        return _load(dest)
    _require()
    with _build_lock():
        if (dest / "image.json").exists():
            return _load(dest)
        print(f"devcluster: building image {versions.PAUSE_IMAGE}", file=sys.stderr, flush=True)
        started = time.monotonic()
        bh = _buildah()
        log = _log("pause", fresh=True)
        context = images_dir() / "tmp" / f"pause.{os.getpid()}"
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        try:
            _run("gcc pause.c", ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION={define}",
                                 "-o", str(context / "pause"), str(source)], "pause image", log)
            _run("strip pause", ["strip", str(context / "pause")], "pause image", log)
            (context / "Dockerfile").write_text(PAUSE_DOCKERFILE)
            image_id = _bud(bh, "pause image", log, context, versions.PAUSE_IMAGE)
            image = _save(bh, "pause image", log, image_id, versions.PAUSE_IMAGE, dest)
        finally:
            shutil.rmtree(context, ignore_errors=True)
    print(f"devcluster: built {versions.PAUSE_IMAGE} in {time.monotonic() - started:.1f}s",
          file=sys.stderr, flush=True)
    return image


# ---------------------------------------------------------------------------------------------
# containerd.


def _imported(ctr: Sequence[str], image: Image, log: Path) -> bool:
    """Whether containerd lists image.ref with a manifest whose config is image.id. (The manifest
    digest is containerd's own: it writes the manifest when it imports a docker-archive.)"""
    listing = _run("ctr images ls", [*ctr, "images", "ls"], "containerd", log, capture=True)
    digest = parse_ctr_images(listing).get(image.ref)
    if digest is None:
        return False
    manifest = _run("ctr content get", [*ctr, "content", "get", digest], "containerd", log, capture=True)
    try:
        return bool(json.loads(manifest)["config"]["digest"] == image.id)
    except (ValueError, KeyError, TypeError):
        return False


def import_image(ctr: list[str], image: Image) -> None:
    """Import the image's archive into containerd (ctr = the command and its global flags, e.g.
    ["ctr", "--address", sock, "-n", "k8s.io"]) unless it already holds that ref and image."""
    log = _log(f"import-{image.ref.rsplit('/', 1)[-1].partition(':')[0]}", fresh=False)
    if _imported(ctr, image, log):
        return
    print(f"devcluster: importing {image.ref} into containerd", file=sys.stderr, flush=True)
    _run("ctr images import", [*ctr, "images", "import", str(image.archive)], "containerd", log)
    if not _imported(ctr, image, log):
        raise ComponentError("containerd", f"{image.ref} is not listed with image ID {image.id} after "
                             "its import", log)
