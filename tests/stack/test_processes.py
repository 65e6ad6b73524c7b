"""Processes started by the stack: stopped by PID and session, never confused with a reused PID."""

import dataclasses
import os
import signal
import sys
import time

import pytest

from infra import processes

pytestmark = pytest.mark.timeout(60)

# A parent that forks a child which ignores SIGTERM: only the session fallback can stop it.
STUBBORN_TREE = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def _sleeper(tmp_path, name="sleeper") -> processes.Process:
    return processes.launch(name, [sys.executable, "-c", "import time; time.sleep(600)"],
                            env={}, log=tmp_path / f"{name}.log")


def test_stop_reaches_children_that_ignore_sigterm(tmp_path):
    child_file = tmp_path / "child.pid"
    parent = processes.launch("tree", [sys.executable, "-c", STUBBORN_TREE, str(child_file)],
                              env={}, log=tmp_path / "tree.log")
    deadline = time.monotonic() + 10
    while not child_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(child_file.read_text())
    assert set(processes.session_members(parent)) == {parent.pid, child_pid}

    processes.stop([parent], timeout=1.0)

    assert not processes.is_running(parent)
    assert processes.session_members(parent) == []


def test_a_recorded_pid_with_another_start_time_is_left_alone(tmp_path):
    real = _sleeper(tmp_path)
    stale = dataclasses.replace(real, start_ticks=real.start_ticks - 1)  # same PID, other process
    try:
        assert not processes.is_running(stale)
        processes.stop([stale], timeout=0.5)
        assert processes.is_running(real)
    finally:
        processes.stop([real], timeout=5.0)
    assert not processes.is_running(real)


def test_run_file_round_trip(tmp_path):
    recorded = [_sleeper(tmp_path, "a"), _sleeper(tmp_path, "b")]
    try:
        processes.write_run_file(tmp_path / "run" / "x.json", recorded, base_url="http://127.0.0.1:1")
        read, extra = processes.read_run_file(tmp_path / "run" / "x.json")
        assert read == recorded and extra == {"base_url": "http://127.0.0.1:1"}
        assert processes.read_run_file(tmp_path / "missing.json") == ([], {})
    finally:
        processes.stop(recorded, timeout=5.0)


def test_stop_leftovers_clears_the_session_of_a_killed_leader(tmp_path):
    child_file = tmp_path / "child.pid"
    parent = processes.launch("tree", [sys.executable, "-c", STUBBORN_TREE, str(child_file)],
                              env={}, log=tmp_path / "tree.log")
    deadline = time.monotonic() + 20
    while not (child_file.exists() and child_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(parent.pid, signal.SIGKILL)
    while processes.is_running(parent) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(child_file.read_text())
    assert processes.session_members(parent) == [child]  # holds what the leader held

    processes.stop_leftovers(parent, timeout=0.5)  # the child ignores SIGTERM: SIGKILL ends it

    assert processes.session_members(parent) == []


def test_a_file_lock_held_elsewhere_is_refused_without_waiting(tmp_path):
    with processes.file_lock(tmp_path / "x.lock") as held:
        assert held
        with processes.file_lock(tmp_path / "x.lock", wait=False) as second:
            assert not second
    with processes.file_lock(tmp_path / "x.lock", wait=False) as again:
        assert again
