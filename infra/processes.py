"""Long-running processes we start ourselves: launched in their own session, stopped by PID.

A process is remembered by PID *and* kernel start time, so a PID the system has since reused
for an unrelated program is never signalled. Each process leads its own session; whatever it
forks stays in that session (Airflow's task runners change process group, not session), so a
stop can reach every descendant without looking at a single process name.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

SCRIPTS = Path(sysconfig.get_path("scripts"))
BACKGROUND_NICE = 19  # the lowest CPU share a background session's group can have  # this environment's console scripts: the venv's bin


@dataclass(frozen=True)
class Process:
    """One process we launched: its role, PID, kernel start time and log file."""

    name: str
    pid: int
    start_ticks: int
    log: str


def project_path() -> str:
    """This process's PATH with the project's own scripts folder first.

    Children look tools up on PATH (``bentoml build`` runs the first ``uv`` it finds, ``airflow
    standalone`` runs ``airflow``), so they must find the locked ones, never a copy a machine
    happens to have installed by hand.
    """
    rest = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join([str(SCRIPTS), *(entry for entry in rest if entry and entry != str(SCRIPTS))])


def launch(name: str, command: list[str], *, env: dict[str, str], log: Path) -> Process:
    """Start ``command`` detached in a new session, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        stream.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        stream.flush()
        popen = subprocess.Popen(
            command, env=env, stdout=stream, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    popen.returncode = 0  # is_running() reaps it by PID; this keeps Popen from warning at exit
    return Process(name, popen.pid, proc_stat(popen.pid)["start_ticks"], str(log))


def set_background(processes: list[Process], background: bool) -> list[str]:
    """Run processes only on CPU time nothing else wants (Linux ``SCHED_IDLE``), or normally again;
    what could not be changed, and why (going back unprivileged needs an ``RLIMIT_NICE`` that
    allows it).

    A scheduling policy belongs to a thread, and only threads started later inherit it: every
    thread of every process in each one's session is set, or a server's worker threads started
    before the call (its event loop, its thread pool) would keep competing at full priority.
    With autogroup scheduling on (Debian's default), the kernel first shares CPU fairly between
    sessions, whatever their threads' policies, and each server we launch has its own session:
    the session's group gets the lowest share too (``/proc/PID/autogroup``, nice 19)."""
    policy = os.SCHED_IDLE if background else os.SCHED_OTHER
    refused = []
    for process in processes:
        if not is_running(process):
            continue
        try:
            Path(f"/proc/{process.pid}/autogroup").write_text(str(BACKGROUND_NICE if background else 0))
        except FileNotFoundError:
            pass  # a kernel without autogroup scheduling: the threads' policy is all there is
        except OSError as error:
            refused.append(f"{process.name} ({process.pid}, its session's CPU share): {error.strerror}")
        for pid in session_members(process):
            for thread in _threads(pid):
                try:
                    os.sched_setscheduler(thread, policy, os.sched_param(0))
                except ProcessLookupError:
                    continue  # a thread that ended meanwhile
                except OSError as error:
                    refused.append(f"{process.name} ({process.pid}, thread {thread}): {error.strerror}")
    return refused


def autogroup_nice(process: Process) -> int | None:
    """The nice value of this process's session group (None without autogroup scheduling)."""
    try:
        return int(Path(f"/proc/{process.pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def scheduling_policies(process: Process) -> set[int]:
    """The scheduling policies of every thread in this process's session."""
    policies = set()
    for pid in session_members(process):
        for thread in _threads(pid):
            try:
                policies.add(os.sched_getscheduler(thread))
            except ProcessLookupError:
                continue
    return policies


def _threads(pid: int) -> list[int]:
    try:
        return [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def is_running(process: Process) -> bool:
    """True while this very process (same PID and start time) exists and is not a zombie."""
    stat = proc_stat(process.pid)
    if not stat or stat["start_ticks"] != process.start_ticks:
        return False
    if stat["state"] == "Z":
        _reap(process.pid)
        return False
    return True


def session_members(process: Process) -> list[int]:
    """PIDs still alive in the session this process leads (itself and its descendants).

    Linux keeps a session id reserved while any member lives, so if the PID now belongs to
    another process, the old session has no members left and the new one is not ours.
    """
    leader = proc_stat(process.pid)
    if leader and leader["start_ticks"] != process.start_ticks:
        return []
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat["session"] == process.pid and stat["state"] != "Z":
                members.append(int(entry.name))
    return members


def stop(processes: list[Process], *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Send ``sig`` to each process; SIGKILL whatever is left in their sessions after ``timeout``."""
    for process in processes:
        if is_running(process):
            _signal(process.pid, sig)
    if not _wait_until_gone(processes, timeout):
        for process in processes:
            for pid in session_members(process):
                _signal(pid, signal.SIGKILL)
        _wait_until_gone(processes, 5.0)


def stop_leftovers(process: Process, *, timeout: float = 3.0) -> None:
    """Stop what is left in the session of a process whose leader is gone (a SIGKILLed leader can
    leave children holding its port): SIGTERM, then SIGKILL after ``timeout``."""
    for pid in session_members(process):
        _signal(pid, signal.SIGTERM)
    if not _wait_until_gone([process], timeout):
        for pid in session_members(process):
            _signal(pid, signal.SIGKILL)
        _wait_until_gone([process], 5.0)


@contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes; with ``wait``
    false, yield False at once instead of waiting when another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


def log_tail(process: Process, chars: int = 3000) -> str:
    """The end of a process's log, for error messages that explain a failed start."""
    text = Path(process.log).read_text(errors="replace") if Path(process.log).exists() else ""
    return text[-chars:]


def write_run_file(path: Path, processes: list[Process], **extra) -> None:
    """Record what runs where, so another command (``stack down``) can stop it by PID. The file is
    replaced in one step: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**extra, "processes": [asdict(process) for process in processes]}
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "w") as stream:
        json.dump(record, stream, indent=2)
    os.replace(partial, path)


def read_run_file(path: Path) -> tuple[list[Process], dict]:
    """The processes and extra fields of a run file; nothing when there is none."""
    if not path.exists():
        return [], {}
    record = json.loads(path.read_text())
    return [Process(**process) for process in record.pop("processes")], record


def _wait_until_gone(processes: list[Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(is_running(process) or session_members(process) for process in processes):
            return True
        time.sleep(0.2)
    return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by another command): init reaps it


def proc_stat(pid: int) -> dict:
    """State, parent, session and start time from /proc/<pid>/stat; empty when the PID does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may contain spaces
    return {"state": fields[0], "ppid": int(fields[1]), "session": int(fields[3]), "start_ticks": int(fields[19])}


def children(leader: Process) -> list[Process]:
    """The leader's direct children, from /proc (for servers whose workers start new sessions)."""
    found = []
    try:
        for task in Path(f"/proc/{leader.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                stat = proc_stat(int(pid))
                if stat:
                    found.append(Process(f"{leader.name}-worker-{pid}", int(pid), stat["start_ticks"], leader.log))
    except (FileNotFoundError, ProcessLookupError):
        pass  # the leader or a child exited while we read
    return found
