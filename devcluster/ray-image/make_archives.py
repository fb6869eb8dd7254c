"""At image build: a zip of apps/ for each URL of archive-urls.txt, laid out as GitHub's archive at
that URL is (one top folder, `<repo>-<ref>/`, which Ray strips from a remote working_dir), and the
index local_archives.py reads (URL -> zip file name).

Usage: make_archives.py <recipe folder> <destination folder>
"""
from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path

# A fixed time for every entry: the same apps give the same bytes, whenever they are built.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def top_folder(url: str) -> str:
    """The folder GitHub puts an archive's files in: https://github.com/o/repo/archive/ref.zip
    holds repo-ref/."""
    match = re.fullmatch(r"https://github\.com/[^/]+/([^/]+)/archive/([^/]+)\.zip", url)
    if not match:
        raise ValueError(f"{url} is not a GitHub archive URL (https://github.com/<owner>/<repo>/archive/<ref>.zip)")
    return f"{match.group(1)}-{match.group(2)}"


def read_urls(text: str) -> list[str]:
    """One URL a line; blank lines and # comments are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def write_archive(url: str, sources: list[Path], dest: Path) -> Path:
    """dest/<top folder>.zip holding `sources` under the top folder; returns its path."""
    top = top_folder(url)
    archive = dest / f"{top}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        folder = zipfile.ZipInfo(f"{top}/", ZIP_TIME)
        folder.external_attr = (0o40755 << 16) | 0x10  # a directory, as GitHub's archives list it
        zf.writestr(folder, b"")
        for source in sorted(sources, key=lambda p: p.name):
            info = zipfile.ZipInfo(f"{top}/{source.name}", ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, source.read_bytes())
    return archive


def make_archives(recipe: Path, dest: Path) -> dict[str, str]:
    """Every archive of recipe/archive-urls.txt in `dest`, and dest/index.json; returns the index."""
    dest.mkdir(parents=True, exist_ok=True)
    sources = sorted((recipe / "apps").glob("*.py"))
    index = {url: write_archive(url, sources, dest).name
             for url in read_urls((recipe / "archive-urls.txt").read_text())}
    (dest / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


if __name__ == "__main__":
    for url, name in make_archives(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(f"{url} -> {name}")
