"""The supervisor's pieces without the platform: the reason it gives for a death, and its backoff
on a real recorded process (restarted at once, held back, then left down and shown as failed)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from infra import processes
from registry.settings import Settings
from stack import platform, service, supervisor

pytestmark = pytest.mark.timeout(240)
RESTART_BACKOFF_MAX = platform.RESTART_BACKOFF.max_restarts


def _dead_child(tmp_path, code: str, name: str = "child") -> processes.Process:
    """A child of this process that ran ``code`` and has ended (not yet reaped)."""
    child = processes.launch(name, [sys.executable, "-c", code], env={}, log=tmp_path / f"{name}.log")
    deadline = time.monotonic() + 20
    while processes.proc_stat(child.pid).get("state") not in ("Z", None) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child


def test_the_reason_names_the_signal_and_the_last_error_in_the_log(tmp_path):
    killed = _dead_child(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert supervisor.death_reason(killed, supervisor.reap(killed.pid)) == "killed by SIGKILL"
    failed = _dead_child(tmp_path, "raise ValueError('port taken')")
    reason = supervisor.death_reason(failed, supervisor.reap(failed.pid))
    assert reason == "exited with status 1; its log: ValueError: port taken"
    assert supervisor.death_reason(failed, {}).startswith("gone; its log: ")  # not our child: no status


def test_a_process_restarted_too_often_is_held_back_then_left_down_as_failed(tmp_path):
    settings = Settings(home=tmp_path / "home")
    gone = _dead_child(tmp_path, "pass", supervisor.PROCESS)
    supervisor.reap(gone.pid)
    now = time.time()
    recent = [now - 3, now - 2, now - 1]  # three restarts in the last seconds: the next waits 5 s
    service.record(settings, supervisor.SERVICE, [gone],
                   restarts={supervisor.PROCESS: {"count": 3, "reason": "gone", "at": now - 1, "times": recent}})

    assert platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone", now=now) == []
    (restarted,) = platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone again", now=now + 5)
    try:
        assert (restarted.restarts, restarted.last_reason, restarted.running) == (4, "gone again", True)
        for at in (now + 15, now + 35):  # two more deaths, each restarted after its wait (10 s, 20 s)
            _kill_recorded(settings)
            assert platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone", now=at - 1) == []
            assert platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone", now=at)
        _kill_recorded(settings)
        assert platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone", now=now + 40) == []
        state = next(s for s in platform.status(settings).services if s.name == supervisor.SERVICE)
        (shown,) = state.processes
        assert state.action == "failed" and shown.failed and shown.restarts == 6 and not shown.running
        assert shown.last_reason == "left down after 6 restarts within 300 s; it died again: gone"
    finally:
        service.stop_recorded(settings, supervisor.SERVICE)


def _kill_recorded(settings: Settings) -> None:
    (recorded,) = service.recorded(settings, supervisor.SERVICE)[0]
    os.kill(recorded.pid, signal.SIGKILL)
    while processes.is_running(recorded):
        time.sleep(0.05)


def test_a_deliberate_restart_stops_the_process_by_pid_records_why_and_never_counts_as_a_death(tmp_path):
    settings = Settings(home=tmp_path / "home")
    (first,) = supervisor.start(settings, service.service_env(settings))
    service.record(settings, supervisor.SERVICE, [first])
    try:
        restarted = platform.restart_process(settings, supervisor.SERVICE, supervisor.PROCESS, reason="logins changed")

        assert not processes.is_running(first) and processes.session_members(first) == []
        (recorded,) = service.recorded(settings, supervisor.SERVICE)[0]
        assert (recorded.pid, restarted.restarts, restarted.last_reason) == (restarted.pid, 1, "logins changed")
        assert processes.is_running(recorded) and recorded.pid != first.pid
        for _ in range(RESTART_BACKOFF_MAX):  # a deliberate restart never counts toward giving up
            restarted = platform.restart_process(settings, supervisor.SERVICE, supervisor.PROCESS, reason="again")
        _kill_recorded(settings)
        (repaired,) = platform.restart_dead(settings, supervisor.SERVICE, reason=lambda p: "gone")
        assert (repaired.restarts, repaired.last_reason, repaired.running) == (RESTART_BACKOFF_MAX + 2, "gone", True)
        with pytest.raises(service.StackError, match="records no process 'nope'"):
            platform.restart_process(settings, supervisor.SERVICE, "nope", reason="test")
    finally:
        service.stop_recorded(settings, supervisor.SERVICE)
