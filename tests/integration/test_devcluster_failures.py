"""Failures of the local control plane are one clear line naming the component and its log."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devcluster import ComponentError, ControlPlane

ROOT = Path(__file__).resolve().parents[2]


def test_missing_go_toolchain_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent),
           "KUBERAY_API_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "devcluster", "build"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Go toolchain is not installed" in lines[0], proc.stderr


def test_port_in_use_names_the_component_and_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        plane = ControlPlane(tmp_path / "plane", ports={"apiserver": port}, real_node=False)
        with pytest.raises(ComponentError) as failure:
            plane.start()
    assert failure.value.component == "kube-apiserver"
    assert failure.value.log is not None
    assert failure.value.log.name == "kube-apiserver.log"
    assert "address already in use" in str(failure.value)
    assert failure.value.log.exists(), "the log the error points at is kept"
    assert not (tmp_path / "plane" / "pids.json").exists(), "nothing is left running"
