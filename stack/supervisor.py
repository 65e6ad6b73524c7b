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
import sys
import threading
import time

from registry import processes
from registry.processes import Process
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


def command() -> list[str]:
    return [sys.executable, "-m", "stack.supervisor"]


def start(settings: Settings, env: dict[str, str]) -> list[Process]:
    launched = [service.launch(settings, SERVICE, PROCESS, command(), env)]
    service.wait_until(lambda: READY_LINE in processes.log_tail(launched[0]), launched, "the supervisor",
                       timeout=60.0)
    return launched


def relaunch(settings: Settings, env: dict[str, str], process: Process, record: dict) -> Process:
    return service.launch(settings, SERVICE, PROCESS, command(), env)


def health(settings: Settings) -> dict[str, bool]:
    launched, _ = service.recorded(settings, SERVICE)
    return {PROCESS: service.all_running(launched)}


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
    errors = [line.strip() for line in processes.log_tail(process).splitlines() if ERROR_LINE.search(line)]
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


def _reap(pid: int) -> dict[int, int]:
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


def check_supervisor(settings: Settings) -> None:
    """The watchdog's side of the mutual watch: restart the supervisor if it died."""
    from stack.platform import restart_dead

    for state in restart_dead(settings, SERVICE, reason=lambda p: death_reason(p, _reap(p.pid))):
        logger.warning("restarted the supervisor (pid %s): %s", state.pid, state.last_reason)


def run_forever(settings: Settings, interval: float = INTERVAL_S) -> None:
    """Pass after pass until SIGTERM, which ends the loop between passes (never amid a restart)."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    exits: dict[int, int] = {}
    logger.info("%s of %s every %.1f s", READY_LINE, settings.home, interval)
    while not stopping.is_set():
        started = time.monotonic()
        exits = {**exits, **reap_children()}
        try:
            for state in supervise_once(settings, exits):
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
