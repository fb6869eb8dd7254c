"""The Ray image's pure parts: its cache key, its tags, the guide's working_dir archives (their
layout and the index Ray's downloads are served from) and the Serve apps' deployment names."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from devcluster.images.dockerfile import context_digest, normalize_ref
from devcluster.images.ray import RAY_RECIPE, RAY_REFS, ray_key
from tests.support.fixture_pairs import FIXTURES, load, seeds

ROOT = Path(__file__).parents[3]
GUIDE_REQUESTS = [load(p).get("request") for p in seeds()]


def _recipe_module(name: str) -> ModuleType:
    """A module of the recipe folder (not a package: the image build runs its files)."""
    spec = importlib.util.spec_from_file_location(name, RAY_RECIPE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_archives = _recipe_module("make_archives")
local_archives = _recipe_module("local_archives")


def _guide_apps() -> dict[str, set[str]]:
    """import path -> the deployment names the guide's RayServices give it (V2 and V1 specs)."""
    apps: dict[str, set[str]] = {}
    for request in GUIDE_REQUESTS:
        if isinstance(request, dict) and request.get("serveConfigV2"):
            for app in yaml.safe_load(request["serveConfigV2"])["applications"]:
                apps.setdefault(app["import_path"], set()).update(d["name"] for d in app.get("deployments", []))
        graph = request.get("serveDeploymentGraphSpec") if isinstance(request, dict) else None
        if graph:
            apps.setdefault(graph["importPath"], set()).update(c["deploymentName"] for c in graph["serveConfigs"])
    return apps


def _guide_working_dirs() -> set[str]:
    text = json.dumps(GUIDE_REQUESTS)
    return set(re.findall(r"https://github\.com/[\w./-]+\.zip", text))


# -- the cache key -----------------------------------------------------------------------------------

def test_the_key_changes_with_each_input_and_only_then() -> None:
    key = ray_key("recipe", b"ray[default]==2.60.0\n", "base")
    assert key == ray_key("recipe", b"ray[default]==2.60.0\n", "base")
    assert len({key, ray_key("recipe2", b"ray[default]==2.60.0\n", "base"),
                ray_key("recipe", b"ray[default]==2.61.0\n", "base"),
                ray_key("recipe", b"ray[default]==2.60.0\n", "base2")}) == 4


def test_the_recipe_hash_sees_every_file_but_not_bytecode(tmp_path: Path) -> None:
    recipe = tmp_path / "ray-image"
    shutil.copytree(RAY_RECIPE, recipe, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = context_digest(recipe)
    (recipe / "__pycache__").mkdir()
    (recipe / "__pycache__" / "local_archives.cpython-311.pyc").write_bytes(b"\0")
    (recipe / "apps" / "fruit.pyc").write_bytes(b"\0")
    assert context_digest(recipe) == digest
    fruit = recipe / "apps" / "fruit.py"
    fruit.write_text(fruit.read_text() + "\n")
    assert context_digest(recipe) != digest


# -- the tags ------------------------------------------------------------------------------------------

def test_the_image_is_upstream_default_first_then_every_other_tag_once() -> None:
    assert RAY_REFS[0] == "docker.io/rayproject/ray:2.46.0"
    assert len(set(RAY_REFS)) == len(RAY_REFS)
    assert all(normalize_ref(ref) == ref for ref in RAY_REFS)


def test_every_ray_image_the_fixtures_name_is_a_tag_of_it() -> None:
    named = {normalize_ref(name) for p in FIXTURES.rglob("*.json")
             for name in re.findall(r"rayproject/ray:[\w.-]+", p.read_text())}
    assert named
    assert named <= set(RAY_REFS)


# -- the guide's working_dir archives -----------------------------------------------------------------

def test_every_archive_holds_the_apps_in_one_top_folder_as_github_lays_it_out(tmp_path: Path) -> None:
    index = make_archives.make_archives(RAY_RECIPE, tmp_path)
    assert json.loads((tmp_path / "index.json").read_text()) == index
    assert _guide_working_dirs() <= set(index)
    for url, name in index.items():
        sha = url.rsplit("/", 1)[1].removesuffix(".zip")
        with zipfile.ZipFile(tmp_path / name) as zf:
            names = zf.namelist()
            assert {n.split("/", 1)[0] for n in names} == {f"test_dag-{sha}"}
            assert sorted(names) == [f"test_dag-{sha}/", f"test_dag-{sha}/conditional_dag.py",
                                     f"test_dag-{sha}/fruit.py"]
            assert zf.read(f"test_dag-{sha}/fruit.py") == (RAY_RECIPE / "apps/fruit.py").read_bytes()


def test_the_same_apps_make_the_same_bytes(tmp_path: Path) -> None:
    first = make_archives.make_archives(RAY_RECIPE, tmp_path / "a")
    make_archives.make_archives(RAY_RECIPE, tmp_path / "b")
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in first.values())


@pytest.mark.parametrize(("url", "top"), [
    ("https://github.com/ray-project/test_dag/archive/41d09119cbdf8450599f993f51318e9e27c59098.zip",
     "test_dag-41d09119cbdf8450599f993f51318e9e27c59098"),
    ("https://github.com/o/repo/archive/v1.0.zip", "repo-v1.0"),
])
def test_the_top_folder_is_repo_dash_ref(url: str, top: str) -> None:
    assert make_archives.top_folder(url) == top


def test_a_url_that_is_not_a_github_archive_is_refused() -> None:
    with pytest.raises(ValueError, match="not a GitHub archive"):
        make_archives.top_folder("https://example.com/test_dag.zip")


def test_comments_and_blank_lines_are_not_urls() -> None:
    assert make_archives.read_urls("# a\n\n  https://github.com/o/r/archive/x.zip  \n") == [
        "https://github.com/o/r/archive/x.zip"]


def test_the_index_resolves_a_listed_url_beside_it_and_nothing_else(tmp_path: Path) -> None:
    index = tmp_path / "index.json"
    assert local_archives.archive_for("https://github.com/o/r/archive/x.zip", str(index)) is None
    index.write_text(json.dumps({"https://github.com/o/r/archive/x.zip": "r-x.zip"}))
    assert local_archives.archive_for("https://github.com/o/r/archive/x.zip", str(index)) == str(tmp_path / "r-x.zip")
    assert local_archives.archive_for("https://github.com/o/r/archive/y.zip", str(index)) is None


class _Provider:
    """Ray's ProtocolsProvider as far as the wrapping sees it: a classmethod that downloads."""

    downloads: list[tuple[str, str, str]] = []

    @classmethod
    def download_remote_uri(cls, protocol: str, source_uri: str, dest_file: str) -> None:
        cls.downloads.append((protocol, source_uri, dest_file))


def test_a_listed_uri_is_copied_from_the_image_and_any_other_downloaded(tmp_path: Path) -> None:
    (tmp_path / "r-x.zip").write_bytes(b"PK local")
    (tmp_path / "index.json").write_text(json.dumps({"https://github.com/o/r/archive/x.zip": "r-x.zip"}))
    provider: Any = type("Provider", (_Provider,), {"downloads": []})
    local_archives.wrap(provider, str(tmp_path / "index.json"))
    provider.download_remote_uri("https", "https://github.com/o/r/archive/x.zip", str(tmp_path / "got.zip"))
    assert (tmp_path / "got.zip").read_bytes() == b"PK local"
    assert provider.downloads == []
    provider.download_remote_uri("s3", "s3://bucket/y.zip", str(tmp_path / "y.zip"))
    assert provider.downloads == [("s3", "s3://bucket/y.zip", str(tmp_path / "y.zip"))]


def test_the_pth_file_only_installs_the_lazy_hook() -> None:
    assert (RAY_RECIPE / "local_archives.pth").read_text() == "import local_archives; local_archives.install()\n"
    assert "import ray" not in (RAY_RECIPE / "local_archives.py").read_text()


# -- the Serve apps -----------------------------------------------------------------------------------

def _deployments(source: Path) -> tuple[set[str], set[str]]:
    """The names of a module's @serve.deployment classes and functions, and its top-level names."""
    tree = ast.parse(source.read_text())
    deployments = {node.name for node in tree.body
                   if isinstance(node, ast.ClassDef | ast.FunctionDef)
                   and any(ast.unparse(d).startswith("serve.deployment") for d in node.decorator_list)}
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    return deployments, names


def test_the_apps_hold_every_deployment_the_guides_services_name() -> None:
    apps = _guide_apps()
    assert set(apps) == {"fruit.deployment_graph", "conditional_dag.serve_dag"}
    for import_path, wanted in apps.items():
        module, attribute = import_path.split(".")
        deployments, names = _deployments(RAY_RECIPE / "apps" / f"{module}.py")
        assert attribute in names
        assert wanted <= deployments, f"{module} lacks {wanted - deployments}"
