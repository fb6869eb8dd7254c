"""The stand-in for the Dockerfile's python base (`python:3.11.14-slim-bookworm`): Debian 12's
own packages, bootstrapped with debootstrap, slimmed as Debian's slim images are, and kept in
buildah's storage under the names the FROM lines use.

Its key hashes everything that decides its content (suite, packages, the machine's apt sources
and extra CA certificates, the recipe), so the stand-in is bootstrapped once per change of them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import ComponentError
from ..procs import say
from .buildah import Buildah, all_image_ids, bud, confined, local_images
from .cache import RECIPE, build_lock, images_dir, log_file
from .dockerfile import from_images
from .tools import no_mounts_left, remove_tree, require, run_tool

REPO = Path(__file__).resolve().parents[2]

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


def base_inputs() -> tuple[dict[str, str], dict[str, bytes], str]:
    """The machine's mirrors and CA certificates, and the key of the stand-in made from them."""
    mirrors = debian_mirrors(_host_apt_sources())
    cas = _host_cas()
    return mirrors, cas, base_key(deb822_sources(mirrors), cas)


def base_names(dockerfile: Path) -> list[str]:
    """The names the Dockerfile's FROM lines give its base, refused unless the stand-in can be
    each of them."""
    names = from_images(dockerfile.read_text())
    problems = [p for p in map(stand_in_problem, names) if p]
    if problems or not names:
        raise ComponentError("python base", "no local stand-in: " + "; ".join(problems or
                             [f"{dockerfile} names no base image"]), None)
    return names


def python_base(dockerfile: Path | None = None) -> str:
    """Make the Dockerfile's python base image (docker.io/library/python:3.11.14-slim-bookworm)
    exist in buildah's storage, bootstrapped from Debian's packages; returns its name."""
    names = base_names(dockerfile or REPO / "Dockerfile")
    require()
    with build_lock():
        ensure_base(names)
    return names[0]


def ensure_base(names: Sequence[str]) -> None:
    """The stand-in of the current key, tagged as each of `names` (call it under the build lock)."""
    mirrors, cas, key = base_inputs()
    tag = f"{BASE_REPO}:{key}"
    bh = confined()
    log = log_file("base", fresh=False)
    local = local_images(bh, log)
    rebuilt = tag not in local
    if rebuilt:
        _build_base(bh, tag, mirrors, cas)
        local = local_images(bh, log)
    for name in names:
        if local.get(name) != local[tag]:
            bh.run("buildah tag", ["tag", tag, name], "python base", log)
    if rebuilt:
        # Every other image was built on an older base (the project's cached layers included) or
        # is the pause image, whose archive is all that is used: none can serve again.
        stale = all_image_ids(bh, log) - {local[tag]}
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


def _build_base(bh: Buildah, tag: str, mirrors: dict[str, str], cas: dict[str, bytes]) -> None:
    say(f"building the python base image from Debian {SUITE} (first use; this takes minutes)")
    started = time.monotonic()
    log = log_file("base", fresh=True)
    work = images_dir() / "tmp" / f"base.{os.getpid()}"
    rootfs, context = work / "rootfs", work / "context"
    remove_tree(work, "python base", log)
    context.mkdir(parents=True)
    try:
        with no_mounts_left(images_dir(), "debootstrap", log):
            try:
                # In a mount namespace of its own: the /proc and /sys it mounts in the target can
                # never outlive it, even when it dies half-way.
                run_tool("debootstrap", ["unshare", "--mount", "--propagation", "private",
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
        run_tool("tar", ["tar", "--numeric-owner", "--sort=name", "-C", str(rootfs), "-cf",
                         str(context / "rootfs.tar"), "."], "python base", log)
        remove_tree(rootfs, "python base", log)
        (context / "Dockerfile").write_text(BASE_DOCKERFILE)
        bud(bh, "python base", log, context, tag, ["--squash"])
    finally:
        remove_tree(work, "python base", log)
    say(f"built the python base image in {time.monotonic() - started:.0f}s")
