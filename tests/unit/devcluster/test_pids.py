"""A pids file names processes, not pids: once a recorded process has died its pid may be another
program's (this kind of machine has 32,768 pids), and stopping the instance must leave that one be."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster import procs
from devcluster.procs import Recorded


def _sleeper() -> subprocess.Popen[bytes]:
    """A session leader, as every component and a test's server are."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = _sleeper()
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_a_recorded_pid_now_naming_another_process_is_not_signalled(
        tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    # the record of an earlier process that had the same pid: its start time differs
    now = procs.start_time(sleeper.pid)
    assert now is not None
    pids = tmp_path / "pids.json"
    pids.write_text(json.dumps({"etcd": Recorded(sleeper.pid, now - 1).as_json()}))

    assert not procs.recorded_alive(pids)
    procs.stop_recorded(pids, grace=0.5)

    assert sleeper.poll() is None  # still running: the pid is no longer the recorded process
    assert not pids.exists()


def test_the_recorded_process_is_stopped(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pids = tmp_path / "pids.json"
    recorded = Recorded.of(sleeper.pid)
    pids.write_text(json.dumps({"etcd": recorded.as_json()}))

    assert procs.recorded_alive(pids)
    procs.stop_recorded(pids, grace=5)

    assert not recorded.alive()  # (stop_recorded reaps it: its exit status is gone)


def test_a_file_of_bare_pids_is_still_read(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    """An instance started before start times were recorded can still be stopped."""
    pids = tmp_path / "pids.json"
    pids.write_text(json.dumps({"etcd": sleeper.pid}))

    assert procs.load(pids) == {"etcd": Recorded(sleeper.pid)}
    procs.stop_recorded(pids, grace=5)

    assert not Recorded.of(sleeper.pid).alive()


def test_the_supervisor_records_start_times(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    supervisor = procs.Supervisor(tmp_path / "pids.json", logs)
    supervisor.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        recorded = procs.load(tmp_path / "pids.json")["sleeper"]
        assert recorded == Recorded(supervisor.procs["sleeper"].pid, procs.start_time(recorded.pid))
        assert recorded.start is not None
    finally:
        procs.stop_recorded(tmp_path / "pids.json", grace=5)
