"""The order prometheus_client needs: it picks its multiprocess mode once, when first imported, so
gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before anything it runs loads prometheus_client.

Each test runs in a fresh interpreter, as gunicorn's master reads its configuration: the workers
it forks inherit whatever that loaded.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "gunicorn.conf.py"
SETS_THE_FOLDER = "os.environ[METRICS_DIR]"


def _python(code: str, env: dict[str, str]) -> str:
    """The last line `code` prints, run from the project's root with only `env` of the server's variables."""
    base = {name: value for name, value in os.environ.items()
            if not name.startswith("KUBERAY_API_") and name not in ("PORT", "PROMETHEUS_MULTIPROC_DIR")}
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, env={**base, **env},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _config_before_the_folder() -> str:
    """gunicorn.conf.py's top-level statements up to the one that sets the multiprocess folder."""
    tree = ast.parse(CONFIG.read_text())
    for index, node in enumerate(tree.body):
        if any(isinstance(child, ast.Assign) and SETS_THE_FOLDER in map(ast.unparse, child.targets)
               for child in ast.walk(node)):
            return ast.unparse(ast.Module(body=tree.body[:index], type_ignores=[]))
    raise AssertionError(f"gunicorn.conf.py sets no {SETS_THE_FOLDER}")


def test_gunicorn_conf_loads_no_prometheus_before_it_sets_the_metrics_folder() -> None:
    before = _config_before_the_folder()
    assert "from app." in before  # the server's settings are read first: the imports this guards
    code = f"{before}\nimport sys\nprint('prometheus_client' in sys.modules)"
    assert _python(code, {}) == "False"


SERVE = """
import json, os, runpy
conf = runpy.run_path('gunicorn.conf.py')  # gunicorn's master
conf['on_starting'](None)
from wsgi import app  # a worker: the whole server
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
app.test_client().get('/healthz')
folder = os.environ['PROMETHEUS_MULTIPROC_DIR']
files = sorted(os.listdir(folder))
registry = CollectorRegistry()
MultiProcessCollector(registry, path=folder)
served = registry.get_sample_value('kuberay_api_requests_total',
                                   {'operation': '/healthz', 'method': 'GET', 'status': '200'})
conf['on_exit'](None)
print(json.dumps({'folder': folder, 'files': files, 'served': served}))
"""


def test_gunicorn_conf_keeps_the_workers_metrics_in_its_folder(tmp_path: Path) -> None:
    """With the configuration's own folder (none given), a worker's counts are files there, which
    a scrape of any worker sums."""
    env = {"KUBERAY_API_KUBECONFIG": str(tmp_path / "no-kubeconfig"), "KUBERAY_API_LOG_LEVEL": "ERROR",
           "KUBERAY_API_WRITE_MARKS": str(tmp_path / "writes")}
    outcome = json.loads(_python(SERVE, env))
    assert any(name.startswith("counter_") and name.endswith(".db") for name in outcome["files"])
    assert outcome["served"] == 1.0
    assert not Path(outcome["folder"]).exists()  # the configuration's own folder, removed at exit
