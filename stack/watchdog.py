"""The deployments' watchdog as a platform service: one process (``bento_services.watchdog``'s
loop) that checks every running deployment every few seconds and repairs what died, and, each
pass, restarts the platform's supervisor if it died (the supervisor restarts this one).

It runs on every machine that hosts model servers, whatever else the settings replace; under
compose, the serving worker's ``reconcile_deployments`` DAG is the safety net beside it.

    python -m stack.watchdog --interval 2
"""

from __future__ import annotations

import sys

from registry import processes
from registry.processes import Process
from registry.settings import Settings
from stack import service

SERVICE = "watchdog"
PROCESS = "deployment-watchdog"


def replaced_by(settings: Settings) -> str | None:
    return None


def command() -> list[str]:
    return [sys.executable, "-m", "stack.watchdog"]


def start(settings: Settings, env: dict[str, str]) -> list[Process]:
    launched = [service.launch(settings, SERVICE, PROCESS, command(), env)]
    service.wait_until(lambda: "watching the deployments" in processes.log_tail(launched[0]), launched,
                       "the deployment watchdog", timeout=60.0)
    return launched


def relaunch(settings: Settings, env: dict[str, str], process: Process, record: dict) -> Process:
    return service.launch(settings, SERVICE, PROCESS, command(), env)


def health(settings: Settings) -> dict[str, bool]:
    launched, _ = service.recorded(settings, SERVICE)
    return {PROCESS: service.all_running(launched)}


def urls(settings: Settings) -> dict[str, str]:
    return {}


def main(argv: list[str] | None = None) -> None:
    from bento_services.watchdog import main as watch_deployments
    from registry.settings import get_settings
    from stack.supervisor import check_supervisor

    settings = get_settings()
    watch_deployments(argv, also=lambda: check_supervisor(settings))


if __name__ == "__main__":
    main()
