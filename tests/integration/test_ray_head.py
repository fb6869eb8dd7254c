"""The test-side Ray head works: it answers, it stops whole, it restarts, it can be frozen.

The session's head (the `ray_head` fixture) is only read; the tests that stop, restart and
freeze a head use one of this module's own.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.support.procfs import pids_alive
from tests.support.ray_head import MARK_VAR, RayHead
from tests.support.ray_venv import REQUIREMENTS

http = urllib3.PoolManager(retries=False)


def _get(url: str, timeout: float = 5.0) -> Any:
    response = http.request("GET", url, timeout=timeout)
    assert response.status == 200, (response.status, response.data[:400])
    return json.loads(response.data)


def _pinned_ray_version() -> str:
    found = re.search(r"^ray\[default\]==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE)
    assert found, "tests/ray-requirements.txt pins ray[default]"
    return found.group(1)


def _session(pid: int) -> int | None:
    """The session of a process, None once it has exited."""
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def _marked(head: RayHead) -> list[int]:
    """Every process of the machine whose environment carries this head's mark, found without
    the head's own bookkeeping."""
    entry = f"{MARK_VAR}={head.temp_dir}".encode()
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and entry in Path(f"/proc/{name}/environ").read_bytes().split(b"\0"):
                found.append(int(name))
        except OSError:
            continue
    return pids_alive(found)


def _wait_status(head: RayHead, submission_id: str, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (now := _get(f"{head.url}/api/jobs/{submission_id}")["status"]) != status:
        assert time.monotonic() < deadline, f"job {submission_id} still {now}, not {status}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def own_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    with RayHead(tmp_path_factory.mktemp("own-ray-head")) as head:
        yield head


def test_the_session_head_answers_with_the_pinned_ray(ray_head: RayHead) -> None:
    version = _get(f"{ray_head.url}/api/version")
    assert version["ray_version"] == _pinned_ray_version()
    assert ray_head.url.startswith("http://127.0.0.1:")


def test_every_chosen_port_is_distinct(ray_head: RayHead) -> None:
    assert len(set(ray_head.ports.values())) == len(ray_head.ports)


def test_pause_makes_requests_time_out_and_resume_brings_answers_back(own_head: RayHead) -> None:
    own_head.pause()
    try:
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):  # the port still accepts, nobody reads
            http.request("GET", f"{own_head.url}/api/version", timeout=urllib3.Timeout(connect=1, read=1))
    finally:
        own_head.resume()
    assert _get(f"{own_head.url}/api/version", timeout=10)["ray_version"] == _pinned_ray_version()


def test_stop_leaves_no_process_and_restart_answers_on_the_same_ports(own_head: RayHead) -> None:
    # A running job: its driver runs in a session of its own, outside the head's process group.
    submitted = http.request("POST", f"{own_head.url}/api/jobs/",
                             body=json.dumps({"entrypoint": 'python -c "import time; time.sleep(600)"'}),
                             headers={"Content-Type": "application/json"})
    assert submitted.status == 200, submitted.data[:400]
    _wait_status(own_head, json.loads(submitted.data)["submission_id"], "RUNNING")
    leader = own_head.pid
    assert leader is not None
    # Ray reports RUNNING just before it starts the driver: wait for the driver's process.
    deadline = time.monotonic() + 30
    pids = own_head.processes()
    while not any("time.sleep(600)" in command for command in pids.values()):
        assert time.monotonic() < deadline, pids
        time.sleep(0.1)
        pids = own_head.processes()
    assert any(_session(pid) not in (leader, None) for pid in pids), "a driver in its own session"
    # Ray starts and ends workers all the time: every marked process still alive once the head's
    # own list is taken must be on it (marked first, so that a process started between is no miss).
    marked = _marked(own_head)
    listed = own_head.processes()
    assert [pid for pid in marked if pid not in listed and pids_alive([pid])] == []
    pids = {**pids, **listed}
    url, ports = own_head.url, dict(own_head.ports)

    own_head.stop()

    assert pids_alive(pids) == []
    assert _marked(own_head) == []
    with pytest.raises(urllib3.exceptions.NewConnectionError):  # refused: nothing listens any more
        http.request("GET", f"{url}/api/version", timeout=2)

    own_head.start()

    assert (own_head.url, own_head.ports) == (url, ports)
    assert _get(f"{own_head.url}/api/version")["ray_version"] == _pinned_ray_version()
    assert _get(f"{own_head.url}/api/jobs/") == []  # a new head: the old one's jobs are gone
