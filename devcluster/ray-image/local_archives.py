"""Local archives: Ray's runtime_env fetches a remote URI listed in the image's index from the
image instead of the network.

The user guide's RayService names `working_dir` archives on GitHub, which the real node's pods
cannot reach. The image holds a copy of each (index.json beside them: URL -> zip file name), and
`install()`, run at interpreter start by local_archives.pth, wraps Ray's
`ProtocolsProvider.download_remote_uri` so that a URI in the index is copied from the image; every
other URI is downloaded as before. (Ray's log still says "Downloading package from <URI>"; the
bytes come from the image.) Nothing of Ray is imported here: the wrapping happens when Ray itself
imports `ray._private.runtime_env.protocol`, and a Python that never does so pays for the import
of this module (sys and os only) and one string comparison per import.

`python -m local_archives --check` fetches each indexed URI through Ray and compares the bytes.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers only: the interpreter's start imports nothing more
    from typing import Any

INDEX = "/opt/local-archives/index.json"
PROTOCOL_MODULE = "ray._private.runtime_env.protocol"


def archive_for(uri: str, index: str = INDEX) -> str | None:
    """The path of the image's copy of `uri`, or None when the index does not list it."""
    import json

    try:
        with open(index) as f:
            names: dict[str, str] = json.load(f)
    except FileNotFoundError:
        return None
    name = names.get(uri)
    return os.path.join(os.path.dirname(index), name) if name else None


def wrap(provider: Any, index: str = INDEX) -> None:
    """Make `provider.download_remote_uri` (a classmethod) copy indexed URIs from the image."""
    original = provider.download_remote_uri.__func__

    def download_remote_uri(cls: Any, protocol: str, source_uri: str, dest_file: str) -> Any:
        local = archive_for(source_uri, index)
        if local is None:
            return original(cls, protocol, source_uri, dest_file)
        import shutil

        shutil.copyfile(local, dest_file)
        return None

    provider.download_remote_uri = classmethod(download_remote_uri)


class _WrappingLoader:
    """Runs the module as its own loader would, then wraps its ProtocolsProvider."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        wrap(module.ProtocolsProvider)
        uninstall()

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        return getattr(self.loader, name)


class _Finder:
    """On sys.meta_path until Ray imports its protocol module: finds that module as the other
    finders would, and has _WrappingLoader run it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != PROTOCOL_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: Any = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _WrappingLoader(spec.loader)
                return spec
        return None


_FINDER = _Finder()


def install() -> None:
    """Wrap Ray's downloads once Ray imports its protocol module (now, if it already has)."""
    module = sys.modules.get(PROTOCOL_MODULE)
    if module is not None:
        wrap(module.ProtocolsProvider)
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def check(index: str = INDEX) -> None:
    """Fetch every indexed URI through Ray and compare it with the image's copy."""
    import importlib
    import json
    import tempfile
    from urllib.parse import urlparse

    provider = importlib.import_module(PROTOCOL_MODULE).ProtocolsProvider
    with open(index) as f:
        uris = list(json.load(f))
    for uri in uris:
        local = archive_for(uri, index)
        with tempfile.TemporaryDirectory() as tmp, open(str(local), "rb") as copy:
            dest = os.path.join(tmp, "archive.zip")
            provider.download_remote_uri(urlparse(uri).scheme, uri, dest)
            with open(dest, "rb") as fetched:
                if fetched.read() != copy.read():
                    raise SystemExit(f"{uri}: Ray did not fetch the image's copy {local}")
        print(f"{uri} -> {local}")


if __name__ == "__main__" and sys.argv[1:] == ["--check"]:
    check()
