"""The image builder's pure parts: names, FROM lines, .dockerignore, apt sources, cache keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.images.containerd import aliases_to_tag, parse_ctr_images
from devcluster.images.debian import BASE_PACKAGES, base_key, deb822_sources, debian_mirrors, stand_in_problem
from devcluster.images.dockerfile import (
    context_digest,
    context_files,
    from_images,
    is_ignored,
    normalize_ref,
    parse_dockerignore,
)
from devcluster.images.pause import pause_version_define

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize(("name", "full"), [
    ("python:3.11.14-slim-bookworm", "docker.io/library/python:3.11.14-slim-bookworm"),
    ("kuberay-api:dev-0123", "docker.io/library/kuberay-api:dev-0123"),
    ("pause", "docker.io/library/pause:latest"),
    ("rayproject/ray:2.9", "docker.io/rayproject/ray:2.9"),
    ("registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10.2"),
    ("localhost/base:abc", "localhost/base:abc"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("index.docker.io/library/python:3.11", "docker.io/library/python:3.11"),
])
def test_names_are_normalized_as_buildah_and_containerd_store_them(name: str, full: str) -> None:
    assert normalize_ref(name) == full


def test_the_repository_dockerfile_names_one_base_the_stand_in_replaces() -> None:
    names = from_images((ROOT / "Dockerfile").read_text())
    assert names == ["docker.io/library/python:3.11.14-slim-bookworm"]
    assert stand_in_problem(names[0]) is None


def test_stages_scratch_flags_and_continuations_are_not_images() -> None:
    text = ("# FROM commented:1\nFROM --platform=linux/amd64 \\\n  python:3.11-slim-bookworm AS build\n"
            "FROM build AS test\nfrom scratch\nFROM python:3.11-slim-bookworm\n")
    assert from_images(text) == ["docker.io/library/python:3.11-slim-bookworm"]


@pytest.mark.parametrize(("ref", "problem"), [
    ("docker.io/library/python:3.12.1-slim-bookworm", "Python 3.12"),
    ("docker.io/library/python:3.11-slim-trixie", "trixie"),
    ("docker.io/library/debian:bookworm", "not a python"),
])
def test_a_base_the_stand_in_cannot_replace_is_refused(ref: str, problem: str) -> None:
    assert problem in (stand_in_problem(ref) or "")


def test_dockerignore_allowlist_as_docker_reads_it() -> None:
    patterns = parse_dockerignore((ROOT / ".dockerignore").read_text())
    assert not is_ignored("app/k8s/gateway.py", patterns)
    assert not is_ignored("requirements.txt", patterns)
    assert is_ignored("app/__pycache__/k8s.cpython-311.pyc", patterns)
    assert is_ignored("tests/conftest.py", patterns)
    assert is_ignored(".venv/bin/python", patterns)
    assert is_ignored("Dockerfile", patterns)


def test_star_stops_at_a_slash_and_double_star_crosses_it() -> None:
    patterns = parse_dockerignore("docs/*.md\n**/*.log\n/build/\n!docs/keep.md\n")
    assert is_ignored("docs/a.md", patterns)
    assert not is_ignored("docs/sub/a.md", patterns)
    assert is_ignored("a/b/c.log", patterns)
    assert is_ignored("c.log", patterns)
    assert is_ignored("build/out.bin", patterns)  # a leading slash means the context's root
    assert not is_ignored("docs/keep.md", patterns)


def test_the_context_holds_what_the_ignore_file_lets_in(tmp_path: Path) -> None:
    for rel in ("Dockerfile", "app/a.py", "app/__pycache__/a.pyc", "notes/x.md", "wsgi.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".dockerignore").write_text("*\n!app/\n!wsgi.py\n**/__pycache__\n")
    patterns = parse_dockerignore((tmp_path / ".dockerignore").read_text())
    assert context_files(tmp_path, patterns) == ["app", "app/a.py", "wsgi.py"]


def test_the_context_key_follows_content_and_modes_not_times(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim-bookworm\n")
    (tmp_path / ".dockerignore").write_text("*\n!app.py\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "ignored.py").write_text("x\n")
    first = context_digest(tmp_path)
    (tmp_path / "ignored.py").write_text("y\n")
    (tmp_path / "app.py").touch()
    assert context_digest(tmp_path) == first
    (tmp_path / "app.py").chmod(0o755)
    assert context_digest(tmp_path) != first
    (tmp_path / "app.py").chmod(0o644)
    (tmp_path / "app.py").write_text("print(2)\n")
    assert context_digest(tmp_path) != first


def test_the_repository_context_leaves_out_tests_and_the_venv() -> None:
    patterns = parse_dockerignore((ROOT / ".dockerignore").read_text())
    files = context_files(ROOT, patterns)
    assert "wsgi.py" in files
    assert "requirements.txt" in files
    assert "openapi" in files
    assert not [f for f in files if f.startswith((".venv", "tests", ".git", "devcluster"))]


DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security/
Suites: bookworm-security
Components: main contrib
"""


def test_mirrors_come_from_deb822_sources() -> None:
    assert debian_mirrors({"debian.sources": DEB822}) == {
        "bookworm": "http://mirror.example/debian",
        "bookworm-updates": "http://mirror.example/debian",
        "bookworm-security": "http://mirror.example/debian-security",
    }


def test_mirrors_come_from_one_line_sources_and_skip_other_archives() -> None:
    text = ("# deb http://commented.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] https://deb.nodesource.com/node_20.x nodistro main\n"
            "deb-src http://src.example/debian bookworm main\n"
            "deb http://one.example/debian bookworm main contrib\n")
    assert debian_mirrors({"sources.list": text}) == {"bookworm": "http://one.example/debian"}


def test_without_sources_the_mirror_is_deb_debian_org() -> None:
    assert debian_mirrors({}) == {"bookworm": "http://deb.debian.org/debian"}
    disabled = DEB822.replace("Types: deb\nURIs: http://mirror.example/debian\n",
                              "Enabled: no\nTypes: deb\nURIs: http://mirror.example/debian\n")
    assert debian_mirrors({"x.sources": disabled})["bookworm"] == "http://deb.debian.org/debian"


def test_the_image_sources_group_suites_by_archive() -> None:
    text = deb822_sources(debian_mirrors({"debian.sources": DEB822}))
    assert text.count("Types: deb") == 2
    assert "Suites: bookworm bookworm-updates\n" in text
    assert "URIs: http://mirror.example/debian-security\nSuites: bookworm-security\n" in text


def test_the_base_key_follows_sources_and_certificates() -> None:
    key = base_key("sources", {"a.crt": b"one"})
    assert key == base_key("sources", {"a.crt": b"one"})
    assert key != base_key("sources", {"a.crt": b"two"})
    assert key != base_key("sources", {})
    assert key != base_key("other sources", {"a.crt": b"one"})
    assert key != base_key("sources", {"a.crt": b"one"}, packages=(*BASE_PACKAGES, "curl"))


def test_the_pause_version_is_the_tag_and_the_kubernetes_release() -> None:
    assert pause_version_define("registry.k8s.io/pause:3.10.2", "v1.37.2") == "v3.10.2-v1.37.2"


def test_ctr_listing_gives_ref_and_manifest_digest() -> None:
    listing = (
        "REF                          TYPE                                                 DIGEST      SIZE      PLATFORMS   LABELS\n"
        "registry.k8s.io/pause:3.10.2 application/vnd.docker.distribution.manifest.v2+json sha256:1a88 678.3 KiB linux/amd64 -\n"
    )
    assert parse_ctr_images(listing) == {"registry.k8s.io/pause:3.10.2": "sha256:1a88"}
    assert parse_ctr_images("REF TYPE DIGEST SIZE PLATFORMS LABELS\n") == {}


def test_only_the_aliases_that_name_something_else_are_tagged() -> None:
    refs = {"docker.io/rayproject/ray:2.46.0": "sha256:new", "docker.io/rayproject/ray:2.7.0": "sha256:new",
            "docker.io/rayproject/ray:2.9": "sha256:old"}
    aliases = ["docker.io/rayproject/ray:2.7.0", "docker.io/rayproject/ray:2.9", "docker.io/rayproject/ray:2.40.0"]
    assert aliases_to_tag(refs, "docker.io/rayproject/ray:2.46.0", aliases) == aliases[1:]
    refs |= dict.fromkeys(aliases, "sha256:new")
    assert aliases_to_tag(refs, "docker.io/rayproject/ray:2.46.0", aliases) == []
