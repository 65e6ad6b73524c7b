"""The platform's supervisor: one process that, every second, checks every recorded process of
every service and restarts one that died (``platform.restart_dead``), with the reason it can
tell and the platform's backoff.

It restarts the deployments' watchdog too, and the watchdog's process restarts the supervisor
(``stack.watchdog``): two processes that watch each other. ``up`` starts it last and ``down``
stops it first.

    python -m stack.supervisor --interval 1
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
import time

from infra import processes
from infra.processes import Process
from registry.settings import Settings, get_settings
from stack import service

SERVICE = "supervisor"
PROCESS = "supervisor"
INTERVAL_S = 1.0
READY_LINE = "supervising the platform"
ERROR_LINE = re.compile(r"error|exception|traceback|fatal|killed|out of memory", re.IGNORECASE)
logger = logging.getLogger(__name__)


def replaced_by(settings: Settings) -> str | None:
    return None


_SERVICE = service.PythonProcessService(SERVICE, PROCESS, "stack.supervisor", READY_LINE, "the supervisor")
command, start, relaunch, health = _SERVICE.command, _SERVICE.start, _SERVICE.relaunch, _SERVICE.health


def urls(settings: Settings) -> dict[str, str]:
    return {}


def death_reason(process: Process, exits: dict[int, int]) -> str:
    """What can be told of a death: the exit status (known for our own children only, from
    ``exits``) and the last line of its log that reads like an error."""
    status = exits.get(process.pid)
    if status is None:
        what = "gone"
    elif os.WIFSIGNALED(status):
        what = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        what = f"exited with status {os.WEXITSTATUS(status)}"
    last_run = processes.log_tail(process).rsplit("\n=== ", 1)[-1]  # each launch writes a "=== " header
    errors = [line.strip() for line in last_run.splitlines()[1:] if ERROR_LINE.search(line)]
    return f"{what}; its log: {errors[-1][:300]}" if errors else what


def reap_children() -> dict[int, int]:
    """Collect the exit status of every child of ours that ended (the processes we restarted)."""
    exits = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return exits
        if pid == 0:
            return exits
        exits[pid] = status


def reap(pid: int) -> dict[int, int]:
    """The exit status of one child of ours, if it ended (the watchdog's other children, the model
    servers, are not touched)."""
    try:
        ended, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return {}
    return {pid: status} if ended else {}


def supervise_once(settings: Settings, exits: dict[int, int]) -> list[service.ProcessState]:
    """One pass: restart what died of every service the platform runs here, the supervisor aside."""
    from stack.platform import restart_dead, services

    restarted = []
    for each in services():
        if each.name != SERVICE and not each.replaced_by(settings):
            restarted += restart_dead(settings, each.name, reason=lambda p: death_reason(p, exits))
    return restarted


def keep_supervisor(settings: Settings, stopping: threading.Event, interval: float = INTERVAL_S) -> None:
    """The watchdog's side of the mutual watch: restart the supervisor when it dies, until ``stopping``."""
    from stack.platform import restart_dead

    while not stopping.wait(interval):
        try:
            for state in restart_dead(settings, SERVICE, reason=lambda p: death_reason(p, reap(p.pid))):
                logger.warning("restarted the supervisor (pid %s): %s", state.pid, state.last_reason)
        except Exception:  # tried again on the next check
            logger.exception("check of the supervisor failed")


def run_forever(settings: Settings, interval: float = INTERVAL_S) -> None:
    """Pass after pass until SIGTERM, which ends the loop between passes (never amid a restart)."""
    from stack import platform  # noqa: F401  imported before it says it supervises (seconds on a busy machine)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    logger.info("%s of %s every %.1f s", READY_LINE, settings.home, interval)
    while not stopping.is_set():
        started = time.monotonic()
        try:
            for state in supervise_once(settings, reap_children()):
                logger.warning("restarted %s/%s (pid %s): %s", state.service, state.name, state.pid,
                               state.last_reason)
        except Exception:  # a failed restart is tried again on the next pass
            logger.exception("supervisor pass failed")
        stopping.wait(max(0.0, interval - (time.monotonic() - started)))
    logger.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds between passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run_forever(get_settings(), args.interval)


if __name__ == "__main__":
    main()
