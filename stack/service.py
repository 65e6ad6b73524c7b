"""What every service of the platform shares: processes recorded in the home's run folder, started
in their own sessions, probed over HTTP, and stopped by PID.

A service (Airflow, the MLflow server, the Dask cluster) is a few processes started together.
Its run file (``$MODELYARD_HOME/run/<service>.json``) records them by PID and kernel start time,
so any later command (``modelyard status``, ``down``, a second ``up``) finds them, and a PID the
system has since given to another program is never taken for them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pydantic import BaseModel

from bento_services.endpoints import port_is_free
from infra import processes
from infra.polling import poll
from infra.processes import Process
from registry.errors import ModelyardError
from registry.settings import Settings

PROBE_TIMEOUT = 3.0


class StackError(ModelyardError):
    """A service of the platform could not be started, reached or found."""


class ProcessState(BaseModel):
    """One process of a running service, as ``modelyard status`` shows it, with how often the
    platform restarted it since ``up`` and why it did last (``failed``: it gave up on it)."""

    service: str
    name: str
    pid: int | None
    url: str | None
    running: bool
    healthy: bool
    uptime_seconds: float | None
    restarts: int = 0
    last_reason: str | None = None
    last_restart_at: float | None = None  # seconds since the epoch
    failed: bool = False


def run_file(settings: Settings, service: str) -> Path:
    return settings.home / "run" / f"{service}.json"


def recorded(settings: Settings, service: str) -> tuple[list[Process], dict]:
    """The processes a service's run file names, and what else it recorded."""
    return processes.read_run_file(run_file(settings, service))


def record(settings: Settings, service: str, launched: list[Process], **extra) -> None:
    processes.write_run_file(run_file(settings, service), launched, **extra)


@contextmanager
def lock(settings: Settings, service: str, *, wait: bool = True) -> Iterator[bool]:
    """Held by whoever starts, restarts or stops the service's processes (``up``, ``down``, the
    supervisor), so none of them acts on processes another is replacing. With ``wait`` false,
    yields False at once when it is taken."""
    with processes.file_lock(settings.home / "run" / f"{service}.lock", wait=wait) as held:
        yield held


def restart_history(extra: dict, name: str) -> dict:
    """What a run file says of a process's restarts: count, reason, at, times (recent), failed."""
    return extra.get("restarts", {}).get(name, {})


def with_restart(extra: dict, name: str, reason: str, at: float, *, failed: bool = False,
                 deliberate: bool = False) -> dict:
    """The run file's extra fields with one more restart of ``name`` (or, ``failed``, its giving up).
    Only deaths go into ``times``, which the backoff counts: a ``deliberate`` restart (the
    api-server after a login change) is counted and explained, but never holds back the next repair."""
    history = restart_history(extra, name)
    death = not (failed or deliberate)
    entry = {"count": history.get("count", 0) + (0 if failed else 1), "reason": reason, "at": at,
             "times": [*history.get("times", [])[-20:], *([at] if death else [])], "failed": failed}
    return {**extra, "restarts": {**extra.get("restarts", {}), name: entry}}


def service_env(settings: Settings) -> dict[str, str]:
    """The environment of the platform's processes: this one's, plus the settings as MODELYARD_*
    variables, so what they run (a Dask worker's scoring, an Airflow task) sees the same home and
    services."""
    return {**os.environ, **modelyard_env(settings)}


def modelyard_env(settings: Settings) -> dict[str, str]:
    return settings.as_environment()


def all_running(launched: list[Process]) -> bool:
    return bool(launched) and all(processes.is_running(process) for process in launched)


def stop_recorded(settings: Settings, *services: str, timeout: float = 15.0) -> dict[str, list[Process]]:
    """Stop what the services' run files record (by PID, signalled together, the last started of
    each first), forget it, and return what still ran of each."""
    launched = {service: recorded(settings, service)[0] for service in services}
    alive = {service: [p for p in found if processes.is_running(p)] for service, found in launched.items()}
    processes.stop([p for found in launched.values() for p in reversed(found)], timeout=timeout)
    for service in services:
        run_file(settings, service).unlink(missing_ok=True)
    return alive


def launch(settings: Settings, service: str, name: str, command: list[str], env: dict[str, str]) -> Process:
    """Start one process of ``service`` in its own session, logging to the home's log folder."""
    log = settings.home / "logs" / service / f"{name}.log"
    return processes.launch(name, command, env={**env, "PATH": processes.project_path()}, log=log)


def wait_until(ready: Callable[[], bool], launched: list[Process], what: str, timeout: float) -> None:
    """Poll ``ready`` until it is true; fail at once, with log tails, if a launched process exits."""
    def check() -> bool | None:
        dead = [process for process in launched if not processes.is_running(process)]
        if dead:
            raise StackError(f"{', '.join(p.name for p in dead)} exited while starting:\n{log_tails(dead)}")
        return ready() or None

    if poll(check, timeout=timeout, interval=0.5) is None:
        raise StackError(f"{what} not ready after {timeout:.0f} s:\n{log_tails(launched)}")


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        return httpx.get(url, timeout=PROBE_TIMEOUT).status_code == 200
    except httpx.HTTPError:
        return False


def require_free(port: int, setting: str) -> None:
    """Refuse to start on a port another program holds, naming the setting that moves it."""
    if not port_is_free(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use by another program: set "
                         f"MODELYARD_{setting.upper()} to another port", field=setting)


def says(process: Process, text: str) -> bool:
    """True when the process, still running, wrote ``text`` to its log since it was launched (each
    launch starts its part of the log with a ``=== `` header): how a process without a port says
    it is ready. Such processes log little after that, so the last megabyte holds their whole run."""
    if not processes.is_running(process):
        return False
    return text in processes.log_tail(process, chars=1_000_000).rsplit("\n=== ", 1)[-1]


def log_tails(launched: list[Process]) -> str:
    return "\n".join(f"--- {process.name} ({process.log})\n{processes.log_tail(process)}" for process in launched)


def uptime_seconds(process: Process) -> float | None:
    """Seconds since the kernel started the process (None once it is gone)."""
    if not processes.is_running(process):
        return None
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime "))
    return round(time.time() - (boot + process.start_ticks / os.sysconf("SC_CLK_TCK")), 1)


class PythonProcessService:
    """A service of one ``python -m MODULE`` process that is ready (and healthy) once its current
    run's log says ``ready_line``: the supervisor and the deployments' watchdog."""

    def __init__(self, service: str, process: str, module: str, ready_line: str, what: str):
        self.service, self.process, self.module, self.ready_line, self.what = service, process, module, ready_line, what

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module]

    def start(self, settings: Settings, env: dict[str, str]) -> list[Process]:
        launched = [launch(settings, self.service, self.process, self.command(), env)]
        wait_until(lambda: says(launched[0], self.ready_line), launched, self.what, timeout=60.0)
        return launched

    def relaunch(self, settings: Settings, env: dict[str, str], process: Process, record: dict) -> Process:
        return launch(settings, self.service, self.process, self.command(), env)

    def health(self, settings: Settings) -> dict[str, bool]:
        """Healthy once it says it is ready (its start imports for seconds), not merely alive."""
        launched, _ = recorded(settings, self.service)
        return {self.process: bool(launched) and all(says(process, self.ready_line) for process in launched)}

