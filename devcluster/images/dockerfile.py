"""What a Dockerfile and its build context say, read as Docker reads them: the images the FROM
lines name, the .dockerignore rules, and a hash of the files a build can see.

Pure: it reads files and never runs a tool or writes one; nothing here knows buildah or the cache.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


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
