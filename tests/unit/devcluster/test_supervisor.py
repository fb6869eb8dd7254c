"""Supervisor.start: a component that fails its start-up for the named reason is started again, as
a kubelet restarts a static pod; any other failure, or the same one once too often, is final."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devcluster.errors import ComponentError
from devcluster.procs import Supervisor, signal_group

FATAL = "F hooks.go] PostStartHook \"start-service-ip-repair-controllers\" failed: unable to perform initial check"


def _component(tmp_path: Path, failures: int, line: str) -> tuple[list[str], Path]:
    """A program that, on each of its first `failures` runs, logs `line` and exits 255; on the next,
    writes its marker (which makes it ready) and keeps running."""
    runs, ready = tmp_path / "runs", tmp_path / "ready"
    code = (f"import pathlib, sys, time\nruns = pathlib.Path({str(runs)!r})\n"
            f"count = int(runs.read_text()) if runs.exists() else 0\nruns.write_text(str(count + 1))\n"
            f"if count < {failures}:\n    print({line!r}, flush=True)\n    sys.exit(255)\n"
            f"pathlib.Path({str(ready)!r}).touch()\ntime.sleep(60)\n")
    return [sys.executable, "-c", code], ready


@pytest.fixture
def supervisor(tmp_path: Path) -> Supervisor:
    logs = tmp_path / "logs"
    logs.mkdir()
    return Supervisor(tmp_path / "pids.json", logs)


def _stop(supervisor: Supervisor) -> None:
    for proc in supervisor.procs.values():
        signal_group(proc.pid, 9)
        proc.wait(timeout=10)


def test_the_named_start_up_failure_is_met_by_one_start_again(tmp_path: Path, supervisor: Supervisor) -> None:
    argv, ready = _component(tmp_path, 1, FATAL)
    try:
        supervisor.start("api", argv, ready.exists, "ready", restart_if="start-service-ip-repair-controllers",
                         restarts=1)
        assert ready.exists()
        assert (tmp_path / "runs").read_text() == "2"
    finally:
        _stop(supervisor)


@pytest.mark.parametrize(("failures", "line", "restart_if", "restarts", "runs"), [
    (1, "F some other fatal error", "start-service-ip-repair-controllers", 1, 1),  # another reason: final
    (2, FATAL, "start-service-ip-repair-controllers", 1, 2),  # the same reason again: final
    (1, FATAL, "", 1, 1),  # no reason named: nothing is started again
    (1, FATAL, "start-service-ip-repair-controllers", 0, 1),  # no start again allowed
])
def test_any_other_start_up_failure_is_final(tmp_path: Path, supervisor: Supervisor, failures: int, line: str,
                                             restart_if: str, restarts: int, runs: int) -> None:
    argv, ready = _component(tmp_path, failures, line)
    try:
        with pytest.raises(ComponentError, match="exited with code 255 during start-up") as raised:
            supervisor.start("api", argv, ready.exists, "ready", restart_if=restart_if, restarts=restarts)
        assert line in raised.value.reason
        assert not ready.exists()
        assert (tmp_path / "runs").read_text() == str(runs)
    finally:
        _stop(supervisor)
